using System.Text;
using Azure.Storage.Blobs;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using CtMparticle.Storage.Azure;
using CtMparticle.Tests;
using CtMparticle.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CtMparticle.Functions.Tests;

/// <summary>The functions as the host calls them, wired by the app's own registration, on Azurite and a local Events API.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class FunctionTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private EventsApiServer server = null!;
    private ServiceProvider services = null!;
    private string prefix = "";

    private Dictionary<string, string?> Settings() => new()
    {
        ["Mapping:Environment"] = "production",
        ["MParticle:Inputs:0:Name"] = "acme-eu",
        ["MParticle:Inputs:0:BaseUrl"] = server.BaseUrl.ToString(),
        ["MParticle:Inputs:0:ApiKeySetting"] = "AcmeEuKey",
        ["MParticle:Inputs:0:ApiSecretSetting"] = "AcmeEuSecret",
        ["AcmeEuKey"] = "k",
        ["AcmeEuSecret"] = "s",
        ["MParticle:DefaultInput"] = "acme-eu",
        ["Storage:ConnectionString"] = azurite.ConnectionString,
        ["Storage:EventsTable"] = prefix + "events",
        ["Storage:OrdersTable"] = prefix + "orders",
        ["Storage:ConsentTable"] = prefix + "consent",
        ["Storage:QuarantineContainer"] = prefix + "-quarantine",
        ["Collector:Sources:0:Name"] = "web",
        ["Collector:Sources:0:WriteKeySetting"] = "WebWriteKey",
        ["Collector:Sources:0:AllowedOrigins:0"] = "https://shop.example.com",
        ["Collector:Sources:0:Project"] = "acme-commerce-prod",
        ["WebWriteKey"] = "web-key",
    };

    public Task InitializeAsync()
    {
        server = new EventsApiServer();
        prefix = "f" + Guid.NewGuid().ToString("N")[..10];
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Settings()).Build();
        services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration)
            .AddRelayFunctions(configuration).BuildServiceProvider();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await services.DisposeAsync();
        await server.DisposeAsync();
    }

    private static FakeFunctionContext Context(int count, int deliveryCount = 1) => new(new Dictionary<string, object?>
    {
        ["MessageIdArray"] = "[" + string.Join(',', Enumerable.Range(0, count).Select(i => $"\"sb-{i}\"")) + "]",
        ["DeliveryCountArray"] = "[" + string.Join(',', Enumerable.Repeat(deliveryCount, count)) + "]",
        ["EnqueuedTimeUtcArray"] = "[" + string.Join(',', Enumerable.Repeat("\"2026-11-27T08:00:00Z\"", count)) + "]",
    });

    [Fact]
    public async Task Ingest_BatchWithGoodAndBadMessages_CompletesAndQuarantinesTheBadOnes()
    {
        byte[][] batch =
        [
            Samples.Bytes(Samples.OrderCreatedRegistered),
            Encoding.UTF8.GetBytes("{\"truncated\": "),
            Encoding.UTF8.GetBytes("[]"),
            Samples.Bytes(Samples.CartChange),
            Samples.Bytes(Samples.OrderStateChanged),
            [0x7B, 0xFF, 0xFE, 0x7D], // not UTF-8: kept byte for byte, which a string binding could not do
        ];
        var function = ActivatorUtilities.CreateInstance<CommercetoolsIngest>(services);

        await function.Run(batch, Context(batch.Length, deliveryCount: 2), default);

        var pending = await services.GetRequiredService<IEventStore>().ReadPendingAsync(10, default);
        Assert.Equal(2, pending.Count); // the purchase and its status change
        var container = services.GetRequiredService<BlobServiceClient>().GetBlobContainerClient(prefix + "-quarantine");
        var blobs = new List<string>();
        await foreach (var blob in container.GetBlobsAsync())
        {
            blobs.Add(blob.Name);
        }

        Assert.Equal(3, blobs.Count);
        Assert.Contains(blobs, b => b.Contains("/malformed_json/", StringComparison.Ordinal));
        var notUtf8 = await container.GetBlobClient(blobs.Single(b => b.Contains("/not_utf8/", StringComparison.Ordinal))).DownloadContentAsync();
        var notUtf8Record = System.Text.Json.JsonSerializer.Deserialize(notUtf8.Value.Content.ToMemory().Span, RelayJsonContext.Default.QuarantineRecord)!;
        Assert.Equal(batch[5], Convert.FromBase64String(notUtf8Record.PayloadBase64));
        Assert.Contains(blobs, b => b.Contains("/not_an_object/", StringComparison.Ordinal));
        var record = System.Text.Json.JsonSerializer.Deserialize(
            (await container.GetBlobClient(blobs.Single(b => b.Contains("malformed", StringComparison.Ordinal))).DownloadContentAsync()).Value.Content.ToMemory().Span,
            RelayJsonContext.Default.QuarantineRecord)!;
        Assert.Equal("sb-1", record.Source.ServiceBusMessageId);
        Assert.Equal(2, record.Source.DeliveryCount);
        Assert.Equal(new DateTimeOffset(2026, 11, 27, 8, 0, 0, TimeSpan.Zero), record.Source.EnqueuedAt);
        Assert.Equal("{\"truncated\": ", Encoding.UTF8.GetString(Convert.FromBase64String(record.PayloadBase64)));
    }

    [Fact]
    public async Task Ingest_ALargeBatch_WritesBehind_ReadsItsOwnWrites_AndStoresEachEventOnce_RedeliveredToo()
    {
        // Every sample twice (a redelivered copy of each), in one batch, written behind: the status
        // change, the return and the refund find the order context their purchase stored earlier in the same batch.
        // Then the whole batch again, as Service Bus redelivers a batch whose completion was lost.
        byte[][] batch =
        [
            .. Samples.All.Select(Samples.Bytes),
            Encoding.UTF8.GetBytes("{\"truncated\": "),
            [0x7B, 0xFF, 0xFE, 0x7D],
            .. Samples.All.Select(Samples.Bytes),
        ];
        var function = ActivatorUtilities.CreateInstance<CommercetoolsIngest>(services);

        await function.Run(batch, Context(batch.Length), default);
        await function.Run(batch, Context(batch.Length, deliveryCount: 2), default);

        var pending = await services.GetRequiredService<IEventStore>().ReadPendingAsync(100, default);
        Assert.Equal(8, pending.Count); // as IngestPipelineTests finds ingesting them one by one, in order
        Assert.Equal(8, pending.Select(p => p.EventId).Distinct().Count());
        Assert.Null(services.GetRequiredService<TableWriteBehind>().Current);
        var quarantined = new List<string>();
        await foreach (var blob in services.GetRequiredService<BlobServiceClient>().GetBlobContainerClient(prefix + "-quarantine").GetBlobsAsync())
        {
            quarantined.Add(blob.Name);
        }

        // The two bad bodies, and the sample whose payload was not included (each once, however often delivered).
        Assert.Equal(3, quarantined.Count);
        Assert.Contains(quarantined, b => b.Contains("/malformed_json/", StringComparison.Ordinal));
        Assert.Contains(quarantined, b => b.Contains("/not_utf8/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ingest_WithoutBindingData_StillProcessesTheBatch()
    {
        var function = ActivatorUtilities.CreateInstance<CommercetoolsIngest>(services);

        await function.Run([Samples.Bytes(Samples.OrderCreatedRegistered)], new FakeFunctionContext(new Dictionary<string, object?>()), default);

        Assert.Single(await services.GetRequiredService<IEventStore>().ReadPendingAsync(10, default));
    }

    [Fact]
    public async Task Ingest_StorageUnreachable_ThrowsSoTheBatchIsRedelivered()
    {
        var settings = Settings();
        settings["Storage:ConnectionString"] = azurite.ConnectionString.Replace("TableEndpoint=http://127.0.0.1:", "TableEndpoint=http://127.0.0.1:1", StringComparison.Ordinal);
        settings["Storage:EventsTable"] = "unreachable";
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

        await using var broken = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration)
            .AddRelayFunctions(configuration).BuildServiceProvider();

        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            var function = ActivatorUtilities.CreateInstance<CommercetoolsIngest>(broken);
            await function.Run([Samples.Bytes(Samples.OrderCreatedRegistered)], Context(1), CancellationToken.None);
        });
    }

    [Fact]
    public async Task Start_UpgradesTheStorageLayout_AndStorageWrittenWithAnotherPartitionCountStopsTheHost()
    {
        var check = Assert.Single(services.GetServices<IHostedService>(), s => s.GetType().Name == "StoreLayoutCheck");
        await check.StartAsync(default); // first start: records the count, and moves what older layouts left (nothing here), in the background
        await ((StoreLayoutCheck)check).Upgrading;
        Assert.Equal("beside-links", await services.GetRequiredService<ICheckpointStore>().GetAsync("layout:consent", default));

        await services.GetRequiredService<ICheckpointStore>().SetAsync(StoreLayout.CheckpointName, "64", default);
        var ex = await Assert.ThrowsAsync<StoreLayoutException>(() => check.StartAsync(default));

        Assert.Contains("Set Relay:Partitions back to 64", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Collect_SegmentCallsOverTheHttpTrigger_AreStoredThenPushed_AndRefusalsAnswered()
    {
        var function = ActivatorUtilities.CreateInstance<CollectEvents>(services);
        var auth = ("Authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("web-key:")));
        var call = """{"userId":"c-fn-1","event":"Product Viewed","messageId":"fn-1","properties":{"sku":"S-1","price":5,"currency":"EUR"},"context":{"consent":{"categoryPreferences":{"analytics":true}}}}""";

        async Task<(int Status, string Body, TestHttpResponse Response)> Send(string method, string path, string body, params (string, string)[] headers)
        {
            var response = (TestHttpResponse)await function.Run(
                new TestHttpRequest(new FakeFunctionContext(new Dictionary<string, object?>()), method, "https://relay.example.com/api/v1/" + path, Encoding.UTF8.GetBytes(body), headers),
                path, default);
            return ((int)response.StatusCode, Encoding.UTF8.GetString(((MemoryStream)response.Body).ToArray()), response);
        }

        var accepted = await Send("POST", "track", call, auth);
        var retried = await Send("POST", "track", call, auth);
        var unauthenticated = await Send("POST", "track", call);
        var invalid = await Send("POST", "track", """{"userId":"c-fn-1"}""", auth);
        var preflight = await Send("OPTIONS", "track", "", ("Origin", "https://shop.example.com"));
        await ActivatorUtilities.CreateInstance<PushToMParticle>(services).Run(new Microsoft.Azure.Functions.Worker.TimerInfo(), default);

        Assert.Equal(200, accepted.Status);
        Assert.Contains("\"success\":true", accepted.Body, StringComparison.Ordinal);
        Assert.Equal(200, retried.Status);
        Assert.Equal(401, unauthenticated.Status);
        Assert.Equal(400, invalid.Status);
        Assert.Equal(204, preflight.Status);
        Assert.Equal("https://shop.example.com", preflight.Response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        var sent = Assert.Single(server.Received).Batches.Single()!["events"]!.AsArray().Single()!;
        Assert.Equal("view_detail", (string?)sent["data"]!["product_action"]!["action"]);
        var quarantined = new BlobContainerClient(azurite.ConnectionString, prefix + "-quarantine").GetBlobs().Select(b => b.Name).ToArray();
        Assert.Contains(quarantined, name => name.Contains("/missing_field/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Collect_StorefrontCopyOfAPurchaseCommercetoolsStored_IsMergedIntoIt_ThoughItsRequestIsWrittenBehind()
    {
        // commercetools' message stores the purchase; the storefront's copy comes through the collector, whose request
        // is written behind: the batch takes the copy's event as new, its flush finds it stored by another message,
        // and the call is settled again, which merges the client's identifiers into the stored purchase.
        await ActivatorUtilities.CreateInstance<CommercetoolsIngest>(services).Run([Samples.Bytes(Samples.OrderCreatedRegistered)], Context(1), default);
        var storefront = """{"type":"track","event":"Order Completed","userId":"7d2a9c41-5e8b-4f13-a6d0-3c9e1b7f2a58","anonymousId":"anon-merge","messageId":"sf-order-01","properties":{"order_id":"b5f3c2a8-6d1e-4f0b-9a7c-2e8d4c1f9a30","total":99,"currency":"EUR","products":[{"sku":"X","price":99}]},"context":{"sessionId":"s-merge","consent":{"categoryPreferences":{"analytics":true}}}}""";
        var response = (TestHttpResponse)await ActivatorUtilities.CreateInstance<CollectEvents>(services).Run(
            new TestHttpRequest(new FakeFunctionContext(new Dictionary<string, object?>()), "POST", "https://relay.example.com/api/v1/track", Encoding.UTF8.GetBytes(storefront),
                ("Authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("web-key:")))),
            "track", default);
        await ActivatorUtilities.CreateInstance<PushToMParticle>(services).Run(new Microsoft.Azure.Functions.Worker.TimerInfo(), default);

        Assert.Equal(200, (int)response.StatusCode);
        var batch = Assert.Single(Assert.Single(server.Received).Batches)!;
        var purchase = Assert.Single(batch["events"]!.AsArray())!["data"]!;
        Assert.Equal("f34de537-8370-59c1-86b4-95bd3324b55b", (string?)purchase["source_message_id"]); // one purchase
        Assert.Equal(90.42m, (decimal)purchase["product_action"]!["total_amount"]!);                   // commercetools' amounts
        Assert.Equal("anon-merge", (string?)batch["user_identities"]!["other"]);                      // the client's anonymous id
    }

    [Fact]
    public async Task Push_TimerRun_SendsWhatIngestStored()
    {
        var ingest = ActivatorUtilities.CreateInstance<CommercetoolsIngest>(services);
        await ingest.Run([Samples.Bytes(Samples.OrderCreatedRegistered)], Context(1), default);

        await ActivatorUtilities.CreateInstance<PushToMParticle>(services).Run(new Microsoft.Azure.Functions.Worker.TimerInfo(), default);

        Assert.Equal(["f34de537-8370-59c1-86b4-95bd3324b55b"], Assert.Single(server.Received).SourceMessageIds);
    }

    [Fact]
    public async Task Retention_TimerRun_KeepsRecentDedupeRecords()
    {
        var ingest = ActivatorUtilities.CreateInstance<CommercetoolsIngest>(services);
        var body = Samples.Bytes(Samples.OrderCreatedRegistered);
        await ingest.Run([body], Context(1), default);

        await ActivatorUtilities.CreateInstance<DedupeRetention>(services).Run(new Microsoft.Azure.Functions.Worker.TimerInfo(), default);

        // Still remembered (30 days by default): a second subscription's copy is a duplicate.
        var copy = Samples.Json(Samples.OrderCreatedRegistered);
        copy["id"] = "12121212-3434-4565-8787-909090909090";
        var outcome = await services.GetRequiredService<IngestPipeline>().IngestAsync(new Inbound(Samples.Bytes(copy)), default);
        Assert.Equal(IngestOutcomeKind.Duplicate, outcome.Kind);
    }

    [Theory]
    [InlineData("Mapping:Environment", "staging", "Mapping:Environment")]
    [InlineData("Push:MaxBatchesPerRequest", "500", "MaxBatchesPerRequest")]
    [InlineData("Storage:EventsTable", "no_underscores", "table names")]
    [InlineData("Relay:ConsentRulesPath", "config/missing.json", "does not exist")]
    [InlineData("Relay:IdentityRulesPath", "config/missing.json", "Relay:IdentityRulesPath points to")]
    [InlineData("Relay:IdentityRulesPath", "Fixtures/identity-rules-unknown-regime.json", "pairing 'ads' names regime 'lgpd'")]
    [InlineData("MParticle:DefaultInput", "nowhere", "MParticle:DefaultInput")]
    [InlineData("Governance:PoliciesPath", "config/plans/missing.json", "does not exist")]
    [InlineData("Mapping:DataPlan:PlanVersion", "7", "active plan")]
    public async Task Host_BadSetting_StopsTheHostAtStartWithTheSettingNamed(string key, string value, string expected)
    {
        var settings = Settings();
        settings[key] = value;
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddRelayFunctions(builder.Configuration);
        using var host = builder.Build();

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        // One bad setting may be reported by several validators: the host then aggregates them.
        var failures = (ex is AggregateException many ? many.Flatten().InnerExceptions : [ex]).OfType<OptionsValidationException>().SelectMany(e => e.Failures).ToArray();
        Assert.NotEmpty(failures);
        Assert.Contains(expected, string.Join(" | ", failures), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Host_GoodSettings_Starts()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(Settings());
        builder.Services.AddRelayFunctions(builder.Configuration);
        using var host = builder.Build();

        await host.StartAsync();
        await host.StopAsync();
    }
}
