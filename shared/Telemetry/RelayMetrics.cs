using System.Diagnostics.Metrics;

namespace CtMparticle.Telemetry;

/// <summary>
/// The relay's metrics (System.Diagnostics.Metrics, meter <c>CtMparticle.Relay</c>): an outcome counter per delivery
/// and per event, push requests by status, push latency and the outbox's size and oldest age. Nothing exports the
/// meter yet: a host must add a metrics exporter (OpenTelemetry or Application Insights) for them to leave the process.
/// </summary>
internal sealed class RelayMetrics : IDisposable
{
    public const string MeterName = "CtMparticle.Relay";

    private readonly Meter meter;
    private readonly Counter<long> deliveries;
    private readonly Counter<long> events;
    private readonly Counter<long> requests;
    private readonly Histogram<double> pushLatency;
    private long pendingCount;
    private double oldestPendingSeconds;

    public RelayMetrics(IMeterFactory meterFactory)
    {
        meter = meterFactory.Create(MeterName);
        deliveries = meter.CreateCounter<long>("ctmp.deliveries", "{delivery}", "commercetools deliveries by outcome and reason.");
        events = meter.CreateCounter<long>("ctmp.events", "{event}", "Canonical events by outcome (stored, duplicate, delivered, withdrawn, quarantined, blocked).");
        requests = meter.CreateCounter<long>("ctmp.push.requests", "{request}", "Events API bulk requests by HTTP status (0: no response).");
        pushLatency = meter.CreateHistogram<double>("ctmp.push.latency", "ms", "Events API request latency.");
        meter.CreateObservableGauge("ctmp.outbox.pending", () => Interlocked.Read(ref pendingCount), "{event}", "Events waiting in the outbox, as last seen by the push.");
        meter.CreateObservableGauge("ctmp.outbox.oldest_age", () => Volatile.Read(ref oldestPendingSeconds), "s", "Age of the oldest pending event, as last seen by the push.");
    }

    public void Delivery(string outcome, string? reason) =>
        deliveries.Add(1, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("reason", reason ?? "none"));

    public void Events(string outcome, long count, string? reason = null)
    {
        if (count > 0)
        {
            events.Add(count, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("reason", reason ?? "none"));
        }
    }

    public void Request(string input, int status, TimeSpan latency)
    {
        requests.Add(1, new KeyValuePair<string, object?>("input", input), new KeyValuePair<string, object?>("status", status));
        pushLatency.Record(latency.TotalMilliseconds, new KeyValuePair<string, object?>("input", input));
    }

    public void Outbox(long pending, TimeSpan oldestAge)
    {
        Interlocked.Exchange(ref pendingCount, pending);
        Volatile.Write(ref oldestPendingSeconds, oldestAge.TotalSeconds);
    }

    public void Dispose() => meter.Dispose();
}
