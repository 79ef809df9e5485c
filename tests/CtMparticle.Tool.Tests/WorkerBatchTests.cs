using CtMparticle.Embedded;
using CtMparticle.Tests.Infrastructure;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// <c>ctmp worker</c> settles each Service Bus receive as one unit before completing its messages
/// (<see cref="RelayRunner.SettleBatchAsync"/>), as the function app does. Every input must end as it does settled
/// one by one, and a batch that fails must leave nothing of itself stored or counted, for its redelivery.
/// The receive loop around it is exercised by <see cref="WorkerReceiveTests"/>.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class WorkerBatchTests(AzuriteFixture azurite) : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-worker-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    /// <summary>A generated corpus (seed 13) as Service Bus messages' bodies, each message id its line number.</summary>
    internal static List<InputItem> Corpus(int count)
    {
        using var corpus = new MemoryStream();
        new CorpusGenerator(13).Write(corpus, count);
        return [.. System.Text.Encoding.UTF8.GetString(corpus.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select((line, i) => new InputItem($"servicebus:{i}", System.Text.Encoding.UTF8.GetBytes(line)))];
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("log")]
    public async Task OnTheEmbeddedStore_ABatchEndsEachInputAsOneByOne_InOneTransaction(string format)
    {
        var inputs = Corpus(600);
        var (oneByOne, oneByOneLedger) = await SettleAsync("one-by-one", inputs, batch: 0, format);
        var (batched, batchedLedger) = await SettleAsync("batched", inputs, batch: 100, format);

        Assert.Equal(600, oneByOne.Inputs);
        Assert.Equal(oneByOne.Outcomes, batched.Outcomes);
        Assert.Equal((oneByOne.Inputs, oneByOne.EventsStored, oneByOne.Redelivered), (batched.Inputs, batched.EventsStored, batched.Redelivered));
        Assert.Equal(oneByOneLedger, batchedLedger); // every input's outcome and its events' fates, in order
        Assert.Contains(oneByOne.Outcomes.Keys, key => key.StartsWith("quarantined", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("log")]
    public async Task OnTheEmbeddedStore_ABatchThatFails_LeavesNothingStoredOrCounted_AndComesAgainWhole(string format)
    {
        var newStore = Enum.Parse<StoreFormat>(format, ignoreCase: true);
        var samples = Path.Combine(AppContext.BaseDirectory, "Fixtures", "commercetools");
        var batch = new[] { "01-order-created-registered-with-discount.json", "08-order-created-payload-not-included.json", "05-customer-created.json" }
            .Select(name => new InputItem("servicebus:" + name, File.ReadAllBytes(Path.Combine(samples, name)))).ToList();
        var store = new DirectoryInfo(Path.Combine(work, "failing", "store"));
        var summary = new RelaySummary();
        using (Unreachable())
        {
            await using var host = RunnerHost.Create(new RunnerOptions(null, store, new DirectoryInfo(Path.Combine(work, "failing", "out")), NewStoreFormat: newStore));
            var runner = new RelayRunner(host, TextWriter.Null, TimeProvider.System);

            // The second message needs commercetools, which does not answer: a transient failure, after the first was stored.
            await Assert.ThrowsAnyAsync<Exception>(() => runner.SettleBatchAsync(batch, summary, default));

            Assert.Equal(0, summary.Inputs);
            Assert.Empty(summary.Outcomes);
            Assert.Empty(await host.Embedded!.LedgerAsync(default));
            Assert.Equal(0, (await host.Events.PendingStatsAsync(default)).Count); // the order before it is not stored either
        }

        // Delivered again once commercetools is not needed (here: not configured, so the fetch is quarantined), it settles whole.
        await using var again = RunnerHost.Create(new RunnerOptions(null, store, new DirectoryInfo(Path.Combine(work, "failing", "out"))));
        Assert.Equal(newStore, EmbeddedStore.FormatIn(store.FullName));
        await new RelayRunner(again, TextWriter.Null, TimeProvider.System).SettleBatchAsync(batch, summary, default);
        Assert.Equal(3, summary.Inputs);
        Assert.Equal(["accepted", "accepted", "quarantined"], (await again.Embedded!.LedgerAsync(default)).Select(r => r.Outcome).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task OnAzureTables_ABatchIsWrittenBehind_AndEndsEachInputAsOneByOne()
    {
        var inputs = Corpus(300);
        var oneByOne = await SettleOnAzureAsync("t" + Guid.NewGuid().ToString("N")[..10], inputs, batch: 0);
        var batched = await SettleOnAzureAsync("t" + Guid.NewGuid().ToString("N")[..10], inputs, batch: 100);

        Assert.Equal(300, oneByOne.Summary.Inputs);
        Assert.Equal(oneByOne.Summary.Outcomes, batched.Summary.Outcomes);
        Assert.Equal(oneByOne.Summary.EventsStored, batched.Summary.EventsStored);
        Assert.Equal(oneByOne.Pending, batched.Pending);
        Assert.True(oneByOne.Pending > 0);
    }

    /// <summary>Settles the inputs one by one (<paramref name="batch"/> 0) or in batches, on a fresh embedded store.</summary>
    private async Task<(RelaySummary Summary, IReadOnlyList<LedgerRow> Ledger)> SettleAsync(string name, List<InputItem> inputs, int batch, string format)
    {
        await using var host = RunnerHost.Create(new RunnerOptions(null, new DirectoryInfo(Path.Combine(work, name, "store")), new DirectoryInfo(Path.Combine(work, name, "out")),
            NewStoreFormat: Enum.Parse<StoreFormat>(format, ignoreCase: true)));
        var summary = await SettleWithAsync(host, inputs, batch);
        return (summary, await host.Embedded!.LedgerAsync(default));
    }

    private async Task<(RelaySummary Summary, long Pending)> SettleOnAzureAsync(string tables, List<InputItem> inputs, int batch)
    {
        RunnerHost host;
        using (CtmpAzureReplayTests.AzureSettings(azurite, tables)) // read when the host is built
        {
            host = RunnerHost.Create(new RunnerOptions(null, new DirectoryInfo(Path.Combine(work, tables)), new DirectoryInfo(Path.Combine(work, tables + "-out")), AzureStorage: true));
        }

        await using (host)
        {
            var summary = await SettleWithAsync(host, inputs, batch);
            return (summary, (await host.Events.PendingStatsAsync(default)).Count);
        }
    }

    private static async Task<RelaySummary> SettleWithAsync(RunnerHost host, List<InputItem> inputs, int batch)
    {
        var runner = new RelayRunner(host, TextWriter.Null, TimeProvider.System);
        var summary = new RelaySummary();
        foreach (var chunk in inputs.Chunk(batch > 0 ? batch : 1))
        {
            if (batch == 0)
            {
                await runner.IngestOneAsync(chunk[0], summary, default);
            }
            else
            {
                await runner.SettleBatchAsync(chunk, summary, default);
            }
        }

        return summary;
    }

    private static CtmpAzureReplayTests.EnvironmentScope Unreachable() => new(CtmpCommandTests.UnreachableCommercetools);
}
