using CtMparticle.Embedded;
using Microsoft.Extensions.Time.Testing;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// <c>ctmp worker</c>'s receive loop (<see cref="WorkerCommand.ReceiveAsync"/>) against a queue with Service Bus's
/// peek-lock contract (<see cref="InMemoryServiceBusQueue"/>), on a real embedded store: each message is stored once
/// and completed only after its outcome is; a message that cannot be settled now is abandoned alone; a lost lock
/// makes a redelivery, counted as one; a failed receive is tried again.
/// </summary>
public sealed class WorkerReceiveTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-receive-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    private static readonly string Samples = Path.Combine(AppContext.BaseDirectory, "Fixtures", "commercetools");

    [Fact]
    public async Task EveryMessage_IsStoredOnceAndCompleted_InReceivesOfAtMostTheBatch()
    {
        var inputs = WorkerBatchTests.Corpus(600);
        var queue = Queue(inputs, TimeProvider.System);
        await using var host = Host("worker");
        var summary = new RelaySummary();

        var errors = await RunUntilAsync(queue, host, summary, batch: 100, TimeProvider.System, () => queue.Drained);

        Assert.Equal("", errors);
        Assert.Equal(inputs.Select(i => i.Source), queue.Completed.Select(id => "servicebus:" + id)); // each once, in order
        Assert.Empty(queue.DeadLettered);
        Assert.Equal(100, queue.LargestReceive);
        Assert.Equal(600, (await host.Embedded!.LedgerAsync(default)).Count);
        var oneByOne = await SettleOneByOneAsync("reference", inputs); // the corpus redelivers some of its own messages
        Assert.Equal(oneByOne.Outcomes, summary.Outcomes);
        Assert.Equal((oneByOne.EventsStored, oneByOne.Redelivered), (summary.EventsStored, summary.Redelivered));
    }

    [Fact]
    public async Task AMessageThatCannotBeSettledNow_IsAbandonedAlone_ItsBatchMatesAreStoredAndCompleted()
    {
        // 08 carries no order: its fetch needs commercetools, which does not answer. 01 and 05 need nothing else.
        var names = new[] { "01-order-created-registered-with-discount.json", "08-order-created-payload-not-included.json", "05-customer-created.json" };
        var queue = new InMemoryServiceBusQueue(TimeProvider.System) { MaxDeliveryCount = 3 };
        foreach (var name in names)
        {
            queue.Send(name, File.ReadAllBytes(Path.Combine(Samples, name)));
        }

        RunnerHost host;
        using (new CtmpAzureReplayTests.EnvironmentScope(CtmpCommandTests.UnreachableCommercetools)) // read when the host is built
        {
            host = Host("unreachable");
        }

        await using (host)
        {
            var summary = new RelaySummary();
            var errors = await RunUntilAsync(queue, host, summary, batch: 10, TimeProvider.System, () => queue.Drained);

            Assert.Equal([names[0], names[2]], queue.Completed);
            Assert.Equal([names[1]], queue.DeadLettered); // abandoned alone at each delivery, until Service Bus gave up on it
            var ledger = await host.Embedded!.LedgerAsync(default);
            Assert.Equal(["accepted", "accepted"], ledger.Select(r => r.Outcome));
            Assert.Equal(2, summary.Inputs);
            Assert.True((await host.Events.PendingStatsAsync(default)).Count > 0); // 01's events wait for the push
            Assert.Contains("a batch of 3 message(s) failed", errors, StringComparison.Ordinal);
            Assert.Contains("1 of the batch's 3 message(s) failed alone too (", errors, StringComparison.Ordinal);
            Assert.Contains($"message {names[1]} failed", errors, StringComparison.Ordinal); // its later deliveries, alone
        }
    }

    [Fact]
    public async Task ACompletionWhoseLockWasLost_ComesAgain_AndIsCountedAsARedelivery_NotStoredTwice()
    {
        var inputs = WorkerBatchTests.Corpus(30);
        var queue = Queue(inputs, TimeProvider.System);
        queue.LoseLockOnFirstCompletion("7");
        await using var host = Host("lost-lock");
        var summary = new RelaySummary();

        var errors = await RunUntilAsync(queue, host, summary, batch: 10, TimeProvider.System, () => queue.Drained);

        Assert.Equal(30, queue.Completed.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(30, queue.Completed.Count);
        Assert.Contains("completing message 7 failed (MessageLockLost)", errors, StringComparison.Ordinal);
        var ledger = await host.Embedded!.LedgerAsync(default);
        Assert.Equal(31, ledger.Count);
        var oneByOne = await SettleOneByOneAsync("reference", inputs); // the corpus redelivers some of its own messages
        Assert.Equal(oneByOne.Redelivered + 1, summary.Redelivered);
        Assert.Equal(oneByOne.Redelivered + 1, ledger.Count(r => r is { Outcome: "duplicate", Reason: "redelivered" }));
        Assert.Equal(oneByOne.EventsStored, summary.EventsStored); // nothing of the redelivery stored again
    }

    [Fact]
    public async Task AReceiveThatFails_IsTriedAgainAfterItsDelay()
    {
        var time = new FakeTimeProvider(TimeProvider.System.GetUtcNow());
        var inputs = WorkerBatchTests.Corpus(5);
        var queue = Queue(inputs, time);
        queue.FailNextReceives(1);
        await using var host = Host("receive-fails");
        var summary = new RelaySummary();

        var errors = await RunUntilAsync(queue, host, summary, batch: 10, time, () => queue.Drained, whileWaiting: () =>
        {
            if (queue.Receives == 1)
            {
                Assert.Empty(queue.Completed); // nothing until the delay has passed
                time.Advance(WorkerCommand.ReceiveRetryDelay);
            }
        });

        Assert.Equal("ctmp worker: receiving failed (ServiceBusException); trying again in 5 s.", errors.Trim());
        Assert.Equal(5, queue.Completed.Count);
        Assert.True(queue.Receives >= 2);
    }

    private static InMemoryServiceBusQueue Queue(List<InputItem> inputs, TimeProvider time)
    {
        var queue = new InMemoryServiceBusQueue(time);
        foreach (var input in inputs)
        {
            queue.Send(input.Source["servicebus:".Length..], input.Body);
        }

        return queue;
    }

    private RunnerHost Host(string name) =>
        RunnerHost.Create(new RunnerOptions(null, new DirectoryInfo(Path.Combine(work, name, "store")), new DirectoryInfo(Path.Combine(work, name, "out")),
            NewStoreFormat: StoreFormat.Log));

    /// <summary>Runs the loop until <paramref name="done"/>, then stops it as Ctrl+C does; what it wrote to standard error.</summary>
    private static async Task<string> RunUntilAsync(
        InMemoryServiceBusQueue queue, RunnerHost host, RelaySummary summary, int batch, TimeProvider time, Func<bool> done, Action? whileWaiting = null)
    {
        using var stop = new CancellationTokenSource();
        using var errors = new StringWriter();
        var synchronized = TextWriter.Synchronized(errors);
        using var turn = new SemaphoreSlim(1);
        var runner = new RelayRunner(host, TextWriter.Null, TimeProvider.System);
        var loop = WorkerCommand.ReceiveAsync(queue, runner, summary, turn, batch, synchronized, time, stop.Token);
        var started = TimeProvider.System.GetTimestamp();
        while (!done() && !loop.IsCompleted)
        {
            Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(60), "the queue was not drained within 60 s: " + errors);
            whileWaiting?.Invoke();
            await Task.Delay(10);
        }

        await stop.CancelAsync();
        await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Assert.Null(loop.Exception); // stopped by the cancellation, not by a failure
        return errors.ToString();
    }

    private async Task<RelaySummary> SettleOneByOneAsync(string name, List<InputItem> inputs)
    {
        await using var host = Host(name);
        var runner = new RelayRunner(host, TextWriter.Null, TimeProvider.System);
        var summary = new RelaySummary();
        foreach (var input in inputs)
        {
            await runner.IngestOneAsync(input, summary, default);
        }

        return summary;
    }
}
