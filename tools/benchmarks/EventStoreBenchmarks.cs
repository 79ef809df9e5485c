using BenchmarkDotNet.Attributes;
using CtMparticle.Embedded;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using CtMparticle.Tracking;

/// <summary>
/// The writer's event-store work per input (ADR 0007): store new events in batches of 5,000 and settle a push of them
/// (read 2,500 pending, remove them as delivered, twice), on the SQLite store and on the log's event store, each
/// holding the dedupe records of 100,000 earlier events, as after a 100,000-delivery run. The event is the order
/// sample's purchase (its JSON about as large as the relay's average), under a new id each time. "Replay" stores
/// 5,000 events the store has seen: every one a duplicate, answered from the store.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(warmupCount: 2, iterationCount: 12, invocationCount: 1)]
public class EventStoreBenchmarks
{
    private const int Batch = 5_000;
    private const int Earlier = 100_000;
    private string folder = "";
    private TrackingEvent template = null!;
    private IEventStore store = null!;
    private Func<Task> begin = null!;
    private Func<Task> commit = null!;
    private IDisposable owner = null!;
    private int next;

    [Params("sqlite", "log")]
    public string Store { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        template = BenchSamples.Order().Events[0];
        folder = Directory.CreateTempSubdirectory("ctmp-bench-store-").FullName;
        if (Store == "sqlite")
        {
            var sqlite = SqliteStore.Open(Path.Combine(folder, "state.db"), TimeProvider.System);
            (store, begin, commit, owner) = (sqlite, () => sqlite.BeginBatchAsync(default), () => sqlite.CommitBatchAsync(default), sqlite);
        }
        else
        {
            var log = LogStore.Open(folder, TimeProvider.System);
            (store, begin, commit, owner) = (log.Events, () => log.BeginBatchAsync(default), () => log.CommitBatchAsync(default), log);
        }

        for (var i = 0; i < Earlier / Batch; i++)
        {
            StoreAndSettle().GetAwaiter().GetResult();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        owner.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "store 5,000 new events, settle their push")]
    public async Task<int> StoreAndSettle()
    {
        await begin();
        for (var i = 0; i < Batch; i++)
        {
            await store.TryAddAsync(Next(next++), $"m-{next}", default);
        }

        await commit();
        await begin();
        var settled = 0;
        for (var push = 0; push < 2; push++)
        {
            var pending = await store.ReadPendingAsync(Batch / 2, default);
            await store.RemovePendingAsync([.. pending.Select(p => p.Key)], EventFate.Delivered, default);
            settled += pending.Count;
        }

        await commit();
        return settled;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "replay 5,000 seen events (duplicates)")]
    public async Task<int> Replay()
    {
        await begin();
        var duplicates = 0;
        var from = Random.Shared.Next(0, Earlier - Batch);
        for (var i = from; i < from + Batch; i++)
        {
            duplicates += await store.TryAddAsync(Next(i), "m-replay", default) == AddResult.Duplicate ? 1 : 0;
        }

        await commit();
        return duplicates;
    }

    private TrackingEvent Next(int i) => template with { Context = template.Context with { EventId = Uuid5.ForEvent($"bench-{i}") } };
}
