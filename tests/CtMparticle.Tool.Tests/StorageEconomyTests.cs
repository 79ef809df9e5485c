using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using Azure.Core.Diagnostics;
using CtMparticle.Delivery;
using CtMparticle.Pipeline;
using CtMparticle.Tests.Infrastructure;
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
#pragma warning restore RS0030

    [Fact]
    public async Task IngestAndPushOnAzure_CostABoundedNumberOfStorageTransactions_PerInputAndPerEvent()
    {
        var count = Inputs;
        using var corpus = new MemoryStream();
        new CorpusGenerator(7).Write(corpus, count);
        var lines = System.Text.Encoding.UTF8.GetString(corpus.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        using var settings = CtmpAzureReplayTests.AzureSettings(azurite, prefix);
        await using var host = RunnerHost.Create(new RunnerOptions(null, new DirectoryInfo(Path.Combine(work, "store")), new DirectoryInfo(Path.Combine(work, "out")), AzureStorage: true));
        _ = host.Ingest; // the tables are created here, before counting
        _ = host.Get<PushPipeline>();

        using var requests = new StorageRequests(prefix);
        var outcomes = new Dictionary<IngestOutcomeKind, int>();
        foreach (var line in lines)
        {
            var outcome = await host.Ingest.IngestAsync(new Inbound(System.Text.Encoding.UTF8.GetBytes(line)), CancellationToken.None);
            outcomes[outcome.Kind] = outcomes.GetValueOrDefault(outcome.Kind) + 1;
        }

        var ingest = requests.Take();
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

        var push = requests.Take();
        var perInput = (double)ingest.Total / lines.Length;
        var perEvent = (double)push.Total / delivered;
        output.WriteLine($"{lines.Length:N0} inputs ({string.Join(", ", outcomes.Select(o => $"{o.Key} {o.Value}"))}), {delivered:N0} events delivered in {runs} push run(s)");
        output.WriteLine($"ingest: {ingest.Total:N0} storage transactions, {perInput:F2} per input; {ingest}");
        output.WriteLine($"push:   {push.Total:N0} storage transactions, {perEvent:F2} per delivered event; {push}");

        Assert.True(delivered > lines.Length / 2, $"only {delivered} events delivered");
        // Budgets just above what was measured (5.6 per input since links seen before are no longer read back, 1.2 per
        // delivered event, at 1,000 deliveries): a change that adds a read or a write per input or per event fails
        // here, and the figures above say where. (Issue 17's target is 2 and 1: not reached.)
        Assert.InRange(perInput, 1, 6);
        Assert.InRange(perEvent, 0.1, 1.5);
    }

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
