using System.Diagnostics;
using CtMparticle.Consent;
using CtMparticle.Hosting;
using CtMparticle.Storage;
using CtMparticle.Tests;
using CtMparticle.Tests.Infrastructure;
using CtMparticle.Tracking;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace CtMparticle.Functions.Tests;

/// <summary>
/// The function app's telemetry as it leaves the worker: the host's own setup (<c>AddRelayTelemetry</c>, as Program.cs
/// calls it) with in-memory exporters in place of Azure Monitor, after a real ingest and push (Azurite, a local
/// Events API). What the workbook and alerts query must be what is exported: these names, dimensions and categories.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed partial class TelemetryTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly List<Metric> metrics = [];
    private readonly List<LogRecord> logs = [];
    private readonly List<Activity> spans = [];
    private EventsApiServer server = null!;
    private ServiceProvider services = null!;

    public Task InitializeAsync()
    {
        server = new EventsApiServer();
        services = Build();
        return Task.CompletedTask;
    }

    /// <summary>The function app's services with in-memory exporters, on tables of their own; <paramref name="also"/> changes them after.</summary>
    private ServiceProvider Build(Action<IServiceCollection>? also = null)
    {
        var prefix = "t" + Guid.NewGuid().ToString("N")[..10];
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = azurite.ConnectionString,
            ["Storage:EventsTable"] = prefix + "events",
            ["Storage:OrdersTable"] = prefix + "orders",
            ["Storage:ConsentTable"] = prefix + "consent",
            ["Storage:LinksTable"] = prefix + "links",
            ["Storage:QuarantineContainer"] = prefix + "-quarantine",
            ["Mapping:Environment"] = "production",
            ["MParticle:Inputs:0:Name"] = "web",
            ["MParticle:Inputs:0:ApiKeySetting"] = "K",
            ["MParticle:Inputs:0:ApiSecretSetting"] = "S",
            ["MParticle:Inputs:0:BaseUrl"] = server.BaseUrl.ToString(),
            ["MParticle:DefaultInput"] = "web",
            ["K"] = "k",
            ["S"] = "s",
            ["Collector:Sources:0:Name"] = "web",
            ["Collector:Sources:0:WriteKeySetting"] = "WebWriteKey",
            ["WebWriteKey"] = "web-key",
        }).Build();
        return new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration).AddRelayFunctions(configuration)
            .Also(s => s.AddRelayTelemetry(TelemetryExport.FromFunctionsSettings(configuration), telemetry => telemetry
                .WithMetrics(m => m.AddInMemoryExporter(metrics))
                .WithTracing(t => t.AddInMemoryExporter(spans))
                .WithLogging(l => l.AddInMemoryExporter(logs))))
            .Also(s => also?.Invoke(s))
            .BuildServiceProvider();
    }

    public async Task DisposeAsync()
    {
        await services.DisposeAsync();
        await server.DisposeAsync();
    }

    [Fact]
    public async Task IngestAndPush_ExportTheRelaysMetricsLogsAndSpans_UnderTheNamesTheWorkbookQueries()
    {
        _ = services.GetRequiredService<TracerProvider>();
        var meters = services.GetRequiredService<MeterProvider>();
        var ingest = ActivatorUtilities.CreateInstance<CommercetoolsIngest>(services);
        await ingest.Run([Samples.Bytes(Samples.OrderCreatedRegistered), "{not json"u8.ToArray()], new FakeFunctionContext(new Dictionary<string, object?>()), default);
        await ActivatorUtilities.CreateInstance<PushToMParticle>(services).Run(new Microsoft.Azure.Functions.Worker.TimerInfo(), default);

        meters.ForceFlush();
        services.GetRequiredService<LoggerProvider>().ForceFlush();

        // Metrics: names, and the dimensions the workbook splits by.
        var names = metrics.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        Assert.Superset(new HashSet<string>(StringComparer.Ordinal) { "ctmp.deliveries", "ctmp.events", "ctmp.push.requests", "ctmp.push.latency", "ctmp.outbox.pending", "ctmp.outbox.oldest_age" }, names);
        Assert.Equal(["outcome", "reason"], TagKeys(metrics.First(m => m.Name == "ctmp.deliveries")));
        Assert.Equal(["input", "status"], TagKeys(metrics.First(m => m.Name == "ctmp.push.requests")));
        Assert.Contains(("accepted", "none"), Points(metrics.First(m => m.Name == "ctmp.deliveries")).Select(t => ((string)t["outcome"]!, (string)t["reason"]!)));
        Assert.Contains(("quarantined", "malformed_json"), Points(metrics.First(m => m.Name == "ctmp.deliveries")).Select(t => ((string)t["outcome"]!, (string)t["reason"]!)));

        // The workbook's and alerts' metric queries read only metrics and dimensions that are exported.
        var metricQueries = InfrastructureTests.MonitoringQueries().Where(q => q.StartsWith("customMetrics", StringComparison.Ordinal)).ToList();
        Assert.True(metricQueries.Count >= 5, $"found {metricQueries.Count} metric queries");
        foreach (var query in metricQueries)
        {
            var named = MetricName().Matches(query).Select(m => m.Groups[1].Value).ToList();
            Assert.NotEmpty(named);
            Assert.All(named, n => Assert.True(names.Contains(n), $"the query reads metric {n}, which the relay does not export: {query}"));
            var dimensions = named.SelectMany(n => TagKeys(metrics.First(m => m.Name == n))).ToHashSet(StringComparer.Ordinal);
            foreach (var dimension in DimensionRead().Matches(query).Select(m => m.Groups[1].Value))
            {
                Assert.True(dimensions.Contains(dimension), $"the query reads customDimensions[\"{dimension}\"], which {string.Join(", ", named)} do not carry: {query}");
            }
        }

        // Logs: the relay's own categories and event ids (what KQL filters on), never the host's.
        Assert.Contains(logs, l => l.CategoryName == "CtMparticle.Pipeline.StoreStage" && l.EventId.Id == 1004); // the quarantine
        Assert.All(logs.Where(l => l.CategoryName?.StartsWith("CtMparticle", StringComparison.Ordinal) == true), l => Assert.NotEqual(0, l.EventId.Id));

        // Spans: one per ingested input and one per Events API request, with the ids that tie them to logs and records.
        Assert.Equal(2, spans.Count(s => s.DisplayName == "ctmp.ingest"));
        var request = Assert.Single(spans, s => s.DisplayName == "ctmp.push.request");
        Assert.Equal(202, request.GetTagItem("http.response.status_code"));
        Assert.Matches("^[0-9a-f]{32}$", (string?)request.GetTagItem("ctmp.request_id")); // the request's persisted id, as logged

        // One trace from the push to mParticle: the request carries the span's W3C context, and the push's log lines
        // carry its trace id (App Insights' operation id), so a request, its logs and its span are found together.
        Assert.Contains(request.TraceId.ToHexString(), Assert.Single(server.Received).TraceParent, StringComparison.Ordinal);
        Assert.Contains(logs, l => l.EventId.Id == 2002 && l.TraceId == request.TraceId);
    }

    [Fact]
    public async Task WrittenBehind_AMessageWhoseEventAnotherStoredBefore_IsSettledAgain_AndCountedOnce()
    {
        var meters = services.GetRequiredService<MeterProvider>();
        var context = new FakeFunctionContext(new Dictionary<string, object?>());
        // A first batch stores the order under its message.
        await ActivatorUtilities.CreateInstance<CommercetoolsIngest>(services).Run([Samples.Bytes(Samples.OrderCreatedRegistered)], context, default);
        // Another batch: the same order under another message id (its events are another message's, so it is a
        // duplicate), which the batch takes as new until its flush, and 15 bad bodies.
        var copy = Samples.Json(Samples.OrderCreatedRegistered);
        copy["id"] = Guid.NewGuid().ToString();
        var batch = new[] { Samples.Bytes(copy) }.Concat(Enumerable.Range(0, 15).Select(i => System.Text.Encoding.UTF8.GetBytes($"{{not json {i}"))).ToArray();
        await ActivatorUtilities.CreateInstance<CommercetoolsIngest>(services).Run(batch, context, default);

        meters.ForceFlush();
        services.GetRequiredService<LoggerProvider>().ForceFlush();
        var deliveries = Sums(metrics.Last(m => m.Name == "ctmp.deliveries"));
        Assert.Equal(1, deliveries.GetValueOrDefault(("accepted", "none")));
        Assert.Equal(1, deliveries.GetValueOrDefault(("duplicate", "duplicate")));
        Assert.Equal(15, deliveries.GetValueOrDefault(("quarantined", "malformed_json")));
        Assert.Equal(17, deliveries.Values.Sum());
        Assert.Single(logs, l => l.EventId.Id == 1020);
    }

    /// <summary>
    /// A collector request whose settling fails transiently (storage busy) is answered 503 and counts nothing, not even
    /// what preparing its calls counted (a placeholder identity dropped); the tracker's retry counts each call once.
    /// </summary>
    [Fact]
    public async Task CollectorRequest_AnsweredUnavailable_CountsNothing_AndItsRetryCountsEachCallOnce()
    {
        await using var flaky = Build(s =>
        {
            var consent = s.Last(d => d.ServiceType == typeof(IConsentStore));
            s.Remove(consent);
            s.AddSingleton<IConsentStore>(sp => new BusyOnce((IConsentStore)consent.ImplementationFactory!(sp)));
        });
        var meters = flaky.GetRequiredService<MeterProvider>(); // listening from now on
        var function = ActivatorUtilities.CreateInstance<CollectEvents>(flaky);
        var body = """
            {"batch":[
              {"type":"track","event":"Product Viewed","userId":"undefined","anonymousId":"a-tele-1","messageId":"tele-1","properties":{"sku":"S-1"},"context":{"consent":{"categoryPreferences":{"analytics":true}}}},
              {"type":"track","event":"Product Viewed","anonymousId":"a-tele-2","messageId":"tele-2","properties":{"sku":"S-2"},"context":{"consent":{"categoryPreferences":{"analytics":true}}}}
            ]}
            """;

        async Task<int> SendAsync() => (int)((TestHttpResponse)await function.Run(
            new TestHttpRequest(new FakeFunctionContext(new Dictionary<string, object?>()), "POST", "https://relay.example.com/api/v1/batch",
                System.Text.Encoding.UTF8.GetBytes(body), ("Authorization", "Basic " + Convert.ToBase64String("web-key:"u8))), "batch", default)).StatusCode;

        Assert.Equal(503, await SendAsync());
        Assert.Equal(200, await SendAsync());

        meters.ForceFlush();
        var events = Sums(metrics.Last(m => m.Name == "ctmp.events"));
        var deliveries = Sums(metrics.Last(m => m.Name == "ctmp.deliveries"));
        Assert.Equal(2, deliveries.GetValueOrDefault(("accepted", "none")));
        Assert.Equal(2, deliveries.Values.Sum());
        Assert.Equal(1, events.GetValueOrDefault(("identity_blocked", "customer_id")));
        Assert.Equal(2, events.GetValueOrDefault(("stored", "none")));
    }

    /// <summary>A consent store whose first read or merge fails as a busy storage account answers (503).</summary>
    private sealed class BusyOnce(IConsentStore inner) : IConsentStore
    {
        private int calls;

        public Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken)
        {
            Busy();
            return inner.GetAsync(userKey, cancellationToken);
        }

        public Task<UserConsent> MergeAsync(string userKey, ConsentSnapshot? consent, StatedRegion? region, CancellationToken cancellationToken)
        {
            Busy();
            return inner.MergeAsync(userKey, consent, region, cancellationToken);
        }

        public Task<int> PurgeConsentOlderThanAsync(DateTimeOffset cutoff, Func<UserConsent, bool> keep, CancellationToken cancellationToken) =>
            inner.PurgeConsentOlderThanAsync(cutoff, keep, cancellationToken);

        private void Busy()
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                throw new Azure.RequestFailedException(503, "Server busy");
            }
        }
    }

    [Fact]
    public async Task OneDelivery_IsFollowedFromItsTriggerToTheMParticleRequest_AndItsQuarantineRecordCarriesTheTrace()
    {
        _ = services.GetRequiredService<TracerProvider>();
        using var worker = new ActivitySource("Microsoft.Azure.Functions.Worker"); // the invocation span the Functions worker starts
        using var listener = new ActivityListener { ShouldListenTo = s => s == worker, Sample = (ref _) => ActivitySamplingResult.AllDataAndRecorded };
        ActivitySource.AddActivityListener(listener);

        ActivityTraceId trigger;
        using (var invocation = worker.StartActivity("Invoke CommercetoolsIngest", ActivityKind.Server)!)
        {
            trigger = invocation.TraceId;
            await ActivatorUtilities.CreateInstance<CommercetoolsIngest>(services)
                .Run([Samples.Bytes(Samples.OrderCreatedRegistered), "{not json"u8.ToArray()], new FakeFunctionContext(new Dictionary<string, object?>()), default);
        }

        // A later, separate run (a timer): its own trace, linked to the ingest that stored the events it sends.
        await ActivatorUtilities.CreateInstance<PushToMParticle>(services).Run(new Microsoft.Azure.Functions.Worker.TimerInfo(), default);

        var ingests = spans.Where(s => s.DisplayName == "ctmp.ingest").ToList();
        Assert.Equal(2, ingests.Count);
        Assert.All(ingests, s => Assert.Equal(trigger, s.TraceId));
        var request = Assert.Single(spans, s => s.DisplayName == "ctmp.push.request");
        Assert.NotEqual(trigger, request.TraceId);
        var link = Assert.Single(request.Links);
        Assert.Equal(trigger, link.Context.TraceId);
        Assert.Equal(ingests.Single(s => (string?)s.GetTagItem("ctmp.outcome") == "accepted").SpanId, link.Context.SpanId);
        Assert.Contains(request.TraceId.ToHexString(), Assert.Single(server.Received).TraceParent, StringComparison.Ordinal);

        // The bad input's record names the trace its ingest ran in, as do that ingest's log lines.
        var records = await services.GetRequiredService<CtMparticle.Storage.IQuarantineArchive>().ListAsync(default).ToListAsync();
        var record = Assert.Single(records).Record;
        Assert.Equal(trigger.ToHexString(), record.TraceId);
        services.GetRequiredService<LoggerProvider>().ForceFlush();
        Assert.Contains(logs, l => l.EventId.Id == 1004 && l.TraceId == trigger);
    }

    [Theory]
    [InlineData(null, null, null, null)]
    [InlineData("InstrumentationKey=00000000-0000-0000-0000-000000000000", null, "InstrumentationKey=00000000-0000-0000-0000-000000000000", null)]
    [InlineData("InstrumentationKey=00000000-0000-0000-0000-000000000000", "ClientId=abc-123;Authorization=AAD", "InstrumentationKey=00000000-0000-0000-0000-000000000000", "abc-123")]
    [InlineData("InstrumentationKey=00000000-0000-0000-0000-000000000000", "Authorization=AAD", "InstrumentationKey=00000000-0000-0000-0000-000000000000", "")] // the system-assigned identity
    public void FunctionsSettings_SayWhereTelemetryGoesAndWithWhichIdentity(string? connection, string? authentication, string? expectedConnection, string? expectedClientId)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = connection,
            ["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] = authentication,
        }).Build();

        var export = TelemetryExport.FromFunctionsSettings(configuration);

        Assert.Equal((expectedConnection, expectedClientId, (Uri?)null), (export.AzureMonitorConnectionString, export.ManagedIdentityClientId, export.OtlpEndpoint));
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"""(ctmp\.[a-z_.]+)""")]
    private static partial System.Text.RegularExpressions.Regex MetricName();

    [System.Text.RegularExpressions.GeneratedRegex(@"customDimensions\[""(\w+)""\]")]
    private static partial System.Text.RegularExpressions.Regex DimensionRead();

    private static string[] TagKeys(Metric metric)
    {
        foreach (ref readonly var point in metric.GetMetricPoints())
        {
            var keys = new List<string>();
            foreach (var tag in point.Tags)
            {
                keys.Add(tag.Key);
            }

            return [.. keys.Order(StringComparer.Ordinal)];
        }

        return [];
    }

    /// <summary>A counter's sums by outcome and reason.</summary>
    private static Dictionary<(string Outcome, string Reason), long> Sums(Metric metric)
    {
        var sums = new Dictionary<(string, string), long>();
        foreach (ref readonly var point in metric.GetMetricPoints())
        {
            string? outcome = null, reason = null;
            foreach (var tag in point.Tags)
            {
                (outcome, reason) = tag.Key switch { "outcome" => ((string?)tag.Value, reason), "reason" => (outcome, (string?)tag.Value), _ => (outcome, reason) };
            }

            sums[(outcome!, reason!)] = sums.GetValueOrDefault((outcome!, reason!)) + point.GetSumLong();
        }

        return sums;
    }

    private static List<Dictionary<string, object?>> Points(Metric metric)
    {
        var points = new List<Dictionary<string, object?>>();
        foreach (ref readonly var point in metric.GetMetricPoints())
        {
            var tags = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var tag in point.Tags)
            {
                tags[tag.Key] = tag.Value;
            }

            points.Add(tags);
        }

        return points;
    }
}

internal static class ServiceCollectionTestExtensions
{
    public static IServiceCollection Also(this IServiceCollection services, Action<IServiceCollection> configure)
    {
        configure(services);
        return services;
    }
}
