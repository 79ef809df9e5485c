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
    private readonly AsyncLocal<MetricsHold?> held = new();
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

    public void Delivery(string outcome, string? reason)
    {
        if (held.Value is { } hold)
        {
            hold.Keep(new HeldCount(true, outcome, 1, reason));
            return;
        }

        deliveries.Add(1, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("reason", reason ?? "none"));
    }

    public void Events(string outcome, long count, string? reason = null)
    {
        if (count <= 0)
        {
            return;
        }

        if (held.Value is { } hold)
        {
            hold.Keep(new HeldCount(false, outcome, count, reason));
            return;
        }

        events.Add(count, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("reason", reason ?? "none"));
    }

    /// <summary>
    /// Keeps the delivery and event counts made in the calling flow, until the hold is disposed, for the caller to
    /// <see cref="MetricsHold.Release"/> or <see cref="MetricsHold.Discard"/> later: an input counted only once its
    /// outcome is final (a write-behind batch's inputs once the batch is flushed; one settled again, by that settling;
    /// what preparing an input counted once that input is settled). A hold opened inside another keeps its counts until
    /// released, then they go to the outer one. Synchronous on purpose, like <c>TableWriteBehind.Begin</c>: the hold
    /// stays set for the caller.
    /// </summary>
    public MetricsHold Hold()
    {
        var hold = new MetricsHold(this, held.Value);
        held.Value = hold;
        return hold;
    }

    internal void EndHold(MetricsHold hold)
    {
        if (ReferenceEquals(held.Value, hold))
        {
            held.Value = hold.Outer;
        }
    }

    internal void Count(HeldCount count)
    {
        if (count.Delivery)
        {
            Delivery(count.Outcome, count.Reason);
        }
        else
        {
            Events(count.Outcome, count.Count, count.Reason);
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

/// <summary>Counts kept by <see cref="RelayMetrics.Hold"/>; disposing it stops keeping them in the flow that opened it.</summary>
internal sealed class MetricsHold(RelayMetrics metrics, MetricsHold? outer) : IDisposable
{
    private readonly List<HeldCount> counts = [];

    /// <summary>The hold that was open in the flow when this one opened; open again once this one is disposed.</summary>
    internal MetricsHold? Outer => outer;

    internal void Keep(HeldCount count)
    {
        lock (counts)
        {
            counts.Add(count);
        }
    }

    /// <summary>
    /// Counts what was kept (after the hold is disposed: while it is open they would be kept again), into the hold open
    /// in the calling flow if there is one.
    /// </summary>
    public void Release()
    {
        foreach (var count in Take())
        {
            metrics.Count(count);
        }
    }

    /// <summary>What was kept, for the caller to count later (<see cref="RelayMetrics.Count"/>), no longer kept here.</summary>
    public IReadOnlyList<HeldCount> Take()
    {
        lock (counts)
        {
            HeldCount[] kept = [.. counts];
            counts.Clear();
            return kept;
        }
    }

    /// <summary>Drops what was kept: the outcome it counted did not stand.</summary>
    public void Discard()
    {
        lock (counts)
        {
            counts.Clear();
        }
    }

    public void Dispose() => metrics.EndHold(this);
}

internal readonly record struct HeldCount(bool Delivery, string Outcome, long Count, string? Reason);
