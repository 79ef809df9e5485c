using BenchmarkDotNet.Attributes;
using CtMparticle.Consent;
using CtMparticle.Embedded;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using CtMparticle.Tracking;

/// <summary>
/// The writer's order-context and consent work per operation (ADR 0007, step 3), on the SQLite store and on the log's
/// stores, each already holding 40,000 order contexts and 60,000 users' consent (about what a 100,000-delivery run
/// leaves): save 5,000 new contexts, find 5,000 stored ones by order, merge 5,000 consent changes into stored users,
/// each in one batch, and read 5,000 users' consent. The context is the order sample's (about 1.2 KB of JSON).
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(warmupCount: 2, iterationCount: 12, invocationCount: 1)]
public class StateStoreBenchmarks
{
    private const int Batch = 5_000;
    private const int Orders = 40_000;
    private const int Users = 60_000;
    private string folder = "";
    private OrderContext template = null!;
    private IOrderContextStore orders = null!;
    private IConsentStore consent = null!;
    private Func<Task> begin = null!;
    private Func<Task> commit = null!;
    private IDisposable owner = null!;
    private int next;

    [Params("sqlite", "log")]
    public string Store { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        template = BenchSamples.Order().OrderContext ?? throw new InvalidOperationException("The order sample leaves no order context.");
        folder = Directory.CreateTempSubdirectory("ctmp-bench-state-").FullName;
        if (Store == "sqlite")
        {
            var sqlite = SqliteStore.Open(Path.Combine(folder, "state.db"), TimeProvider.System);
            (orders, consent, begin, commit, owner) = (sqlite, sqlite, () => sqlite.BeginBatchAsync(default), () => sqlite.CommitBatchAsync(default), sqlite);
        }
        else
        {
            var log = LogStore.Open(folder, TimeProvider.System);
            (orders, consent, begin, commit, owner) = (log.Orders, log.Consent, () => log.BeginBatchAsync(default), () => log.CommitBatchAsync(default), log);
        }

        for (var i = 0; i < Orders / Batch; i++)
        {
            SaveOrders().GetAwaiter().GetResult();
        }

        begin().GetAwaiter().GetResult();
        for (var user = 0; user < Users; user++)
        {
            consent.MergeAsync($"customer:c-{user}", Snapshot(user), new StatedRegion(new Region("DE"), DateTimeOffset.UnixEpoch), default).GetAwaiter().GetResult();
        }

        commit().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        owner.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "save 5,000 new order contexts")]
    public async Task SaveOrders()
    {
        await begin();
        for (var i = 0; i < Batch; i++)
        {
            var n = next++;
            await orders.SaveAsync(template with { OrderId = $"order-{n}", PaymentIds = [$"pay-{n}"], Version = 1 }, default);
        }

        await commit();
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "find 5,000 stored contexts by order")]
    public async Task<int> FindOrders()
    {
        var found = 0;
        for (var i = 0; i < Batch; i++)
        {
            found += await orders.FindByOrderAsync($"order-{Random.Shared.Next(0, Orders)}", default) is null ? 0 : 1;
        }

        return found;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "merge 5,000 consent changes")]
    public async Task MergeConsent()
    {
        await begin();
        for (var i = 0; i < Batch; i++)
        {
            var user = Random.Shared.Next(0, Users);
            await consent.MergeAsync($"customer:c-{user}", Snapshot(user + i), null, default);
        }

        await commit();
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "read 5,000 stored users' consent")]
    public async Task<int> GetConsent()
    {
        var found = 0;
        for (var i = 0; i < Batch; i++)
        {
            found += await consent.GetAsync($"customer:c-{Random.Shared.Next(0, Users)}", default) is null ? 0 : 1;
        }

        return found;
    }

    private static ConsentSnapshot Snapshot(int seed) =>
        new(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(seed % 3 != 0, DateTimeOffset.UnixEpoch.AddMinutes(seed)) });
}
