using System.Text.Json;
using CsCheck;
using CtMparticle.Embedded;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using CtMparticle.Tracking;
using Microsoft.Extensions.Time.Testing;

namespace CtMparticle.Tests.Storage;

/// <summary>What the log stores' tests share.</summary>
internal static class LogTests
{
    /// <summary>A tail of a few records: reads come from memory and from the file alike (and a test opens stores cheaply).</summary>
    public const int SmallTail = 4096;

    /// <summary>
    /// Every index writes its entries to files every few (<see cref="SpillingKeyIndex"/>), and the ledger's list its
    /// older chunks (<see cref="SpillingAddressList"/>), so every log store test also runs on runs, merges, entries of
    /// runs that die and come back with a rollback, and chunks read back by one.
    /// </summary>
    public const int SmallSpill = 5;

    /// <summary>Segments of a few batches: the oracle runs' logs roll over, and a compaction reads and writes several.</summary>
    public const long SmallSegment = 4096;
}

/// <summary>
/// One random run of the log's stores beside the SQLite store as the oracle: the batch steps every oracle test
/// shares. A crash loses an open batch (SQLite rolls it back) and rebuilds the log's stores from their file.
/// </summary>
internal sealed class OracleRun(SqliteStore oracle, string directory, TimeProvider time) : IDisposable
{
    private readonly List<string> savepoints = []; // the open batch's, oldest first
    private bool inBatch;
    private int named;

    /// <summary>Whether a batch is open on both.</summary>
    public bool InBatch => inBatch;

    public LogStore Log { get; private set; } = Open(directory, time);

    /// <summary>Compactions done (a test checks that its runs compact).</summary>
    public int Compactions { get; private set; }

    /// <summary>
    /// Begin, Commit, Rollback, Savepoint, Release (the newest savepoint), RollbackTo (the middle one of those open: older
    /// ones stay, it and newer ones end), Compact (the log rewritten with what still counts, then opened again), each
    /// where one applies (nothing otherwise), or Crash, named as the test's step.
    /// </summary>
    public async Task BatchStepAsync(string step)
    {
        if (step is "Commit" or "Rollback" or "Crash")
        {
            savepoints.Clear();
        }

        switch (step)
        {
            case "Savepoint" when inBatch:
                var name = $"sp{++named}";
                await oracle.SavepointAsync(name, default);
                await Log.SavepointAsync(name, default);
                savepoints.Add(name);
                break;
            case "Release" when savepoints.Count > 0:
                await oracle.ReleaseSavepointAsync(savepoints[^1], default);
                await Log.ReleaseSavepointAsync(savepoints[^1], default);
                savepoints.RemoveAt(savepoints.Count - 1);
                break;
            case "RollbackTo" when savepoints.Count > 0:
                var at = savepoints.Count / 2;
                await oracle.RollbackToSavepointAsync(savepoints[at], default);
                await Log.RollbackToSavepointAsync(savepoints[at], default);
                savepoints.RemoveRange(at, savepoints.Count - at);
                break;
            case "Begin" when !inBatch:
                await oracle.BeginBatchAsync(default);
                await Log.BeginBatchAsync(default);
                inBatch = true;
                break;
            case "Commit" when inBatch:
                await oracle.CommitBatchAsync(default);
                await Log.CommitBatchAsync(default);
                inBatch = false;
                break;
            case "Rollback" when inBatch:
                await oracle.RollbackBatchAsync(default);
                await Log.RollbackBatchAsync(default);
                inBatch = false;
                break;
            case "Compact" when !inBatch:
                Log.Dispose();
                LogStore.Compact(directory, time, segmentBytes: LogTests.SmallSegment, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);
                Log = Open();
                Compactions++;
                break;
            case "Crash":
                if (inBatch)
                {
                    await oracle.RollbackBatchAsync(default);
                }

                Reopen();
                inBatch = false;
                break;
        }
    }

    /// <summary>
    /// An event store operation on both, with the same answer asked of each (Add, Withhold, Hold, Deliver, Withdraw,
    /// Quarantine, Restore, Replace, PurgeParked, PurgeSeen): <paramref name="e"/>'s, and <paramref name="also"/>'s
    /// where a push settles two; false for a step that is not one of them.
    /// </summary>
    public async Task<bool> EventStepAsync(string step, TrackingEvent e, TrackingEvent also, string? message, int arg)
    {
        var now = time.GetUtcNow();
        switch (step)
        {
            case "Add":
                Assert.Equal(await oracle.TryAddAsync(e, message, default), await Log.Events.TryAddAsync(e, message, default));
                return true;
            case "Withhold":
                Assert.Equal(await oracle.WithholdAsync(e, message, default), await Log.Events.WithholdAsync(e, message, default));
                return true;
            case "Hold":
                await oracle.HoldPendingAsync([Key(e)], now.AddMinutes(arg * 10), default);
                await Log.Events.HoldPendingAsync([Key(e)], now.AddMinutes(arg * 10), default);
                return true;
            case "Deliver" or "Withdraw" or "Quarantine":
                var fate = step == "Deliver" ? EventFate.Delivered : step == "Withdraw" ? EventFate.Withdrawn : EventFate.Quarantined;
                await oracle.RemovePendingAsync([Key(e), Key(also)], fate, default);
                await Log.Events.RemovePendingAsync([Key(e), Key(also)], fate, default);
                return true;
            case "Restore":
                Assert.Equal(await oracle.RestoreParkedAsync([e.Context.EventId, e.Context.EventId], default), await Log.Events.RestoreParkedAsync([e.Context.EventId, e.Context.EventId], default));
                return true;
            case "Replace":
                Assert.Equal(await oracle.ReplacePendingAsync(e.Context.EventId, Rewrite(arg), default), await Log.Events.ReplacePendingAsync(e.Context.EventId, Rewrite(arg), default));
                return true;
            case "PurgeParked":
                Assert.Equal(await oracle.PurgeParkedAsync(now.AddMinutes(-arg * 5), default), await Log.Events.PurgeParkedAsync(now.AddMinutes(-arg * 5), default));
                return true;
            case "PurgeSeen":
                Assert.Equal(await oracle.PurgeSeenAsync(now.AddMinutes(-arg * 5), default), await Log.Events.PurgeSeenAsync(now.AddMinutes(-arg * 5), default));
                return true;
            default:
                return false;
        }
    }

    private static PendingEventKey Key(TrackingEvent e) => new("ignored", e.Context.EventId, DateTimeOffset.UnixEpoch);

    private static Func<TrackingEvent, TrackingEvent?> Rewrite(int arg) =>
        stored => arg == 0 ? null : stored with { Context = stored.Context with { User = stored.Context.User with { SessionId = $"s-{arg}" } } };

    /// <summary>Commits an open batch on both, then reopens the log's stores: what they rebuild must read the same.</summary>
    public async Task FinishAsync()
    {
        if (inBatch)
        {
            await oracle.CommitBatchAsync(default);
            await Log.CommitBatchAsync(default);
            inBatch = false;
        }

        Reopen();
    }

    public void Dispose() => Log.Dispose();

    private void Reopen()
    {
        Log.Dispose();
        Log = Open();
    }

    private LogStore Open() => Open(directory, time);

    private static LogStore Open(string directory, TimeProvider time)
    {
        var store = LogStore.Open(directory, time, segmentBytes: LogTests.SmallSegment, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);
        store.Events.KeepAtMost = 4; // full often: an object kept at an address a dropped batch gave must not outlive it
        return store;
    }
}

/// <summary>
/// The log's stores (ADR 0007: the event store, order contexts, consent, identity links and decisions, on one log)
/// pass the storage ports' whole contract, as the SQLite and Azure stores do.
/// </summary>
public sealed class LogStoreContractTests : StorageContractTests, IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ctmp-log-contract-").FullName;
    private readonly LogStore store;

    public LogStoreContractTests() => store = LogStore.Open(folder, TimeProvider.System, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);

    private protected override IEventStore Events => store.Events;

    private protected override IOrderContextStore Orders => store.Orders;

    private protected override IConsentStore Consent => store.Consent;

    private protected override IIdentityLinkStore Links => store.Links;

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }
}

/// <summary>
/// The log's event store against the SQLite store as the oracle: random runs of every operation, in and out of
/// batches, with rollbacks and crashes (the log store closed mid-batch and opened again, where SQLite rolls the batch
/// back), must give the same answers and leave the same outbox, byte for byte.
/// </summary>
public sealed class LogEventStoreTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-log-events-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    private enum Op { Add, Withhold, Hold, Deliver, Withdraw, Quarantine, Restore, Replace, PurgeParked, PurgeSeen, Wait, Begin, Commit, Rollback, Savepoint, Release, RollbackTo, Crash, Compact }

    /// <summary>
    /// The log writes a stored event's JSON into a buffer it keeps, not through <c>SerializeToUtf8Bytes</c>: the bytes
    /// stored must be the same whatever the strings hold (escapes: markup, quotes, controls, non-ASCII, lone
    /// surrogates), and an event larger than the buffer it keeps (1 MB) must not spoil the next.
    /// </summary>
    [Fact]
    public async Task AStoredEventsJson_IsByteForByteWhatTheSerializerWrites_WhateverItsStringsHold()
    {
        var text = Gen.OneOf(Gen.String, Gen.String[Gen.Char[(char)0, (char)0x7f], 0, 40], Gen.Const("<b>&'\"\\\u2028\ud800x\udfff é 日本 🛒"));
        using var store = LogStore.Open(Path.Combine(work, "json"), TimeProvider.System, spillAt: LogTests.SmallSpill);
        var key = 0;
        await Gen.Select(text, text, text).SampleAsync(async (method, dedupe, customer) =>
        {
            var n = Interlocked.Increment(ref key); // samples run on several threads: each its own events
            var stored = new SignedIn(new EventContext(Uuid5.ForEvent($"json-{n}"), dedupe, DateTimeOffset.UnixEpoch.AddTicks(n), EventSource.Storefront,
                null, "acme", new Region("DE"), new UserIds(customer)), method);
            var large = new SignedIn(stored.Context with { EventId = Uuid5.ForEvent($"json-large-{n}") }, new string('x', 1_200_000) + method);
            foreach (var e in n % 20 == 0 ? [large, stored] : new TrackingEvent[] { stored })
            {
                Assert.Equal(AddResult.Added, await store.Events.TryAddAsync(e, null, default));
                var pending = (await store.Events.ReadPendingAsync(int.MaxValue, default)).Single(p => p.EventId == e.Context.EventId);
                Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(e, RelayJsonContext.Default.TrackingEvent), pending.Json.ToArray());
            }
        }, iter: 60);
    }

    [Fact]
    public async Task EveryOperation_InAndOutOfBatches_WithRollbacksAndCrashes_AnswersAsTheSqliteStoreDoes()
    {
        var gen = Gen.Select(Gen.Enum<Op>(), Gen.Int[0, 11], Gen.Int[0, 3]).Array[1, 60];
        var runs = 0;
        var compactions = 0;
        var handed = 0;
        await gen.SampleAsync(async operations =>
        {
            var directory = Path.Combine(work, $"run-{Interlocked.Increment(ref runs)}");
            var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 4, 9, 0, 0, TimeSpan.Zero));
            await using var oracle = SqliteStore.Open(Path.Combine(directory, "oracle", "state.db"), time);
            using var stores = new OracleRun(oracle, Path.Combine(directory, "log"), time);
            foreach (var (op, key, arg) in operations)
            {
                var e = Event(key);
                var message = arg == 3 ? null : $"m-{arg}";
                if (await stores.EventStepAsync(op.ToString(), e, Event(key + 1), message, arg))
                {
                }
                else if (op == Op.Wait)
                {
                    time.Advance(TimeSpan.FromMinutes(arg * 4 + 1));
                }
                else
                {
                    await stores.BatchStepAsync(op.ToString());
                }

                var pending = await stores.Log.Events.ReadPendingAsync(1000, default);
                Assert.Equal(Outbox(await oracle.ReadPendingAsync(1000, default)), Outbox(pending));
                Interlocked.Add(ref handed, AreTheirJson(pending));
                Assert.Equal(await oracle.PendingStatsAsync(default), await stores.Log.Events.PendingStatsAsync(default));
                Assert.Equal(await oracle.OutboxEndAsync(default) > 0, await stores.Log.Events.OutboxEndAsync(default) > 0);
            }

            await stores.FinishAsync();
            Assert.Equal(Outbox(await oracle.ReadPendingAsync(1000, default)), Outbox(await stores.Log.Events.ReadPendingAsync(1000, default)));
            for (var key = 0; key <= 12; key++)
            {
                Assert.Equal(await oracle.WithholdAsync(Event(key), "m-0", default), await stores.Log.Events.WithholdAsync(Event(key), "m-0", default));
            }

            Interlocked.Add(ref compactions, stores.Compactions);
        }, iter: 300);
        Assert.True(compactions > 50, $"{compactions} compactions in the runs"); // the Compact step is one of the operations drawn
        Assert.True(handed > 1000, $"{handed} pending events read with the object stored"); // most reads between a store and a crash or compaction
    }

    /// <summary>
    /// A pending event read with the object that was stored (<see cref="PendingEvent.Event"/>: a push uses it instead of
    /// reading and decoding the JSON) must be the one whose JSON it is, after rewrites, rollbacks to savepoints, dropped
    /// batches (whose log addresses are written again) and reopenings alike. Its <see cref="PendingEvent.Json"/> is
    /// written from that object (the log does not read it back), and the caller compares it with the JSON the SQLite
    /// oracle stored; here, that it is the event of its id, and how many were handed.
    /// </summary>
    private static int AreTheirJson(IReadOnlyList<PendingEvent> pending)
    {
        foreach (var item in pending.Where(p => p.Event is not null))
        {
            Assert.Equal(item.EventId, item.Event!.Context.EventId);
        }

        return pending.Count(p => p.Event is not null);
    }

    [Fact]
    public async Task Reopen_AfterACrashMidBatch_KeepsTheCommittedBatchesAndLosesTheOpenOne_AsAnInputRedoneByTheRerun()
    {
        var directory = Path.Combine(work, "crash");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 4, 9, 0, 0, TimeSpan.Zero));
        using (var store = LogStore.Open(directory, time, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill))
        {
            await store.BeginBatchAsync(default);
            await store.Events.TryAddAsync(Event(1), "m-1", default);
            await store.CommitBatchAsync(default);
            await store.BeginBatchAsync(default);
            await store.Events.TryAddAsync(Event(2), "m-2", default);
            await store.Events.RemovePendingAsync([Key(Event(1))], EventFate.Delivered, default);
            // the process dies here
        }

        using var reopened = LogStore.Open(directory, time, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);
        Assert.Equal([Event(1).Context.EventId], (await reopened.Events.ReadPendingAsync(10, default)).Select(p => p.EventId));
        Assert.Equal(AddResult.AddedBefore, await reopened.Events.TryAddAsync(Event(1), "m-1", default)); // the redelivery of its message
        Assert.Equal(AddResult.Added, await reopened.Events.TryAddAsync(Event(2), "m-2", default));       // lost with the batch: stored again
        Assert.Equal(2, reopened.Events.Known);
        Assert.Equal("2 record(s) after the last commit", reopened.Events.Recovery.Problem);
    }

    [Fact]
    public async Task ARolledBackRestoreOrQuarantine_LeavesTheEventWhereItWas_ParkedOrPendingInItsPlace()
    {
        // The undo of each event's change is kept as values (IKeepsUndo): a rollback must put the parked event and the
        // pending one, in its place in the outbox, back as they were before the batch.
        var directory = Path.Combine(work, "undo");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 4, 9, 0, 0, TimeSpan.Zero));
        using var store = LogStore.Open(directory, time, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);
        foreach (var key in new[] { 1, 2, 3 })
        {
            await store.Events.TryAddAsync(Event(key), $"m-{key}", default);
        }

        await store.Events.RemovePendingAsync([Key(Event(1))], EventFate.Quarantined, default); // parked, committed
        var before = (await store.Events.ReadPendingAsync(10, default)).Select(p => p.EventId).ToList();

        await store.BeginBatchAsync(default);
        Assert.Equal(1, await store.Events.RestoreParkedAsync([Event(1).Context.EventId], default));
        await store.Events.RemovePendingAsync([Key(Event(2))], EventFate.Quarantined, default);
        await store.RollbackBatchAsync(default);

        Assert.Equal(before, (await store.Events.ReadPendingAsync(10, default)).Select(p => p.EventId));
        Assert.Equal([Event(2).Context.EventId, Event(3).Context.EventId], before);
        Assert.Equal(1, await store.Events.RestoreParkedAsync([Event(1).Context.EventId], default)); // still parked
        Assert.Equal(0, await store.Events.RestoreParkedAsync([Event(2).Context.EventId], default)); // pending, never parked
    }

    [Theory]
    [InlineData("Rollback")]
    [InlineData("RollbackTo")]
    public async Task AnEventStoredInADroppedBatch_IsNotHandedToAPushAsTheEventStoredAtItsAddressAfter(string drop)
    {
        // The log gives a dropped batch's addresses again: the object kept for the dropped event must go with it, even
        // with no room to keep the next event's object (a push would send the dropped event under the other's id).
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 4, 9, 0, 0, TimeSpan.Zero));
        using var store = LogStore.Open(Path.Combine(work, "kept-" + drop), time, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);
        store.Events.KeepAtMost = 1;
        await store.BeginBatchAsync(default);
        await store.SavepointAsync("before", default);
        Assert.Equal(AddResult.Added, await store.Events.TryAddAsync(Event(1), "m-1", default));
        Assert.Equal(Event(1).Context.EventId, (await store.Events.ReadPendingAsync(10, default)).Single().Event?.Context.EventId); // kept
        if (drop == "Rollback")
        {
            await store.RollbackBatchAsync(default);
        }
        else
        {
            await store.RollbackToSavepointAsync("before", default);
        }

        store.Events.KeepAtMost = 0; // nothing more is kept: only what was must answer
        Assert.Equal(AddResult.Added, await store.Events.TryAddAsync(Event(2), "m-2", default));

        var pending = Assert.Single(await store.Events.ReadPendingAsync(10, default));
        Assert.Equal(Event(2).Context.EventId, pending.EventId);
        Assert.Null(pending.Event);
    }

    private static TrackingEvent Event(int key) => new SignedIn(new EventContext(Uuid5.ForEvent($"log-{key}"), $"log-{key}",
        new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero), EventSource.Storefront, $"log-{key}", "acme-de", new Region("DE"), new UserIds($"c-{key % 3}")), "password");

    private static PendingEventKey Key(TrackingEvent e) => new("ignored", e.Context.EventId, DateTimeOffset.UnixEpoch);

    private static IEnumerable<string> Outbox(IReadOnlyList<PendingEvent> pending) =>
        pending.Select(p => $"{p.Partition}/{p.EventId}/{p.EnqueuedAt.UtcTicks}/{p.MessageId}/{Convert.ToBase64String(p.Json)}");
}

/// <summary>
/// The form of a log store's records (<see cref="LogFormat"/>): a new store records this build's, an older store gets
/// it at its next open, and a store a newer build wrote is refused, saying so, before any record is read.
/// </summary>
public sealed class LogFormatTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-log-format-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    [Fact]
    public async Task ANewStore_AndAStoreWithoutTheFile_RecordThisBuildsForm()
    {
        var fresh = Path.Combine(work, "fresh");
        LogStore.Open(fresh, TimeProvider.System).Dispose();
        Assert.Equal("2", File.ReadAllText(Path.Combine(fresh, LogFormat.FileName)));

        var older = Path.Combine(work, "older");
        using (var log = StateLog.Open(older))
        {
            log.Append(CheckpointRecord.Kind, new CheckpointRecord(0, "note", "written before the form file").Encode().Span);
            log.Commit(durable: true);
        }

        using var opened = LogStore.Open(older, TimeProvider.System);
        Assert.Equal("written before the form file", await opened.Checkpoints.GetAsync("note", default));
        Assert.Equal("2", File.ReadAllText(Path.Combine(older, LogFormat.FileName)));
    }

    [Theory]
    [InlineData("3", "holds records of form 3, written by a newer ctmp; this build reads forms up to 2")]
    [InlineData("two", "should hold the form number of the store's records, but holds 'two'")]
    public async Task AStoreOfANewerOrUnknownForm_IsRefused_SayingWhy_AndLeftAsItWas(string form, string expected)
    {
        var directory = Path.Combine(work, "newer");
        using (var store = LogStore.Open(directory, TimeProvider.System))
        {
            await store.Checkpoints.SetAsync("note", "kept", default);
        }

        File.WriteAllText(Path.Combine(directory, LogFormat.FileName), form);
        var before = StateLog.Segments(directory);

        var refused = Assert.Throws<StoreFormatException>(() => LogStore.Open(directory, TimeProvider.System));
        Assert.Contains(expected, refused.Message, StringComparison.Ordinal);
        Assert.Equal(form, File.ReadAllText(Path.Combine(directory, LogFormat.FileName)));
        Assert.Equal(before, StateLog.Segments(directory));
        using var again = File.Open(Path.Combine(directory, "state.lock"), FileMode.Open, FileAccess.ReadWrite, FileShare.None); // the store's lock was let go
    }
}
