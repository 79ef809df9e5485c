using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using Azure.Core.Diagnostics;
using CtMparticle.Delivery;
using CtMparticle.Hosting;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using CtMparticle.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// What the relay costs in Azure Storage transactions (each one billed, and each counted against a partition's and an
/// account's scalability targets): a generated corpus through ingest and then push on Azurite, every HTTP request the
/// Azure SDK clients make counted from the SDK's own request events (docs/performance.md, "Storage transactions on
/// Azure"). CI runs 1,000 deliveries; <c>CTMP_ECONOMY_INPUTS</c> runs more.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class StorageEconomyTests(AzuriteFixture azurite, ITestOutputHelper output) : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-economy-").FullName;
    private readonly string prefix = "t" + Guid.NewGuid().ToString("N")[..10];

#pragma warning disable RS0030 // a knob of the test run (docs/performance.md), not a relay setting
    private static int Inputs =>
        int.TryParse(Environment.GetEnvironmentVariable("CTMP_ECONOMY_INPUTS"), System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 1_000;

    /// <summary>
    /// The function app's largest Service Bus batch (host.json <c>maxMessageBatchSize</c>); <c>CTMP_ECONOMY_BATCH</c> writes behind
    /// in batches of another size (a quiet subscription's are small).
    /// </summary>
    private static int BatchSize =>
        int.TryParse(Environment.GetEnvironmentVariable("CTMP_ECONOMY_BATCH"), System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0 ? n : HostBatchSize();
#pragma warning restore RS0030

    private static int HostBatchSize()
    {
        using var host = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot.Find(), "host.json")));
        return host.RootElement.GetProperty("extensions").GetProperty("serviceBus").GetProperty("maxMessageBatchSize").GetInt32();
    }

    [Fact]
    public async Task IngestAndPushOnAzure_CostABoundedNumberOfStorageTransactions_PerInputAndPerEvent()
    {
        var lines = Corpus(Inputs);
        await using var host = Host(prefix, "store");
        using var requests = new StorageRequests(prefix);

        var outcomes = await IngestAsync(host, lines, BatchSize);
        var ingest = requests.Take();
        var (delivered, runs) = await PushAllAsync(host);
        var push = requests.Take();

        var perInput = (double)ingest.Total / lines.Length;
        var perEvent = (double)push.Total / delivered;
        output.WriteLine($"{lines.Length:N0} inputs in batches of {BatchSize} ({string.Join(", ", outcomes.GroupBy(o => o).Select(o => $"{o.Key} {o.Count()}"))}), {delivered:N0} events delivered in {runs} push run(s)");
        output.WriteLine($"ingest: {ingest.Total:N0} storage transactions, {perInput:F2} per input; {ingest}");
        output.WriteLine($"push:   {push.Total:N0} storage transactions, {perEvent:F2} per delivered event; {push}");

        Assert.True(delivered > lines.Length / 2, $"only {delivered} events delivered");
        // Budgets just above what was measured at 1,000 deliveries in host.json's batches (1.14 per input: written behind,
        // each state read once per batch, a user's consent and links in one range, and no event looked up before its
        // flush; 0.57 per delivered event, each user's consent and links read once per push run): a change that adds a
        // read or a write per input or per event fails here (so does a push without its read scope: 0.81), and
        // the figures above say where. Ingest was 1.04 before order contexts kept their version: a follow-up settled in
        // the same batch as its OrderCreated now reads the order's versions (the table may hold a newer one, fetched
        // before), where it took the batch's own write; about 100 reads in this corpus, whose follow-ups come minutes
        // after their order (in production they come hours later, in other batches, and read anyway). They hold for CI's corpus only: with the knobs set this test measures (a larger
        // corpus has more customers and fewer repeats; docs/performance.md has the figures).
        if (Inputs == 1_000 && BatchSize == HostBatchSize())
        {
            Assert.InRange(perInput, 1, 1.2);
            Assert.InRange(perEvent, 0.1, 0.65);
        }
    }

    [Fact]
    public async Task IngestInWriteBehindBatches_LeavesTheTablesAsIngestingOneByOne_AndPushesTheSame()
    {
        var lines = Corpus(Math.Min(Inputs, 1_000));
        var one = prefix + "a";
        var batched = prefix + "b";

        await using var hostOne = Host(one, "one");
        await using var hostBatched = Host(batched, "batched");
        var oneByOne = await IngestAsync(hostOne, lines, batchSize: 0);
        var inBatches = await IngestAsync(hostBatched, lines, batchSize: 100); // ten flushes: later batches read what earlier ones wrote

        Assert.Equal(oneByOne, inBatches);
        await AssertSameRowsAsync(one, batched, "events", "orders", "consent", "links");

        Assert.Equal((await PushAllAsync(hostOne)).Delivered, (await PushAllAsync(hostBatched)).Delivered);
    }

    /// <summary>
    /// Two function instances given the same messages at once (Service Bus redelivers a batch whose lock was lost while
    /// the first instance still works on it): both write behind, each taking events it does not know as new, and their
    /// flushes race. Every event is still stored once (one dedupe record, at most one outbox entry), the same events as
    /// one instance stores, every user's consent ends the same, and no message is lost. Which gate decision a race gives
    /// may differ from one instance's (consent learnt by the other instance's later messages can arrive first), so
    /// outcomes are not compared one to one, nor the consent updates refused events taught.
    /// </summary>
    [Fact]
    public async Task TwoInstancesIngestingTheSameMessagesAtOnce_StoreEachEventOnce()
    {
        var lines = Corpus(600);
        var one = prefix + "e";
        var raced = prefix + "f";
        await using var hostOne = Host(one, "alone");
        await using var hostRaced = Host(raced, "raced");
        var alone = await IngestAsync(hostOne, lines, batchSize: 100);

        // Each instance in its own flow (its own write-behind batch), as two function invocations are.
        Task<IReadOnlyList<IngestOutcomeKind>> Instance()
        {
            using (ExecutionContext.SuppressFlow())
            {
                return Task.Run(() => IngestAsync(hostRaced, lines, batchSize: 100));
            }
        }

        var both = await Task.WhenAll(Instance(), Instance());

        Assert.All(both, outcomes => Assert.Equal(lines.Length, outcomes.Count));
        var expected = await EventRowsAsync(one + "events");
        var actual = await EventRowsAsync(raced + "events");
        // The same events, but for the consent a refused event taught (ConsentStage.ConsentLearnt): whether an event is
        // refused, and whether what it stated is still the newest, depends on which of the other instance's later
        // consent the race let arrive first. What every user's consent ends as does not: per purpose the newest.
        Assert.Equal(expected.Seen.Except(expected.Learnt).Order(StringComparer.Ordinal), actual.Seen.Except(actual.Learnt).Order(StringComparer.Ordinal));
        Assert.Equal(await ConsentStatesAsync(one), await ConsentStatesAsync(raced));
        Assert.All(actual.Pending.GroupBy(id => id), g => Assert.Single(g));
        Assert.Subset(actual.Seen.ToHashSet(StringComparer.Ordinal), actual.Pending.ToHashSet(StringComparer.Ordinal));
        Assert.True(actual.Pending.Count > alone.Count(o => o == IngestOutcomeKind.Accepted) / 2, $"only {actual.Pending.Count} events pending");
    }

    /// <summary>
    /// The collector's function settles each request's calls written behind (<see cref="CtMparticle.Sources.Collector.CollectorCalls"/>
    /// with the function app's <see cref="IBatchSettler"/>): storefront requests of 25 calls (ctmp load's calls: product
    /// views, adds to cart and sign-ins of 5,000 shoppers, a tenth of them sent twice), settled call by call and written
    /// behind, leave the same outcomes and the same rows, for fewer transactions.
    /// </summary>
    [Fact]
    public async Task CollectorRequests_WrittenBehind_LeaveTheTablesAsCallByCall_ForFewerTransactions()
    {
        var random = new Random(7);
        // Timed by the tracker, so both runs store the same events (an untimed call takes the time it is received).
        var calls = Enumerable.Range(0, 1_000).Select(i => "{\"timestamp\":\"2026-11-27T08:00:00Z\"," + LoadCommand.Call(i, random)[1..]).ToList();
        calls.AddRange(Enumerable.Range(0, 100).Select(_ => calls[random.Next(1_000)]));
        var requests = calls.OrderBy(_ => random.Next()).Chunk(25).Select(chunk => "{\"batch\":[" + string.Join(',', chunk) + "]}").ToArray();
        var one = prefix + "c";
        var behind = prefix + "d";
        using var collector = new CtmpAzureReplayTests.EnvironmentScope(new Dictionary<string, string>
        {
            ["CTMP_COLLECTOR_WRITE_KEY"] = "economy-key",
            ["CTMP_Collector__Sources__0__RateLimitPerSecond"] = "1000000",
        });
        await using var hostOne = Host(one, "calls-one");
        await using var hostBehind = Host(behind, "calls-behind");
        using var counted = new StorageRequests(prefix);

        var atOnce = await CollectAsync(new CtMparticle.Sources.Collector.CollectorCalls(
            hostOne.Get<CtMparticle.Sources.Collector.CollectorIngest>(), hostOne.Get<CtMparticle.Sources.Collector.CollectorRateLimits>(),
            hostOne.Get<Microsoft.Extensions.Options.IOptions<CtMparticle.Configuration.CollectorOptions>>(), hostOne.Get<Microsoft.Extensions.Configuration.IConfiguration>(),
            hostOne.Get<TimeProvider>(), hostOne.Get<Microsoft.Extensions.Logging.ILogger<CtMparticle.Sources.Collector.CollectorCalls>>()), requests);
        var oneCost = counted.Take();
        var writtenBehind = await CollectAsync(hostBehind.Get<CtMparticle.Sources.Collector.CollectorCalls>(), requests);
        var behindCost = counted.Take();

        output.WriteLine($"{calls.Count:N0} calls in {requests.Length} requests ({string.Join(", ", writtenBehind.GroupBy(o => o).Select(o => $"{o.Key} {o.Count()}"))})");
        output.WriteLine($"call by call:   {oneCost.Total:N0} storage transactions, {(double)oneCost.Total / calls.Count:F2} per call; {oneCost}");
        output.WriteLine($"written behind: {behindCost.Total:N0} storage transactions, {(double)behindCost.Total / calls.Count:F2} per call; {behindCost}");

        Assert.Equal(atOnce, writtenBehind);
        Assert.All(writtenBehind, o => Assert.Equal(IngestOutcomeKind.Accepted, o)); // a call sent again (same messageId) is answered as stored
        await AssertSameRowsAsync(one, behind, "events", "consent", "links");

        Assert.True(behindCost.Total < oneCost.Total, $"written behind {behindCost.Total}, call by call {oneCost.Total}");
    }

    private static async Task<IReadOnlyList<IngestOutcomeKind>> CollectAsync(CtMparticle.Sources.Collector.CollectorCalls collector, string[] requests)
    {
        var outcomes = new List<IngestOutcomeKind>();
        var auth = "Basic " + Convert.ToBase64String("economy-key:"u8);
        foreach (var request in requests)
        {
            var result = await collector.HandleAsync(
                new CtMparticle.Sources.Collector.CollectorRequest("POST", "batch", auth, null, System.Text.Encoding.UTF8.GetBytes(request)), CancellationToken.None);
            Assert.Equal(200, result.Response.Status);
            outcomes.AddRange(result.Calls.Select(c => c.Outcome.Kind));
        }

        return outcomes;
    }

    private static string[] Corpus(int count)
    {
        using var corpus = new MemoryStream();
        new CorpusGenerator(7).Write(corpus, count);
        return System.Text.Encoding.UTF8.GetString(corpus.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>A runner on Azurite, on tables and a container named with <paramref name="tables"/>.</summary>
    private RunnerHost Host(string tables, string name)
    {
        using var settings = CtmpAzureReplayTests.AzureSettings(azurite, tables); // read when the host is built
        var host = RunnerHost.Create(new RunnerOptions(null, new DirectoryInfo(Path.Combine(work, name)), new DirectoryInfo(Path.Combine(work, name + "-out")), AzureStorage: true));
        _ = host.Ingest; // the tables are created here, before counting
        _ = host.Get<PushPipeline>();
        // As the function app's start does (StoreLayoutCheck): records that no state is left in an older layout, so the
        // stores read one place (ctmp itself only checks the layout).
        foreach (var upgrade in host.Services.GetServices<IStoreUpgrade>())
        {
            upgrade.UpgradeAsync(CancellationToken.None).GetAwaiter().GetResult();
        }

        return host;
    }

    /// <summary>Ingests the lines one by one (<paramref name="batchSize"/> 0), or as the function app does: each batch's writes behind, flushed at its end.</summary>
    private static async Task<IReadOnlyList<IngestOutcomeKind>> IngestAsync(RunnerHost host, string[] lines, int batchSize)
    {
        var outcomes = new List<IngestOutcomeKind>(lines.Length);
        var ingest = host.Get<WriteBehindIngest>();
        foreach (var batch in lines.Chunk(batchSize > 0 ? batchSize : 1))
        {
            var inputs = batch.Select((line, i) => new Inbound(System.Text.Encoding.UTF8.GetBytes(line), "m-" + (outcomes.Count + i))).ToArray();
            if (batchSize == 0)
            {
                outcomes.Add((await host.Ingest.IngestAsync(inputs[0], CancellationToken.None)).Kind);
                continue;
            }

            outcomes.AddRange((await ingest.SettleAsync(inputs, host.Ingest.IngestAsync, CancellationToken.None)).Select(o => o.Kind));
        }

        return outcomes;
    }

    private static async Task<(int Delivered, int Runs)> PushAllAsync(RunnerHost host)
    {
        var delivered = 0;
        var runs = 0;
        while (runs++ < 20)
        {
            var report = await host.Get<PushPipeline>().PushAsync(CancellationToken.None);
            delivered += report.Delivered;
            if (report.Requests == 0)
            {
                break;
            }
        }

        return (delivered, runs);
    }

    /// <summary>
    /// The event ids of a table's dedupe records, of its outbox entries (one per entry), and of the consent updates
    /// refused events taught (their dedupe keys end in <c>/consent</c>).
    /// </summary>
    private async Task<(List<string> Seen, List<string> Pending, List<string> Learnt)> EventRowsAsync(string tableName)
    {
        var table = new Azure.Data.Tables.TableClient(azurite.ConnectionString, tableName);
        var (seen, pending, learnt) = (new List<string>(), new List<string>(), new List<string>());
        await foreach (var entity in table.QueryAsync<Azure.Data.Tables.TableEntity>(select: ["PartitionKey", "RowKey", "DedupeKey"]))
        {
            if (entity.RowKey.StartsWith("seen|", StringComparison.Ordinal))
            {
                seen.Add(entity.RowKey["seen|".Length..]);
                if (entity.GetString("DedupeKey")?.EndsWith("/consent", StringComparison.Ordinal) == true)
                {
                    learnt.Add(seen[^1]);
                }
            }
            else if (entity.RowKey.StartsWith("pending|", StringComparison.Ordinal))
            {
                pending.Add(entity.RowKey[(entity.RowKey.LastIndexOf('|') + 1)..]);
            }
        }

        return (seen, pending, learnt);
    }

    /// <summary>
    /// Every user's consent under a prefix (customers' beside their links, the others' in the consent table), each
    /// purpose with its state and time, in a canonical order.
    /// </summary>
    private async Task<SortedDictionary<string, string>> ConsentStatesAsync(string tablePrefix)
    {
        var states = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in new[] { "consent", "links" })
        {
            var table = new Azure.Data.Tables.TableClient(azurite.ConnectionString, tablePrefix + name);
            await foreach (var entity in table.QueryAsync<Azure.Data.Tables.TableEntity>())
            {
                if (entity.GetString("Consent") is { } json)
                {
                    var consent = System.Text.Json.JsonSerializer.Deserialize(json, CtMparticle.Storage.RelayJsonContext.Default.ConsentSnapshot)!;
                    states[entity.RowKey] = string.Join(",", consent.Gdpr.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value.Consented}@{p.Value.At:o}"))
                        + $";ccpa={consent.CcpaDataSaleOptOut?.Consented}@{consent.CcpaDataSaleOptOut?.At:o}";
                }
            }
        }

        Assert.NotEmpty(states);
        return states;
    }

    /// <summary>Each table holds the same rows (as <see cref="RowsAsync"/> compares them) under both prefixes, and some.</summary>
    private async Task AssertSameRowsAsync(string expectedPrefix, string actualPrefix, params string[] tables)
    {
        foreach (var table in tables)
        {
            var expected = await RowsAsync(expectedPrefix + table);
            var actual = await RowsAsync(actualPrefix + table);
            Assert.True(expected.Count > 0, $"{table}: nothing stored");
            Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
            foreach (var (key, row) in expected)
            {
                Assert.True(row == actual[key], $"{table} {key}:\n  one at a time: {row}\n  written behind: {actual[key]}");
            }
        }
    }

    /// <summary>
    /// A table's rows as comparable text, by key: the times a write took from the clock (when it was seen, enqueued or
    /// updated) left out, and so the enqueue time inside an outbox row's key.
    /// </summary>
    private async Task<Dictionary<string, string>> RowsAsync(string tableName)
    {
        var table = new Azure.Data.Tables.TableClient(azurite.ConnectionString, tableName);
        var rows = new Dictionary<string, string>(StringComparer.Ordinal);
        await foreach (var entity in table.QueryAsync<Azure.Data.Tables.TableEntity>())
        {
            var properties = entity
                .Where(p => p.Key is not ("PartitionKey" or "RowKey" or "Timestamp" or "odata.etag" or "SeenAt" or "NotBefore" or "UpdatedAt"))
                .OrderBy(p => p.Key, StringComparer.Ordinal)
                .Select(p => $"{p.Key}={(p.Key == "PendingRowKey" ? WithoutTicks(p.Value as string) : p.Value is byte[] b ? Convert.ToBase64String(b) : Convert.ToString(p.Value, System.Globalization.CultureInfo.InvariantCulture))}");
            rows[entity.PartitionKey + "/" + WithoutTicks(entity.RowKey)] = string.Join("; ", properties);
        }

        return rows;
    }

    private static string? WithoutTicks(string? row) =>
        row is not null && row.StartsWith("pending|", StringComparison.Ordinal) ? "pending|" + row[(row.LastIndexOf('|') + 1)..] : row;

    public void Dispose() => Directory.Delete(work, recursive: true);

    /// <summary>Counts the HTTP requests of every Azure SDK client in this process (Azure.Core's "Request" event), by method and resource.</summary>
    private sealed class StorageRequests : IDisposable
    {
        private readonly AzureEventSourceListener listener;
        private ConcurrentDictionary<string, int> counts = new(StringComparer.Ordinal);

        public StorageRequests(string prefix) =>
            listener = new AzureEventSourceListener((e, _) =>
            {
                if (e.EventSource.Name == "Azure-Core" && e.EventName == "Request" && e.Payload is { Count: >= 3 } payload)
                {
                    counts.AddOrUpdate($"{payload[1]} {Resource(payload[2] as string).Replace(prefix, string.Empty, StringComparison.Ordinal)}", 1, (_, c) => c + 1);
                }
            }, EventLevel.Informational);

        public Counted Take()
        {
            var taken = Interlocked.Exchange(ref counts, new ConcurrentDictionary<string, int>(StringComparer.Ordinal));
            return new Counted(taken.Values.Sum(), taken.OrderByDescending(c => c.Value).ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal));
        }

        public void Dispose() => listener.Dispose();

        /// <summary>The table or container a request went to, without keys or the query.</summary>
        private static string Resource(string? uri)
        {
            if (uri is null || !Uri.TryCreate(uri, UriKind.Absolute, out var parsed))
            {
                return "?";
            }

            var path = parsed.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
            var resource = path.Length > 1 ? path[1] : "?";
            var paren = resource.IndexOf('(', StringComparison.Ordinal);
            return paren > 0 ? resource[..paren] + (resource.EndsWith("()", StringComparison.Ordinal) ? " query" : " entity") : resource;
        }
    }

    private sealed record Counted(int Total, IReadOnlyDictionary<string, int> ByRequest)
    {
        public override string ToString() => string.Join(", ", ByRequest.Select(c => $"{c.Key} {c.Value}"));
    }
}
