using System.Collections.Concurrent;
using CtMparticle.Consent;
using CtMparticle.Embedded;
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

    [Fact]
    public async Task PushingBesideTheIngest_SendsAndRecordsWhatPushingInTurnDoes_WhileTheIngestGoesOnDuringTheRoundTrips()
    {
        var corpus = Path.Combine(work, "corpus.ndjson");
        Assert.Equal(0, (await CtmpCommandTests.RunAsync("generate", "--count", "3000", "--out", corpus, "--seed", "5", "--disorder", "50")).Exit);

        var inTurn = await RelayAsync("in-turn", beside: false, corpus);
        var beside = await RelayAsync("beside", beside: true, corpus);

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

    [Fact]
    public async Task ARequestSavedInsideABatch_IsDurableAtOnce_WithWhatTheBatchWroteBeforeIt()
    {
        var file = Path.Combine(work, "state.db");
        await using var store = SqliteStore.Open(file, TimeProvider.System, 16);
        await store.BeginBatchAsync(default);
        Assert.Equal(AddResult.Added, await store.TryAddAsync(Event(), "m-1", default));
        await store.SaveInFlightAsync(new InFlightRequest("r-1", "default", [1, 2, 3], [], TimeProvider.System.GetUtcNow()), default);
        Assert.Equal(AddResult.Added, await store.TryAddAsync(Event(), "m-2", default));

        Assert.Equal((1, 1), Committed(file)); // seen from another connection while the batch is still open
        await store.RollbackBatchAsync(default); // a crash now loses only what came after the request
        Assert.Equal((1, 1), Committed(file));
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

        await using (var view = await SnapshotPushStore.BeginAsync(store, reader, default))
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

        await using var next = await SnapshotPushStore.BeginAsync(store, reader, default);
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

    private static (long InFlight, long Pending) Committed(string file) =>
        (Count(file, "SELECT COUNT(*) FROM inflight"), Count(file, "SELECT COUNT(*) FROM pending"));

    /// <summary>A count as another connection sees the store: what is committed.</summary>
    private static long Count(string file, string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    private async Task<(IReadOnlyList<LedgerRow> Ledger, List<string> Requests, List<string> Quarantined, List<long> LedgerAtArrival)> RelayAsync(
        string name, bool beside, string corpus)
    {
        var store = new DirectoryInfo(Path.Combine(work, name, "store"));
        store.Create();
        var database = RunnerHost.DatabasePath(store);
        var atArrival = new ConcurrentQueue<long>();
        // Answers take 40 ms, so a push's requests are on their way for a while; each arrival notes how many inputs the
        // ledger held then (what is committed: the store commits the batch with each request it saves).
        await using var server = new EventsApiServer
        {
            Respond = (_, _) =>
            {
                atArrival.Enqueue(Count(database, "SELECT COUNT(*) FROM inputs"));
                return ScriptedResponse.Accepted with { Delay = TimeSpan.FromMilliseconds(40) };
            },
        };
#pragma warning disable RS0030 // the settings reach the runner as they do in production: CTMP_ variables
        Environment.SetEnvironmentVariable("CTMP_MPARTICLE_API_KEY", "k");
        Environment.SetEnvironmentVariable("CTMP_MPARTICLE_API_SECRET", "s");
        Environment.SetEnvironmentVariable("CTMP_MParticle__Inputs__0__BaseUrl", server.BaseUrl.ToString());
        try
        {
            await using var host = RunnerHost.Create(new RunnerOptions(null, store, null));
            var summary = await new RelayRunner(host, TextWriter.Null, TimeProvider.System) { PushEvery = 500, PushBeside = beside }
                .RunAsync(InputFiles.Read([corpus]), showProgress: false, default);
            Assert.Null(summary.Interrupted);
            Assert.Equal(0, summary.PendingEvents);
            var ledger = await host.Embedded!.LedgerAsync(default);
            var requests = server.Received.Select(r => Convert.ToBase64String(r.Body)).Order(StringComparer.Ordinal).ToList();
            var quarantined = Directory.GetFiles(RunnerHost.QuarantinePath(store), "*.json", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(RunnerHost.QuarantinePath(store), f)[11..]) // without the yyyy/MM/dd of the day it ran
                .Order(StringComparer.Ordinal).ToList();
            return (ledger, requests, quarantined, [.. atArrival]);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CTMP_MPARTICLE_API_KEY", null);
            Environment.SetEnvironmentVariable("CTMP_MPARTICLE_API_SECRET", null);
            Environment.SetEnvironmentVariable("CTMP_MParticle__Inputs__0__BaseUrl", null);
        }
#pragma warning restore RS0030
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
