using CsCheck;
using CtMparticle.Embedded;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using CtMparticle.Tracking;
using Microsoft.Extensions.Time.Testing;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The log's ledger (ADR 0007, step 2's other half) against the SQLite store as the oracle: random runs of inputs
/// recorded (new messages, the same message again, redeliveries, quarantined under a record id, with events, flags
/// and unenriched reasons) and updated, beside the event operations that give their events fates (delivered,
/// withdrawn, quarantined and restored, withheld, forgotten by retention and stored again), in and out of batches,
/// with rollbacks and crashes, must find the same inputs and report the same ledger, totals, flags and reasons.
/// </summary>
public sealed class LogLedgerTests : IDisposable
{
    private static readonly string[] Outcomes = ["accepted", "quarantined", "filtered", "duplicate"];
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-log-ledger-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    private enum Op { Record, Redeliver, Update, Add, Withhold, Hold, Deliver, Withdraw, Quarantine, Restore, Replace, PurgeParked, PurgeSeen, Wait, Begin, Commit, Rollback, Savepoint, Release, RollbackTo, Crash, Compact }

    [Fact]
    public async Task InputsAndTheirEventsFates_InAndOutOfBatches_WithRollbacksAndCrashes_ReportAsTheSqliteStoreDoes()
    {
        var gen = Gen.Select(Gen.Enum<Op>(), Gen.Int[0, 5], Gen.Int[0, 7]).Array[1, 60];
        var runs = 0;
        await gen.SampleAsync(async operations =>
        {
            var directory = Path.Combine(work, $"run-{Interlocked.Increment(ref runs)}");
            var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 4, 9, 0, 0, TimeSpan.Zero));
            await using var oracle = SqliteStore.Open(Path.Combine(directory, "oracle", "state.db"), time);
            using var stores = new OracleRun(oracle, Path.Combine(directory, "log"), time);
            foreach (var (op, key, arg) in operations)
            {
                var message = key == 5 ? null : $"m-{key % 4}";
                var e = Event(key + arg);
                IReadOnlyList<Guid> ids = [.. new[] { Event(key).Context.EventId, Event(key + 1).Context.EventId, Event(key).Context.EventId }.Take(arg % 4)];
                IReadOnlyList<string> flags = [.. new[] { "unknown-property", "wrong-type", "unknown-property" }.Take(arg % 4)];
                var outcome = Outcomes[arg % Outcomes.Length];
                var reason = outcome == "duplicate" ? "duplicate" : null; // as the ingest gives them: a duplicate always says why
                var quarantine = outcome == "quarantined" || arg == 5 ? $"q-{key % 3}" : null;
                var unenriched = arg is 1 or 6 ? (arg == 1 ? "order-not-found" : "no-payment") : null;
                if (await stores.EventStepAsync(op.ToString(), e, Event(key), message, arg))
                {
                    await AssertSameAsync(oracle, stores.Log.Ledger, stores.InBatch);
                    continue;
                }

                switch (op)
                {
                    case Op.Record:
                        Assert.Equal(
                            await oracle.RecordInputAsync("file", message, "OrderCreated", outcome, reason, "detail", quarantine, ids, flags, unenriched, default),
                            await stores.Log.Ledger.RecordInputAsync("file", message, "OrderCreated", outcome, reason, "detail", quarantine, ids, flags, unenriched, default));
                        break;
                    case Op.Redeliver:
                        Assert.Equal(
                            await oracle.RecordInputAsync("file", message, "OrderCreated", "duplicate", "redelivered", "again", null, [], [], null, default),
                            await stores.Log.Ledger.RecordInputAsync("file", message, "OrderCreated", "duplicate", "redelivered", "again", null, [], [], null, default));
                        break;
                    case Op.Update when (await oracle.LedgerAsync(default)).Count is var count and > 0: // the relay updates only inputs it recorded
                        var seq = 1 + (key % count);
                        await oracle.UpdateInputAsync(seq, outcome, reason, "resolved", quarantine, ids, flags, unenriched, default);
                        await stores.Log.Ledger.UpdateInputAsync(seq, outcome, reason, "resolved", quarantine, ids, flags, unenriched, default);
                        break;
                    case Op.Wait:
                        time.Advance(TimeSpan.FromMinutes(arg * 4 + 1));
                        break;
                    case Op.Update:
                        break;
                    default:
                        await stores.BatchStepAsync(op.ToString());
                        break;
                }

                await AssertSameAsync(oracle, stores.Log.Ledger, stores.InBatch);
            }

            await stores.FinishAsync();
            await AssertSameAsync(oracle, stores.Log.Ledger, inBatch: false);
        }, iter: 300);
    }

    [Fact]
    public async Task Checkpoints_SetAgainRolledBackAndReopened_ReadAsSet()
    {
        var directory = Path.Combine(work, "checkpoints");
        using (var store = LogStore.Open(directory, TimeProvider.System, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill))
        {
            Assert.Equal("16", await store.Checkpoints.GetAsync(StoreLayout.CheckpointName, default)); // the layout, recorded at first open
            await store.Checkpoints.SetAsync("consent:reconciled", "a", default);
            await store.Checkpoints.SetAsync("consent:reconciled", "b", default);
            await store.BeginBatchAsync(default);
            await store.Checkpoints.SetAsync("consent:reconciled", "c", default);
            await store.Checkpoints.SetAsync("other", "x", default);
            await store.RollbackBatchAsync(default);
            Assert.Equal("b", await store.Checkpoints.GetAsync("consent:reconciled", default));
            Assert.Null(await store.Checkpoints.GetAsync("other", default));
        }

        using var reopened = LogStore.Open(directory, TimeProvider.System, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);
        Assert.Equal("b", await reopened.Checkpoints.GetAsync("consent:reconciled", default));
        Assert.Null(await reopened.Checkpoints.GetAsync("other", default));
    }

    [Fact]
    public void Open_WithAnotherPartitionCount_IsRefusedNamingTheSetting_AndASecondOpenOfTheSameStoreIsRefused()
    {
        var directory = Path.Combine(work, "layout");
        using (LogStore.Open(directory, TimeProvider.System, partitions: 16, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill))
        {
            var busy = Assert.Throws<IOException>(() => LogStore.Open(directory, TimeProvider.System, partitions: 16, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill));
            Assert.Contains("open in another process", busy.Message, StringComparison.Ordinal);
        }

        var changed = Assert.Throws<StoreLayoutException>(() => LogStore.Open(directory, TimeProvider.System, partitions: 8, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill));
        Assert.Contains("Set Relay:Partitions back to 16", changed.Message, StringComparison.Ordinal);
        using var again = LogStore.Open(directory, TimeProvider.System, partitions: 16, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill); // the refusal left it closed
    }

    private static async Task AssertSameAsync(SqliteStore oracle, LogLedger log, bool inBatch)
    {
        for (var key = 0; key < 4; key++)
        {
            Assert.Equal(await oracle.FindInputAsync($"m-{key}", default), await log.FindInputAsync($"m-{key}", default));
        }

        for (var key = 0; key < 3; key++)
        {
            Assert.Equal(await oracle.InputsQuarantinedAsAsync($"q-{key}", default), await log.InputsQuarantinedAsAsync($"q-{key}", default));
        }

        Assert.Equal(await oracle.LedgerAsync(default), await log.LedgerAsync(default));
        var (expected, actual) = (await oracle.EventTotalsAsync(default), await log.EventTotalsAsync(default));
        // SQLite counts in-flight requests in its own table; inside a batch they go to the journal (the log's only place).
        Assert.Equal(inBatch ? expected with { InFlightRequests = 0 } : expected, inBatch ? actual with { InFlightRequests = 0 } : actual);
        Assert.Equal(await oracle.UnenrichedAsync(default), await log.UnenrichedAsync(default));
        var (flaggedExpected, byErrorExpected) = await oracle.FlagsAsync(default);
        var (flagged, byError) = await log.FlagsAsync(default);
        Assert.Equal(flaggedExpected, flagged);
        Assert.Equal(byErrorExpected, byError);
    }

    private static TrackingEvent Event(int key) => new SignedIn(new EventContext(Uuid5.ForEvent($"ledger-{key}"), $"ledger-{key}",
        new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero), EventSource.Storefront, $"ledger-{key}", "acme-de", new Region("DE"), new UserIds($"c-{key % 3}")), "password");
}
