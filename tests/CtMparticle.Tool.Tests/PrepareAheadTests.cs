using CtMparticle.Embedded;
using CtMparticle.Tracking;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// <c>ctmp relay</c> prepares inputs on a thread of its own while it settles earlier ones: the outcomes, the request
/// bodies and the quarantine must be exactly those of a run that prepares each input only when its turn comes.
/// </summary>
public sealed class PrepareAheadTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-ahead-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    [Fact]
    public async Task PreparingAhead_GivesTheOutcomesRequestsAndQuarantineOfOneInputAtATime_OnAnOutOfOrderCorpus()
    {
        // Out of order within windows of 50: follow-ups next to (or before) the orders whose context they need.
        var corpus = Path.Combine(work, "corpus.ndjson");
        Assert.Equal(0, (await CtmpCommandTests.RunAsync("generate", "--count", "3000", "--out", corpus, "--seed", "5", "--disorder", "50")).Exit);

        var sequential = await RelayAsync("sequential", prepareAhead: 0, corpus);
        var ahead = await RelayAsync("ahead", prepareAhead: RelayRunner.DefaultPrepareAhead, corpus);

        Assert.Equal(3000, sequential.Ledger.Count);
        Assert.Equal(sequential.Ledger, ahead.Ledger);                     // every input's outcome and reason, in order
        Assert.Equal(sequential.Requests.Keys, ahead.Requests.Keys);       // the same requests
        Assert.All(sequential.Requests, r => Assert.Equal(r.Value, ahead.Requests[r.Key])); // byte for byte
        Assert.Equal(sequential.Quarantined, ahead.Quarantined);
        Assert.Contains(sequential.Ledger, row => row.Outcome == "accepted");
        Assert.Contains(sequential.Ledger, row => row.Reason == "order_context_missing"); // the disorder matters to the outcome

        // What the watch keeps is bounded by the prepares ahead (an order and its payments each), not by the run.
        Assert.Equal(0, sequential.Watched);
        Assert.InRange(ahead.Watched, 0, RelayRunner.DefaultPrepareAhead * 4);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(RelayRunner.DefaultPrepareAhead)]
    public async Task AnInputThatCannotBeRead_EndsTheRunWithItsOwnError_WhetherPreparedAheadOrNot(int prepareAhead)
    {
        var corpus = Path.Combine(work, "corpus.ndjson");
        Assert.Equal(0, (await CtmpCommandTests.RunAsync("generate", "--count", "40", "--out", corpus, "--seed", "5")).Exit);
        static IEnumerable<InputItem> FailingAfter(IEnumerable<InputItem> inputs, int count)
        {
            foreach (var input in inputs.Take(count))
            {
                yield return input;
            }

            throw new IOException("the disk failed while reading the inputs");
        }

        var store = new DirectoryInfo(Path.Combine(work, $"failing-{prepareAhead}", "store"));
        await using var host = RunnerHost.Create(new RunnerOptions(null, store, new DirectoryInfo(Path.Combine(work, $"failing-{prepareAhead}", "out"))));
        var runner = new RelayRunner(host, TextWriter.Null, TimeProvider.System) { PrepareAhead = prepareAhead };

        // The reading thread's failure reaches the caller as itself (not wrapped in the channel's ChannelClosedException),
        // as it does when the loop reads the inputs on its own.
        var failure = await Assert.ThrowsAsync<IOException>(() => runner.RunAsync(FailingAfter(InputFiles.Read([corpus]), 20), showProgress: false, default));
        Assert.Equal("the disk failed while reading the inputs", failure.Message);
    }

    [Fact]
    public async Task TheWatch_TellsAPrepareThatAnOrderItReadOrMissedWasSavedSinceItBegan()
    {
        await using var store = SqliteStore.Open(Path.Combine(work, "state.db"), TimeProvider.System, 16);
        var watch = new OrderContextWatch(store);
        var before = await Task.Run(async () =>
        {
            var reads = watch.Watch();
            Assert.Null(await watch.FindByOrderAsync("o-1", default));
            Assert.Null(await watch.FindByPaymentAsync("p-9", default));
            return reads;
        });
        var unrelated = await Task.Run(async () =>
        {
            var reads = watch.Watch();
            await watch.FindByOrderAsync("o-2", default);
            return reads;
        });

        await watch.SaveAsync(Order("o-1", "p-9"), default);
        var after = await Task.Run(async () =>
        {
            var reads = watch.Watch();
            Assert.NotNull(await watch.FindByPaymentAsync("p-9", default));
            return reads;
        });

        Assert.True(watch.Changed(before));     // it missed an order saved since: prepare it again
        Assert.False(watch.Changed(unrelated)); // another order: its prepare stands
        Assert.False(watch.Changed(after));     // it read the saved context
        Assert.NotNull(await watch.FindByOrderAsync("o-1", default)); // outside a prepare nothing is recorded, reads pass through
    }

    private async Task<(List<(string Outcome, string? Reason)> Ledger, SortedDictionary<string, byte[]> Requests, List<string> Quarantined, int Watched)> RelayAsync(
        string name, int prepareAhead, string corpus)
    {
        var store = new DirectoryInfo(Path.Combine(work, name, "store"));
        var output = new DirectoryInfo(Path.Combine(work, name, "out"));
        await using (var host = RunnerHost.Create(new RunnerOptions(null, store, output)))
        {
            var summary = await new RelayRunner(host, TextWriter.Null, TimeProvider.System) { PrepareAhead = prepareAhead }
                .RunAsync(InputFiles.Read([corpus]), showProgress: false, default);
            Assert.Null(summary.Interrupted);
            var ledger = (await host.Embedded!.LedgerAsync(default)).Select(r => (r.Outcome, r.Reason)).ToList();
            // By input and content id, without the number the dry run gives each file as it is written: requests awaiting
            // their answers at once (Push:MaxRequestsInFlight, never two of one user) are written in either order.
            var requests = new SortedDictionary<string, byte[]>(Directory.GetFiles(output.FullName).ToDictionary(
                f => Path.GetFileName(f)[(Path.GetFileName(f).IndexOf('-', StringComparison.Ordinal) + 1)..], File.ReadAllBytes), StringComparer.Ordinal);
            var quarantined = Directory.GetFiles(Path.Combine(store.FullName, "quarantine"), "*.json", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(Path.Combine(store.FullName, "quarantine"), f)[11..]) // without the yyyy/MM/dd of the day it ran
                .Order(StringComparer.Ordinal).ToList();
            return (ledger, requests, quarantined, host.Get<OrderContextWatch>().Held);
        }
    }

    private static OrderContext Order(string orderId, string paymentId) =>
        new(null, orderId, null, "acme-de", "EUR", "de-DE", new UserIds("c-1"), null, null, [paymentId], new Dictionary<string, ProductLine>(), null);
}
