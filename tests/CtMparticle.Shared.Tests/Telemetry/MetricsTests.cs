using System.Diagnostics.Metrics;
using CtMparticle.Pipeline;
using CtMparticle.Telemetry;
using CtMparticle.Tests.Infrastructure;

namespace CtMparticle.Tests.Telemetry;

/// <summary>The outcome counters and push measurements the Azure workbook reads.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class MetricsTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task IngestAndPush_RecordOutcomeCountersLatencyAndPendingAge()
    {
        await using var server = new EventsApiServer();
        await using var relay = RelayHarness.Create(azurite, server);
        var measurements = new List<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == RelayMetrics.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        listener.Start();

        foreach (var sample in new[] { Samples.OrderCreatedRegistered, Samples.CartChange, Samples.PayloadNotIncluded })
        {
            await relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(sample)), default);
        }

        await relay.Push.PushAsync(default);
        listener.RecordObservableInstruments();

        Assert.Contains(measurements, m => m.Instrument == "ctmp.deliveries" && (string?)m.Tags["outcome"] == "accepted");
        Assert.Contains(measurements, m => m.Instrument == "ctmp.deliveries" && (string?)m.Tags["reason"] == "change_notification_not_tracked");
        Assert.Contains(measurements, m => m.Instrument == "ctmp.deliveries" && (string?)m.Tags["reason"] == "payload_not_included");
        Assert.Contains(measurements, m => m.Instrument == "ctmp.events" && (string?)m.Tags["outcome"] == "delivered" && m.Value == 1);
        Assert.Contains(measurements, m => m.Instrument == "ctmp.push.requests" && (int?)m.Tags["status"] == 202);
        Assert.Contains(measurements, m => m.Instrument == "ctmp.push.latency");
        Assert.Contains(measurements, m => m.Instrument == "ctmp.outbox.oldest_age");
        Assert.Contains(measurements, m => m.Instrument == "ctmp.outbox.pending" && m.Value == 1);

        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            lock (measurements)
            {
                measurements.Add((instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
            }
        }
    }
}
