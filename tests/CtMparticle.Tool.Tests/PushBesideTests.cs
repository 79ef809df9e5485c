using System.Collections.Concurrent;
using CtMparticle.Consent;
using CtMparticle.Embedded;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using CtMparticle.Tests.Infrastructure;
using CtMparticle.Tracking;
using Microsoft.Data.Sqlite;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// <c>ctmp relay</c> pushes beside the ingest of the next inputs instead of stopping it: what it sends, withdraws and
/// records must be exactly what pushing in turn gives, while the ingest really goes on during the round trips.
/// </summary>
public sealed class PushBesideTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-beside-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    [Theory]
    [InlineData("sqlite")]
    [InlineData("log")] // its snapshots follow each key's records back to the snapshot's end (ADR 0007, step 5)
    public async Task PushingBesideTheIngest_SendsAndRecordsWhatPushingInTurnDoes_WhileTheIngestGoesOnDuringTheRoundTrips(string format)
    {
        var corpus = Path.Combine(work, "corpus.ndjson");
        Assert.Equal(0, (await CtmpCommandTests.RunAsync("generate", "--count", "3000", "--out", corpus, "--seed", "5", "--disorder", "50")).Exit);

        var inTurn = await RelayAsync("in-turn", beside: false, corpus, Enum.Parse<StoreFormat>(format, ignoreCase: true));
        var beside = await RelayAsync("beside", beside: true, corpus, Enum.Parse<StoreFormat>(format, ignoreCase: true));

        Assert.Equal(3000, inTurn.Ledger.Count);
        Assert.Equal(inTurn.Ledger, beside.Ledger);     // every input's outcome and its events' fates, in order
        Assert.Equal(inTurn.Requests, beside.Requests); // the same request bodies, byte for byte
        Assert.Equal(inTurn.Quarantined, beside.Quarantined);
        Assert.Contains(inTurn.Ledger, row => row.Delivered > 0);
        Assert.Contains(inTurn.Ledger, row => row.Withdrawn > 0);

        // In turn, the ingest stands still while a push's requests travel: each request arrives with the ledger at a
        // push point (every 500 inputs, or the end). Beside, requests arrive while inputs after the point are recorded.
        Assert.All(inTurn.LedgerAtArrival, count => Assert.True(count % 500 == 0, $"{count} inputs recorded when a request arrived"));
        Assert.Contains(beside.LedgerAtArrival, count => count % 500 != 0);
    }

    /// <summary>
    /// The log store hands a push the event objects the ingest stored instead of decoding their JSON (a profile put
    /// about 4 % of a run's CPU in that decode): what goes out and what is recorded must be what decoding gives.
    /// </summary>
    [Fact]
    public async Task APushHandedTheStoredEventObjects_SendsAndRecordsWhatDecodingTheirJsonDoes()
    {
        var corpus = Path.Combine(work, "corpus.ndjson");
        Assert.Equal(0, (await CtmpCommandTests.RunAsync("generate", "--count", "3000", "--out", corpus, "--seed", "5", "--disorder", "50")).Exit);

        var decoded = await RelayAsync("decoded", beside: true, corpus, StoreFormat.Log, keepStoredEvents: false);
        var handed = await RelayAsync("handed", beside: true, corpus, StoreFormat.Log);

        Assert.Equal(0, decoded.Handed);
        Assert.True(handed.Handed > 2000, $"{handed.Handed} events handed to the push as stored");
        Assert.Equal(decoded.Ledger, handed.Ledger);
        Assert.Equal(decoded.Requests, handed.Requests);
        Assert.Equal(decoded.Quarantined, handed.Quarantined);
        Assert.Contains(decoded.Ledger, row => row.Withdrawn > 0);
    }

    [Theory]
    [InlineData(10, "sqlite")]
    [InlineData(40, "sqlite")]
    [InlineData(10, "log")]
    [InlineData(40, "log")]
    public async Task KilledDuringAPushBesideTheIngest_TheRerunDeliversAndWithdrawsExactlyWhatAnUninterruptedRunDoes(int killAtRequest, string format)
    {
        // 12,000 deliveries: each push point (every 5,000 inputs) pushes beside the ingest of the next ones. The real
        // process is killed (SIGKILL) while mParticle accepts a request of the first push (10) or the second (40), its
        // answer never arrives, and the ingest had gone on meanwhile. The rerun must end where an uninterrupted run
        // ends: the same events delivered (none twice but inside a byte-identical resend), the same withdrawn, the same
        // ledger. The rerun reads thousands of inputs again, older than what the store learnt since: a user's region
        // kept as the last written (not the newest stated) moved users back, and a few to 80 events were gated otherwise.
        var corpus = Path.Combine(work, "corpus.ndjson");
        Assert.Equal(0, (await CtmpCommandTests.RunAsync("generate", "--count", "12000", "--out", corpus, "--seed", "21")).Exit);
        var clean = await SendAsync(corpus, "clean", killAtRequest: null, format);
        var killed = await SendAsync(corpus, "killed", killAtRequest, format);

        var differing = clean.Delivered.Except(killed.Delivered, StringComparer.Ordinal).Concat(killed.Delivered.Except(clean.Delivered, StringComparer.Ordinal)).ToList();
        if (differing.Count > 0)
        {
            // How many, and where the first ones came from (the corpus is seeded: its message ids find them again); when
            // each run's push decided them tells a push point that moved (no decision: withdrawn, or never pushed).
            var first = differing.Take(12).ToList();
            var (cleanDecided, killedDecided) = (await DecidedAtAsync(clean.Store, first), await DecidedAtAsync(killed.Store, first));
            Assert.Fail($"{differing.Count} event(s) delivered by one run only " +
                $"({clean.Delivered.Except(killed.Delivered, StringComparer.Ordinal).Count()} by the uninterrupted run only), the first: " +
                string.Join("; ", first.Select((id, i) =>
                    $"{id} clean {Whereabouts(clean.Store, id)} decided {cleanDecided[i]}, killed {Whereabouts(killed.Store, id)} decided {killedDecided[i]}")));
        }

        Assert.All(killed.BodiesPerEvent, pair => Assert.True(pair.Value == 1, $"event {pair.Key} went in {pair.Value} different bodies"));
        // The fates of every input's events, withdrawn ones included, in input order. (The rerun reads the inputs
        // committed before the kill again: a duplicate of each, and a second row for each line that has no message id
        // to be known by, a malformed one; neither stores an event.)
        Assert.Equal(clean.Ledger.Where(r => r.Events > 0), killed.Ledger.Where(r => r.Events > 0));
        Assert.Contains(clean.Ledger, row => row.Withdrawn > 0);
    }

    [Fact]
    public async Task TheIngestsCommit_WaitsForThePushRunningBeside_SoNoPartOfThatPushIsDurableWithTheInputsAfterItsPoint()
    {
        // A push point every 5,000 inputs, where the writer also commits its batch. The first push is held at its first
        // request until the writer has recorded the 10,000th input (the next point and commit): that commit must wait for
        // the push. Made before, it would hold the push's work so far together with inputs 5,001 to 10,000, and a kill
        // then would leave the rest of the push to the rerun, which decides it on those inputs' newer consent (the
        // killed-push test above failed so on slow machines: 78 events gated otherwise).
        var corpus = Path.Combine(work, "corpus.ndjson");
        Assert.Equal(0, (await CtmpCommandTests.RunAsync("generate", "--count", "10500", "--out", corpus, "--seed", "21")).Exit);
        var store = new DirectoryInfo(Path.Combine(work, "store"));
        store.Create();
        LogStore? log = null;
        await using var server = new EventsApiServer
        {
            Respond = (n, _) =>
            {
                // The ledger's count is the writer's, uncommitted inputs included.
                Assert.True(n != 0 || SpinWait.SpinUntil(() => log!.Ledger.Count >= 10_000, TimeSpan.FromMinutes(2)),
                    "the writer did not reach the second push point while the first push was held");
                return ScriptedResponse.Accepted with { Delay = TimeSpan.FromMilliseconds(20) };
            },
        };
        using (MParticleSettings(server.BaseUrl))
        {
            await using var host = RunnerHost.Create(new RunnerOptions(null, store, null, NewStoreFormat: StoreFormat.Log));
            log = Assert.IsType<LogStore>(host.Embedded);
            var core = log.Core;
            var (batchCommits, duringAPush) = (0, 0);
            core.Committed += () =>
            {
                // Under the log's lock. A push beside the ingest holds its snapshot open until it ends.
                batchCommits += core.InBatch ? 1 : 0;
                duringAPush += core.InBatch && core.SnapshotEnd != 0 ? 1 : 0;
            };

            var summary = await new RelayRunner(host, TextWriter.Null, TimeProvider.System).RunAsync(InputFiles.Read([corpus]), showProgress: false, default);

            Assert.Null(summary.Interrupted);
            Assert.Equal(0, summary.PendingEvents);
            Assert.True(batchCommits >= 3, $"{batchCommits} batch commit(s)"); // at 5,000, at 10,000 and at the end
            Assert.Equal(0, duringAPush);
        }
    }

    /// <summary>Relays <paramref name="corpus"/> for real to a loopback Events API; with a kill point, first in a process killed there, then again in this one.</summary>
    private async Task<(List<string> Delivered, Dictionary<string, int> BodiesPerEvent, IReadOnlyList<LedgerRow> Ledger, string Store)> SendAsync(
        string corpus, string name, int? killAtRequest, string storeFormat)
    {
        var store = Path.Combine(work, name, "store");
        System.Diagnostics.Process? child = null;
        await using var server = new EventsApiServer
        {
            Respond = (n, _) =>
            {
                if (n == killAtRequest && child is { HasExited: false })
                {
                    child.Kill(entireProcessTree: true);
                    child.WaitForExit();
                }

                return ScriptedResponse.Accepted with { Delay = TimeSpan.FromMilliseconds(20) };
            },
        };
        if (killAtRequest is not null)
        {
            child = CtmpCommandTests.StartProcess(Settings(server.BaseUrl), "relay", "--store", store, "--store-format", storeFormat, "--quiet", corpus);
            await child.WaitForExitAsync();
            Assert.NotEqual(0, child.ExitCode); // killed, not finished
        }

        using (MParticleSettings(server.BaseUrl))
        {
            Assert.Equal(0, (await CtmpCommandTests.RunAsync("relay", "--store", store, "--store-format", storeFormat, "--quiet", corpus)).Exit);
        }

        var bodiesPerEvent = server.Accepted
            .SelectMany(r => r.SourceMessageIds.Select(id => (Id: id, Body: Convert.ToBase64String(r.Body))))
            .GroupBy(p => p.Id, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(p => p.Body).Distinct(StringComparer.Ordinal).Count(), StringComparer.Ordinal);
        await using var ledger = EmbeddedStore.Open(store, TimeProvider.System, 16);
        return ([.. bodiesPerEvent.Keys], bodiesPerEvent, await ledger.LedgerAsync(default), RunnerHost.DatabasePath(new DirectoryInfo(store)));
    }

    [Fact]
    public async Task AnEventStoredAfterThePushBegan_IsNeverInsideThatPushsOutbox_EvenOnceThePushRemovedTheNewestEvents()
    {
        // SQLite gives a new row the largest rowid + 1: with the newest events sent and removed, the next event would
        // take a place inside the running push's end and be sent by it, decided on the push's older snapshot.
        await using var store = SqliteStore.Open(Path.Combine(work, "state.db"), TimeProvider.System, 16);
        var (older, newest) = (Event(), Event());
        Assert.Equal(AddResult.Added, await store.TryAddAsync(older, "m-1", default));
        Assert.Equal(AddResult.Added, await store.TryAddAsync(newest, "m-2", default));
        var end = await store.OutboxEndAsync(default);
        var sent = (await store.ReadPendingAsync(10, end, default)).Single(p => p.EventId == newest.Context.EventId);
        await store.RemovePendingAsync([new PendingEventKey(sent.Partition, sent.EventId, sent.EnqueuedAt)], EventFate.Delivered, default);

        var later = Event();
        Assert.Equal(AddResult.Added, await store.TryAddAsync(later, "m-3", default));

        Assert.Equal([older.Context.EventId], (await store.ReadPendingAsync(10, end, default)).Select(p => p.EventId));
        Assert.Equal(new[] { older.Context.EventId, later.Context.EventId }.Order(), (await store.ReadPendingAsync(10, default)).Select(p => p.EventId).Order());
        Assert.True(await store.OutboxEndAsync(default) > end);
    }

    [Fact]
    public async Task ARequestSavedInsideABatch_IsDurableAtOnceInTheJournal_WhileTheBatchStaysOpen_AndACrashBringsItBackForItsResend()
    {
        var file = Path.Combine(work, "state.db");
        var store = SqliteStore.Open(file, TimeProvider.System, 16);
        await store.BeginBatchAsync(default);
        Assert.Equal(AddResult.Added, await store.TryAddAsync(Event(), "m-1", default));
        await store.SaveInFlightAsync(new InFlightRequest("r-1", "default", [1, 2, 3], [], TimeProvider.System.GetUtcNow()), default);
        Assert.Equal(AddResult.Added, await store.TryAddAsync(Event(), "m-2", default));

        Assert.Equal((0, 0), Committed(file)); // the batch commits only at its owner's points
        Assert.Equal(1, Count(InFlightJournal.PathFor(file), "SELECT COUNT(*) FROM inflight")); // durable before its POST
        Assert.Equal(["r-1"], (await store.ReadInFlightAsync(default)).Select(r => r.RequestId));

        await store.RollbackBatchAsync(default); // a crash: the batch is lost, the request is not
        await store.DisposeAsync();
        await using var reopened = SqliteStore.Open(file, TimeProvider.System, 16);

        var resend = Assert.Single(await reopened.ReadInFlightAsync(default));
        Assert.Equal("r-1", resend.RequestId);
        Assert.Equal([1, 2, 3], resend.Body); // resent byte for byte
        Assert.Equal((1, 0), Committed(file));
        Assert.Equal(0, Count(InFlightJournal.PathFor(file), "SELECT COUNT(*) FROM inflight"));
    }

    [Fact]
    public void TheJournal_GivesItsOpenRequestsByTimeThenId_WithTheirWholeBodies_AndSkipsTheSettledOnes()
    {
        using var journal = InFlightJournal.Open(Path.Combine(work, "state.db"));
        var at = new DateTimeOffset(2026, 12, 6, 9, 0, 0, TimeSpan.Zero);
        var large = new byte[300_000];
        Random.Shared.NextBytes(large);
        journal.Save(new InFlightRequest("b", "default", [2], [], at.AddSeconds(1)));
        journal.Save(new InFlightRequest("c", "default", large, [new InFlightBatch(2, [new PendingEventKey("p-1", Guid.Empty, at)])], at));
        journal.Save(new InFlightRequest("a", "default", [1], [], at.AddSeconds(1)));
        journal.Save(new InFlightRequest("settled", "default", [9], [], at.AddSeconds(-1)));

        var open = journal.ReadAll(except: new HashSet<string>(["settled"], StringComparer.Ordinal));

        Assert.Equal(["c", "a", "b"], open.Select(r => r.RequestId));
        Assert.Equal(large, open[0].Body);
        Assert.Equal(2, Assert.Single(open[0].Batches).Length);
        Assert.Equal(["settled", "c", "a", "b"], journal.ReadAll().Select(r => r.RequestId));
    }

    [Fact]
    public void TheJournal_SavesSeveralRequestsInOneTransaction_AllOfThemOrNone()
    {
        using var journal = InFlightJournal.Open(Path.Combine(work, "state.db"));
        var at = new DateTimeOffset(2026, 12, 7, 9, 0, 0, TimeSpan.Zero);

        journal.Save([new InFlightRequest("a", "default", [1], [], at), new InFlightRequest("b", "default", [2], [], at)]);
        // The second cannot be written (no input name): the first, written before it in the same call, is not kept either.
        Assert.Throws<InvalidOperationException>(() =>
            journal.Save([new InFlightRequest("c", "default", [3], [], at), new InFlightRequest("d", null!, [4], [], at)]));

        Assert.Equal(["a", "b"], journal.ReadAll().Select(r => r.RequestId));
        Assert.Equal([2], journal.ReadAll()[1].Body);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("log")]
    public async Task AJournalRequestSettledInsideABatch_LeavesTheJournalWhenTheBatchCommits_AndGoesAgainIfTheBatchIsLost(string format)
    {
        await using var store = EmbeddedStore.Open(work, TimeProvider.System, 16, format == "log" ? StoreFormat.Log : StoreFormat.Sqlite);
        var journal = InFlightJournal.PathFor(Path.Combine(work, "state.db"));

        await store.BeginBatchAsync(default);
        await store.Events.SaveInFlightAsync(new InFlightRequest("r-kept", "default", [1], [], TimeProvider.System.GetUtcNow()), default);
        await store.Events.SaveInFlightAsync(new InFlightRequest("r-open", "default", [3, 4], [], TimeProvider.System.GetUtcNow()), default);
        await store.Events.DeleteInFlightAsync("r-kept", default); // answered 2xx: its events' removal is in the open batch
        var open = Assert.Single(await store.Events.ReadInFlightAsync(default)); // r-kept is not resent by the next push run
        Assert.Equal("r-open", open.RequestId);
        Assert.Equal([3, 4], open.Body); // an open request's body is read whole
        Assert.Equal(2, Count(journal, "SELECT COUNT(*) FROM inflight")); // but kept until that removal is durable
        Assert.Equal(1, (await store.EventTotalsAsync(default)).InFlightRequests);
        await store.CommitBatchAsync(default);
        Assert.Equal(1, Count(journal, "SELECT COUNT(*) FROM inflight"));
        await store.Events.DeleteInFlightAsync("r-open", default);

        await store.BeginBatchAsync(default);
        await store.Events.SaveInFlightAsync(new InFlightRequest("r-lost", "default", [2], [], TimeProvider.System.GetUtcNow()), default);
        await store.Events.DeleteInFlightAsync("r-lost", default);
        await store.RollbackBatchAsync(default); // the removal is undone, so the request must go again
        Assert.Equal(["r-lost"], (await store.Events.ReadInFlightAsync(default)).Select(r => r.RequestId));
    }

    [Fact]
    public async Task APushsRequest_IsSavedInTheJournal_WhileTheWriterHoldsTheStateLog_AndConcurrentSavesAndDeletesLoseNothing()
    {
        await using var store = (LogStore)EmbeddedStore.Open(work, TimeProvider.System, 16, StoreFormat.Log);
        var journal = InFlightJournal.PathFor(Path.Combine(work, "state.db"));
        await store.BeginBatchAsync(default);
        using var writing = new ManualResetEventSlim();
        using var done = new ManualResetEventSlim();
        var writer = Task.Run(() => store.Core.Locked(() =>
        {
            writing.Set();
            done.Wait(TimeSpan.FromMinutes(1)); // the writer's turn, as long as the save takes
            return true;
        }, default));
        writing.Wait();

        // The journal's fsync does not wait for the state log: the push's save returns while the writer holds the log.
        var saved = Task.Run(() => store.Events.SaveInFlightAsync(new InFlightRequest("r-1", "default", [1], [], TimeProvider.System.GetUtcNow()), default));
        var first = await Task.WhenAny(saved, Task.Delay(TimeSpan.FromSeconds(30)));
        done.Set();
        Assert.Same(saved, first);
        await saved;
        await writer;

        // Many saves and deletes beside the writer's commits: each request stays in the journal exactly while it is open.
        var pushing = Parallel.ForEachAsync(Enumerable.Range(2, 200), async (i, cancellationToken) =>
        {
            await store.Events.SaveInFlightAsync(new InFlightRequest($"r-{i}", "default", [(byte)i], [], TimeProvider.System.GetUtcNow()), cancellationToken);
            if (i % 2 == 0)
            {
                await store.Events.DeleteInFlightAsync($"r-{i}", cancellationToken);
            }
        });
        while (!pushing.IsCompleted)
        {
            await store.CommitBatchAsync(default); // deletes the settled ones from the journal
            await store.BeginBatchAsync(default);
            await Task.Delay(1);
        }

        await pushing;
        await store.CommitBatchAsync(default);

        var open = (await store.Events.ReadInFlightAsync(default)).Select(r => r.RequestId).Order(StringComparer.Ordinal);
        Assert.Equal(new[] { 1 }.Concat(Enumerable.Range(2, 200).Where(i => i % 2 == 1)).Select(i => $"r-{i}").Order(StringComparer.Ordinal), open);
        Assert.Equal(101, Count(journal, "SELECT COUNT(*) FROM inflight"));
    }

    [Fact]
    public async Task OpeningAStoreWhileARunWritesIt_LeavesThatRunsJournalToIt()
    {
        var file = Path.Combine(work, "state.db");
        await using var running = SqliteStore.Open(file, TimeProvider.System, 16);
        await running.BeginBatchAsync(default); // holds the store's write lock, as a relay run does between its commits
        await running.SaveInFlightAsync(new InFlightRequest("r-live", "default", [1], [], TimeProvider.System.GetUtcNow()), default);

        await using (SqliteStore.Open(file, TimeProvider.System, 16, checkLayout: false)) // ctmp report, meanwhile
        {
        }

        Assert.Equal(1, Count(InFlightJournal.PathFor(file), "SELECT COUNT(*) FROM inflight")); // not taken from the run
        Assert.Equal(["r-live"], (await running.ReadInFlightAsync(default)).Select(r => r.RequestId));
    }

    [Fact]
    public async Task ASnapshot_SeesConsentAndTheOutboxAsTheyWereCommitted_WhileTheWriterGoesOn()
    {
        var file = Path.Combine(work, "state.db");
        await using var store = SqliteStore.Open(file, TimeProvider.System, 16);
        await using var reader = SqliteStore.OpenReader(file, TimeProvider.System, 16);
        var key = "customer:c-1";
        await store.MergeAsync(key, Consent(granted: true), null, default);
        await store.TryAddAsync(Event(), "m-1", default);

        await using (var view = await SnapshotPushStore.BeginAsync(store, new SqlitePushSnapshots(store, reader), default))
        {
            await store.BeginBatchAsync(default);
            await store.MergeAsync(key, Consent(granted: false), null, default);
            await store.TryAddAsync(Event(), "m-2", default);
            await store.CommitBatchAsync(default);

            Assert.True(Analytics(await view.GetAsync(key, default))); // as of the snapshot
            Assert.False(Analytics(await store.GetAsync(key, default)));
            Assert.Single(await view.ReadPendingAsync(100, default)); // the event stored after it is not this push's
            Assert.Equal(1, (await view.PendingStatsAsync(default)).Count);
            Assert.Equal(2, (await store.PendingStatsAsync(default)).Count);
        }

        await using var next = await SnapshotPushStore.BeginAsync(store, new SqlitePushSnapshots(store, reader), default);
        Assert.False(Analytics(await next.GetAsync(key, default)));
        Assert.Equal(2, (await next.ReadPendingAsync(100, default)).Count);
    }

    [Fact]
    public async Task ARewriteOfAPendingEvent_WaitsForThePushThatClaimedTheOutbox()
    {
        await using var store = SqliteStore.Open(Path.Combine(work, "state.db"), TimeProvider.System, 16);
        var stored = Event();
        await store.TryAddAsync(stored, "m-1", default);
        var push = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.ClaimOutbox(push.Task);

        var rewrite = store.ReplacePendingAsync(stored.Context.EventId, e => e, default);
        await Task.Delay(200);
        Assert.False(rewrite.IsCompleted); // the push may be sending the event as it is

        // The push sent it: the rewrite then finds it gone, as it would after a push run in turn.
        var pending = Assert.Single(await store.ReadPendingAsync(10, default));
        await store.RemovePendingAsync([new PendingEventKey(pending.Partition, pending.EventId, pending.EnqueuedAt)], EventFate.Delivered, default);
        push.SetResult();
        Assert.False(await rewrite);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("log")]
    public async Task ARewriteOfAnEventAServePushRunRead_IsRefusedAsTransient_OthersGoThrough_AndItGoesThroughAfterTheRun(string format)
    {
        await using var store = EmbeddedStore.Open(work, TimeProvider.System, 16, Enum.Parse<StoreFormat>(format, ignoreCase: true));
        var (read, unread) = (Event(), Event());
        await store.Events.TryAddAsync(read, "m-1", default);
        await store.Events.TryAddAsync(unread, "m-2", default);
        using var gate = new SemaphoreSlim(1, 1);
        var view = new TurnTakingPushStore(store, gate);

        Assert.Equal(read.Context.EventId, Assert.Single(await view.ReadPendingAsync(1, default)).EventId); // the run may be sending it now

        // ctmp serve's writer cannot wait here (it holds the turn the push needs): that call is answered 503 instead.
        await Assert.ThrowsAsync<TransientFailureException>(() => store.Events.ReplacePendingAsync(read.Context.EventId, e => e, default));
        Assert.True(await store.Events.ReplacePendingAsync(unread.Context.EventId, e => e, default));

        view.EndRun(); // sent, or still pending after a failure: either way the tracker's retry is taken now
        Assert.True(await store.Events.ReplacePendingAsync(read.Context.EventId, e => e, default));
    }

    private static (long InFlight, long Pending) Committed(string file) =>
        (Count(file, "SELECT COUNT(*) FROM inflight"), Count(file, "SELECT COUNT(*) FROM pending"));

    /// <summary>What a store knows of an event, for a failure's message: its fate, and whether it waits or is parked.</summary>
    private static string Whereabouts(string file, string eventId)
    {
        if (!File.Exists(file))
        {
            return "(a state log: not read here)";
        }

        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        string Ask(string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.Parameters.AddWithValue("$id", Guid.Parse(eventId).ToString("N")); // the store keys events without dashes
            return command.ExecuteScalar()?.ToString() ?? "-";
        }

        return $"(fate {Ask("SELECT fate FROM fates WHERE event_id = $id")}, pending {Ask("SELECT COUNT(*) FROM pending WHERE event_id = $id")}, parked {Ask("SELECT COUNT(*) FROM parked WHERE event_id = $id")}, seen {Ask("SELECT COUNT(*) FROM seen WHERE event_id = $id")}, " +
            $"stored by input {Ask("SELECT i.seq || ' ' || i.outcome || ' ' || IFNULL(i.reason, '') || ' ' || IFNULL(i.message_type, '') || ' ' || IFNULL(i.message_id, '') FROM input_events e JOIN inputs i ON i.seq = e.seq WHERE e.event_id = $id ORDER BY i.seq LIMIT 1")})";
    }

    /// <summary>
    /// When a push of the store (<c>state.db</c> or a state log beside it) decided each event's identities, or "never":
    /// withdrawn, never pushed, or sent only in a request a killed run left in flight (its decision went with the batch).
    /// </summary>
    private static async Task<List<string>> DecidedAtAsync(string databasePath, IEnumerable<string> eventIds)
    {
        await using var store = EmbeddedStore.Open(Path.GetDirectoryName(databasePath)!, TimeProvider.System, 16);
        var decided = new List<string>();
        foreach (var id in eventIds)
        {
            decided.Add((await store.Links.DecisionAsync(Guid.Parse(id), default))?.DecidedAt.ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture) ?? "never");
        }

        return decided;
    }

    /// <summary>A count as another connection sees the store: what is committed.</summary>
    private static long Count(string file, string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    private async Task<(IReadOnlyList<LedgerRow> Ledger, List<string> Requests, List<string> Quarantined, List<long> LedgerAtArrival, long Handed)> RelayAsync(
        string name, bool beside, string corpus, StoreFormat format, bool keepStoredEvents = true)
    {
        var store = new DirectoryInfo(Path.Combine(work, name, "store"));
        store.Create();
        var atArrival = new ConcurrentQueue<long>();
        RunnerHost? running = null;
        // Answers take 40 ms, so a push's requests are on their way for a while; each arrival notes how many inputs the
        // writer had recorded then (through its own connection: the batch commits only at push points).
        await using var server = new EventsApiServer
        {
            Respond = (_, _) =>
            {
                atArrival.Enqueue(running!.Embedded!.LedgerAsync(default).GetAwaiter().GetResult().Count);
                return ScriptedResponse.Accepted with { Delay = TimeSpan.FromMilliseconds(40) };
            },
        };
        using (MParticleSettings(server.BaseUrl))
        {
            await using var host = RunnerHost.Create(new RunnerOptions(null, store, null, NewStoreFormat: format));
            running = host;
            if (host.Embedded is LogStore log)
            {
                log.Events.KeepAtMost = keepStoredEvents ? log.Events.KeepAtMost : 0;
            }

            var summary = await new RelayRunner(host, TextWriter.Null, TimeProvider.System) { PushEvery = 500, PushBeside = beside }
                .RunAsync(InputFiles.Read([corpus]), showProgress: false, default);
            Assert.Null(summary.Interrupted);
            Assert.Equal(0, summary.PendingEvents);
            var ledger = await host.Embedded!.LedgerAsync(default);
            var requests = server.Received.Select(r => Convert.ToBase64String(r.Body)).Order(StringComparer.Ordinal).ToList();
            var quarantined = Directory.GetFiles(RunnerHost.QuarantinePath(store), "*.json", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(RunnerHost.QuarantinePath(store), f)[11..]) // without the yyyy/MM/dd of the day it ran
                .Order(StringComparer.Ordinal).ToList();
            return (ledger, requests, quarantined, [.. atArrival], (host.Embedded as LogStore)?.Events.EventsHanded ?? 0);
        }
    }

    /// <summary>Sets the runner's mParticle settings as production does (CTMP_ variables) until disposed.</summary>
    private static Disposer MParticleSettings(Uri baseUrl)
    {
        var settings = Settings(baseUrl);
#pragma warning disable RS0030 // the settings reach the runner as they do in production: CTMP_ variables
        foreach (var (key, value) in settings)
        {
            Environment.SetEnvironmentVariable(key, value);
        }

        return new Disposer(() =>
        {
            foreach (var key in settings.Keys)
            {
                Environment.SetEnvironmentVariable(key, null);
            }
        });
#pragma warning restore RS0030
    }

    /// <summary>The runner's mParticle settings for a loopback Events API.</summary>
    private static Dictionary<string, string> Settings(Uri baseUrl) => new()
    {
        ["CTMP_MPARTICLE_API_KEY"] = "k",
        ["CTMP_MPARTICLE_API_SECRET"] = "s",
        ["CTMP_MParticle__Inputs__0__BaseUrl"] = baseUrl.ToString(),
    };

    private sealed class Disposer(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }

    private static TrackingEvent Event()
    {
        var key = "beside/" + Guid.NewGuid().ToString("N");
        return new SignedIn(new EventContext(Uuid5.ForEvent(key), key, new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero),
            EventSource.Storefront, key, "acme-de", new Region("DE"), new UserIds("c-1")), "password");
    }

    /// <summary>Analytics consent, stated later each time (a newer statement wins the merge).</summary>
    private static ConsentSnapshot Consent(bool granted) =>
        new(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(granted, TimeProvider.System.GetUtcNow()) });

    private static bool Analytics(UserConsent? state) => state!.Consent.Gdpr["analytics"].Consented;
}
