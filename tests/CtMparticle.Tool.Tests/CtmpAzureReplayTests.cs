using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using CtMparticle.Storage;
using CtMparticle.Tests.Infrastructure;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// <c>--azure</c>: the function app's quarantine container and tables, on Azurite (<c>ctmp quarantine replay</c>,
/// <c>ctmp identity show / explain / unlink</c>).
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class CtmpAzureReplayTests(AzuriteFixture azurite) : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-azure-").FullName;
    private readonly string prefix = "t" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public Task Replay_Azure_ResolvesWhatNowMapsAndLeavesTheRestInTheContainer() => ReplayAsync(Ctmp);

    /// <summary>The native build binds the same settings and reads and writes Azure Tables and Blobs as the JIT build does.</summary>
    [NativeFact]
    public Task Replay_Azure_NativeBuild_ResolvesWhatNowMapsAndLeavesTheRestInTheContainer() => ReplayAsync(Native);

    [Fact]
    public Task Identity_Azure_ShowsExplainsAndUnlinksTheFunctionAppsLinks() => IdentityAsync(Ctmp);

    [NativeFact]
    public Task Identity_Azure_NativeBuild_ShowsExplainsAndUnlinksTheFunctionAppsLinks() => IdentityAsync(Native);

    private async Task ReplayAsync(Func<string[], Task<(int Exit, string Stdout)>> ctmp)
    {
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(prefix + "-quarantine");
        await container.CreateIfNotExistsAsync();
        var signUp = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "commercetools", "05-customer-created.json"));
        var resolvable = Record(signUp, "9e4a1c7d-2b6f-4d83-a5e0-8c3b1f9d6a27", "map", "order_context_missing");
        var broken = Record("{\"not\": "u8.ToArray(), null, "decode", "malformed_json");
        foreach (var record in new[] { resolvable, broken })
        {
            await container.UploadBlobAsync(record.Path, BinaryData.FromObjectAsJson(record, RelayJsonContext.Default.QuarantineRecord.Options));
        }

        using (AzureSettings(azurite, prefix))
        {
            var output = Path.Combine(work, "out");
            var (exit, stdout) = await ctmp(["quarantine", "replay", "--all", "--azure", "--dry-run", "--out", output, "--store", Path.Combine(work, "store")]);

            Assert.Equal(0, exit);
            Assert.Contains("1 resolved, 1 still quarantined", stdout, StringComparison.Ordinal);
            var left = new List<string>();
            await foreach (var blob in container.GetBlobsAsync())
            {
                left.Add(blob.Name);
            }

            Assert.Contains(broken.Path, left);          // still there, for a person to look at
            Assert.DoesNotContain(resolvable.Path, left); // resolved: it left the quarantine
            var sent = Directory.GetFiles(output).SelectMany(f => JsonNode.Parse(File.ReadAllText(f))!.AsArray())
                .SelectMany(b => b!["events"]!.AsArray()).Select(e => (string?)e!["data"]!["event_name"]).ToArray();
            Assert.Contains("Signed Up", sent);
        }
    }

    private async Task IdentityAsync(Func<string[], Task<(int Exit, string Stdout)>> ctmp)
    {
        var table = new Azure.Data.Tables.TableClient(azurite.ConnectionString, prefix + "links");
        await table.CreateIfNotExistsAsync();
        var links = new CtMparticle.Storage.Azure.TableIdentityLinkStore(table, Microsoft.Extensions.Options.Options.Create(new CtMparticle.Configuration.RelayOptions()));
        var at = new DateTimeOffset(2026, 12, 2, 9, 0, 0, TimeSpan.Zero);
        var eventId = Guid.NewGuid();
        await links.RecordAsync(new IdentityLink("c-azure", "anonymous_id", "a-azure", eventId, at, at, LinkState.Active, "2026-12-02.2"), default);
        await links.SaveDecisionsAsync([new IdentityDecision(eventId, "Signed In", at, "2026-12-02.2", "gdpr-opt-in",
            [new IdentityChoice("customer_id", "c-azure", true, "the event's own customer id")])], default);
        using (AzureSettings(azurite, prefix))
        {
            var store = Path.Combine(work, "no-store-here");
            var (shown, show) = await ctmp(["identity", "show", "a-azure", "--azure", "--store", store]);
            var (explained, explain) = await ctmp(["identity", "explain", eventId.ToString(), "--azure", "--store", store]);
            var (unlinked, _) = await ctmp(["identity", "unlink", "c-azure", "a-azure", "--azure", "--store", store]);
            var (embedded, _) = await ctmp(["identity", "show", "a-azure", "--store", store]); // without --azure: the embedded store, which is not there

            Assert.Equal((0, 0, 0), (shown, explained, unlinked));
            Assert.Contains("customer c-azure  anonymous_id a-azure  active", show, StringComparison.Ordinal);
            Assert.Contains("sent      customer_id c-azure  the event's own customer id", explain, StringComparison.Ordinal);
            Assert.Equal(LinkState.Revoked, Assert.Single(await links.ByIdentifierAsync("anonymous_id", "a-azure", default)).State);
            Assert.Equal(2, embedded); // usage: no store at that path
        }
    }

    /// <summary>
    /// Before a rollback, <c>ctmp store downgrade --azure</c> moves users' consent back into the consent table, where
    /// versions before the move read it. Other <c>--azure</c> commands move nothing: they may inspect a store an older
    /// function app still runs on.
    /// </summary>
    [Fact]
    public Task StoreDowngrade_Azure_MovesConsentBackWhereOlderVersionsReadIt_AndOtherCommandsMoveNothing() => DowngradeAsync(Ctmp);

    [NativeFact]
    public Task StoreDowngrade_Azure_NativeBuild_MovesConsentBackWhereOlderVersionsReadIt() => DowngradeAsync(Native);

    private async Task DowngradeAsync(Func<string[], Task<(int Exit, string Stdout)>> ctmp)
    {
        var consentTable = new Azure.Data.Tables.TableClient(azurite.ConnectionString, prefix + "consent");
        var linksTable = new Azure.Data.Tables.TableClient(azurite.ConnectionString, prefix + "links");
        await consentTable.CreateIfNotExistsAsync();
        await linksTable.CreateIfNotExistsAsync();
        var store = new CtMparticle.Storage.Azure.TableConsentStore(consentTable, linksTable,
            Microsoft.Extensions.Options.Options.Create(new CtMparticle.Configuration.RelayOptions()), TimeProvider.System);
        var refusal = new CtMparticle.Tracking.ConsentSnapshot(new Dictionary<string, CtMparticle.Tracking.ConsentPurpose>
        {
            ["analytics"] = new(false, new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero)),
        });
        await store.MergeAsync("customer:c-rollback", refusal, new CtMparticle.Consent.StatedRegion(new CtMparticle.Tracking.Region("DE"), refusal.Gdpr["analytics"].At), default); // beside the links, as this version keeps it

        async Task<List<Azure.Data.Tables.TableEntity>> RowsAsync(Azure.Data.Tables.TableClient table) =>
            await table.QueryAsync<Azure.Data.Tables.TableEntity>(e => e.PartitionKey != "checkpoint").ToListAsync();

        using (AzureSettings(azurite, prefix))
        {
            var path = Path.Combine(work, "no-store-here");
            var (shown, _) = await ctmp(["identity", "show", "c-rollback", "--azure", "--store", path]);
            var besideAfterShow = (await RowsAsync(linksTable)).Count;
            var (refused, _) = await ctmp(["store", "downgrade", "--store", path]);
            var (exit, stdout) = await ctmp(["store", "downgrade", "--azure", "--store", path]);

            Assert.Equal((0, 1), (shown, besideAfterShow));
            Assert.Equal((2, 0), (refused, exit));
            Assert.Contains("1 record(s) moved back", stdout, StringComparison.Ordinal);
            var back = Assert.Single(await RowsAsync(consentTable));
            Assert.Equal("customer:c-rollback", CtMparticle.Storage.Azure.RowKeys.Decode(back.RowKey));
            Assert.Contains("\"consented\":false", back.GetString("Consent"), StringComparison.Ordinal);
            Assert.Equal("DE", back.GetString("Country"));
            Assert.Empty(await RowsAsync(linksTable));
        }
    }

    /// <summary>The function app's storage settings for ctmp's --azure, on this test's tables and container, until disposed.</summary>
    /// <summary>The CTMP_Storage__* settings that point ctmp at Azurite, with table and container names unique to a test.</summary>
    internal static EnvironmentScope AzureSettings(AzuriteFixture azurite, string prefix) => new(new Dictionary<string, string>
    {
        ["CTMP_Storage__ConnectionString"] = azurite.ConnectionString,
        ["CTMP_Storage__EventsTable"] = prefix + "events",
        ["CTMP_Storage__OrdersTable"] = prefix + "orders",
        ["CTMP_Storage__ConsentTable"] = prefix + "consent",
        ["CTMP_Storage__LinksTable"] = prefix + "links",
        ["CTMP_Storage__QuarantineContainer"] = prefix + "-quarantine",
    });

    /// <summary>Environment variables set for a scope (ctmp reads CTMP_* settings from the environment) and cleared after.</summary>
    internal sealed class EnvironmentScope : IDisposable
    {
        private readonly IReadOnlyCollection<string> names;

        public EnvironmentScope(IReadOnlyDictionary<string, string> variables)
        {
            names = [.. variables.Keys];
            foreach (var (name, value) in variables)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }

        public void Dispose()
        {
            foreach (var name in names)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
        }
    }

    private static QuarantineRecord Record(byte[] payload, string? messageId, string stage, string reason) => new(
        [reason], "quarantined for the test", [],
        new QuarantineSource(messageId, null, null, null, null, null, null, TimeProvider.System.GetUtcNow(), "Platform"),
        Convert.ToBase64String(payload), "0.1.0", stage);

    private static async Task<(int Exit, string Stdout)> Native(string[] args)
    {
        var (exit, stdout, _) = await NativeCtmp.RunAsync(args);
        return (exit, stdout);
    }

    private static async Task<(int Exit, string Stdout)> Ctmp(params string[] args)
    {
        var stdout = new StringWriter();
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        Console.SetOut(stdout);
        Console.SetError(new StringWriter());
        try
        {
            return (await Commands.Root().Parse(args).InvokeAsync(), stdout.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    public void Dispose() => Directory.Delete(work, recursive: true);
}
