using System.Text.Json;
using CtMparticle.Configuration;
using CtMparticle.MParticle;
using CtMparticle.Tracking;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Relay;

/// <summary>What one push run did.</summary>
public sealed record PushReport(
    int PendingRead,
    int Requests,
    int Delivered,
    int Withdrawn,
    int Quarantined,
    int Deferred,
    TimeSpan OldestPendingAge,
    IReadOnlyDictionary<int, int> StatusCounts);

/// <summary>
/// Push: pending events → consent re-check → one user's events per batch → bulk requests per input → Events API.
/// A request is persisted before it is sent and its events leave the outbox only after mParticle's 202, so a crash
/// anywhere either resends the identical request (same bytes, same <c>source_request_id</c>) or sends nothing twice.
/// </summary>
public sealed class PushPipeline(
    IEventStore events,
    IConsentStore consent,
    IQuarantine quarantine,
    IEventsApi api,
    BatchBuilder builder,
    PushThrottle throttle,
    ConsentRules rules,
    IOptions<PushOptions> options,
    IOptions<MParticleOptions> routing,
    RelayMetrics metrics,
    TimeProvider time,
    ILogger<PushPipeline> logger)
{
    private static readonly string RelayVersion = QuarantineRecord.RelayVersionOf(typeof(PushPipeline));

    private sealed class Run
    {
        public int Requests { get; set; }
        public int Delivered { get; set; }
        public int Withdrawn { get; set; }
        public int Quarantined { get; set; }
        public int Deferred { get; set; }
        public Dictionary<int, int> Statuses { get; } = [];
        public Dictionary<string, int> SentPerInput { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, int> Allowances { get; } = new(StringComparer.Ordinal);
        public HashSet<string> StoppedInputs { get; } = new(StringComparer.Ordinal);
    }

    public async Task<PushReport> PushAsync(CancellationToken cancellationToken)
    {
        var run = new Run();
        var now = time.GetUtcNow();

        // 1. Requests a previous run persisted but did not finish go first, byte for byte.
        var inFlight = await events.ReadInFlightAsync(cancellationToken).ConfigureAwait(false);
        var busy = new HashSet<Guid>(inFlight.SelectMany(r => r.Events).Select(k => k.EventId));
        foreach (var request in inFlight.OrderBy(r => r.CreatedAt))
        {
            RelayLog.Resending(logger, request.RequestId, request.InputName);
            await SendAsync(OutgoingRequest.FromInFlight(request), persisted: true, run, cancellationToken).ConfigureAwait(false);
        }

        // 2. New work: pending events not already in a request.
        var pending = (await events.ReadPendingAsync(options.Value.MaxEventsPerRun, cancellationToken).ConfigureAwait(false))
            .Where(p => !busy.Contains(p.EventId))
            .ToArray();
        var oldest = pending.Length == 0 ? TimeSpan.Zero : now - pending.Min(p => p.EnqueuedAt);
        metrics.Outbox(pending.Length, oldest);

        var sendable = await CheckConsentAsync(pending, run, cancellationToken).ConfigureAwait(false);
        var (batches, unsendable) = Batching.BuildBatches(sendable, builder, options.Value.MaxEventsPerBatch);
        foreach (var group in unsendable)
        {
            await QuarantineEventsAsync(group.Events, group.Reason, group.Detail, [],
                JsonSerializer.SerializeToUtf8Bytes(group.Tracking.ToList(), RelayJsonContext.Default.ListTrackingEvent), run, cancellationToken).ConfigureAwait(false);
        }

        // 3. Per input, in order of the oldest event.
        foreach (var input in batches.GroupBy(b => b.InputName, StringComparer.Ordinal))
        {
            var requests = Batching.PackRequests(input.Key, input.ToArray(), options.Value.MaxBatchesPerRequest, options.Value.MaxRequestBytes);
            foreach (var request in requests)
            {
                if (!await SendAsync(request, persisted: false, run, cancellationToken).ConfigureAwait(false))
                {
                    run.Deferred += requests.SkipWhile(r => r != request).Sum(r => r.Events.Count);
                    break;
                }
            }
        }

        foreach (var input in run.SentPerInput.Keys)
        {
            throttle.RunCompleted(input);
        }

        var report = new PushReport(pending.Length, run.Requests, run.Delivered, run.Withdrawn, run.Quarantined, run.Deferred, oldest, run.Statuses);
        RelayLog.PushSummary(logger, report.PendingRead, report.Requests, report.Delivered, report.Withdrawn, report.Quarantined, report.Deferred, oldest.TotalSeconds);
        return report;
    }

    /// <summary>Re-checks consent with the newest stored state; withdraws what no longer passes.</summary>
    private async Task<List<(PendingEventKey Key, TrackingEvent Event)>> CheckConsentAsync(
        IReadOnlyList<PendingEvent> pending, Run run, CancellationToken cancellationToken)
    {
        var states = new Dictionary<string, UserConsent?>(StringComparer.Ordinal);
        var sendable = new List<(PendingEventKey, TrackingEvent)>(pending.Count);
        var withdrawn = new List<PendingEventKey>();
        foreach (var item in pending)
        {
            TrackingEvent? trackingEvent;
            try
            {
                trackingEvent = JsonSerializer.Deserialize(item.Json, RelayJsonContext.Default.TrackingEvent);
            }
            catch (JsonException ex)
            {
                await QuarantineEventsAsync([item.Key], Reason.StoredEventUnreadable, $"The stored event could not be read back: {ex.Message}", [], item.Json, run, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (trackingEvent is null)
            {
                await QuarantineEventsAsync([item.Key], Reason.StoredEventUnreadable, "The stored event is empty.", [], item.Json, run, cancellationToken).ConfigureAwait(false);
                continue;
            }

            var userKey = ConsentGate.UserKey(trackingEvent.Context.User);
            UserConsent? state = null;
            if (userKey is not null && !states.TryGetValue(userKey, out state))
            {
                state = await consent.GetAsync(userKey, cancellationToken).ConfigureAwait(false);
                states[userKey] = state;
            }

            var decision = ConsentGate.Decide(trackingEvent, state, rules, routing.Value.DefaultCountry);
            if (!decision.Allowed)
            {
                withdrawn.Add(item.Key);
                RelayLog.Withdrawn(logger, trackingEvent.Context.EventId, trackingEvent.Name, decision.Detail);
                continue;
            }

            // Send the newest consent known, not the one at ingest.
            var current = trackingEvent with { Context = trackingEvent.Context with { Consent = decision.Consent } };
            sendable.Add((item.Key, current));
        }

        if (withdrawn.Count > 0)
        {
            await events.RemovePendingAsync(withdrawn, EventFate.Withdrawn, cancellationToken).ConfigureAwait(false);
            run.Withdrawn += withdrawn.Count;
            metrics.Events("withdrawn", withdrawn.Count, Reason.ConsentWithdrawn.Code());
        }

        return sendable;
    }

    /// <summary>Sends one request and settles it. False when the input must not be called again in this run.</summary>
    private async Task<bool> SendAsync(OutgoingRequest request, bool persisted, Run run, CancellationToken cancellationToken)
    {
        var input = request.InputName;
        if (!run.Allowances.TryGetValue(input, out var allowance))
        {
            // Read once per run: successes during the run do not raise it.
            run.Allowances[input] = allowance = throttle.Allowance(input);
        }

        if (run.StoppedInputs.Contains(input) || !throttle.MayCall(input) || run.SentPerInput.GetValueOrDefault(input) >= allowance)
        {
            run.StoppedInputs.Add(input);
            return false;
        }

        if (builder.RouteByInput(input) is not { } route)
        {
            RelayLog.InputMisconfigured(logger, input, "the input is no longer configured (MParticle:Inputs)");
            run.StoppedInputs.Add(input);
            return false;
        }

        if (!persisted)
        {
            await events.SaveInFlightAsync(request.ToInFlight(time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        }

        var started = time.GetTimestamp();
        var response = await api.SendBulkAsync(route, request.Body, cancellationToken).ConfigureAwait(false);
        var latency = time.GetElapsedTime(started);
        if (response.ConfigurationError is { } problem)
        {
            // Nothing was sent: the request is dropped (its events stay pending) until a person fixes the settings.
            await events.DeleteInFlightAsync(request.RequestId, cancellationToken).ConfigureAwait(false);
            RelayLog.InputMisconfigured(logger, input, problem);
            throttle.Pause(input);
            run.StoppedInputs.Add(input);
            return false;
        }

        run.Requests++;
        run.SentPerInput[input] = run.SentPerInput.GetValueOrDefault(input) + 1;
        run.Statuses[response.Status] = run.Statuses.GetValueOrDefault(response.Status) + 1;
        metrics.Request(input, response.Status, latency);
        RelayLog.Sent(logger, request.RequestId, input, request.Batches.Count, request.Body.Length, response.Status, latency.TotalMilliseconds);

        switch (response.Status)
        {
            case >= 200 and < 300:
                var sent = request.Events;
                await events.RemovePendingAsync(sent, EventFate.Delivered, cancellationToken).ConfigureAwait(false);
                await events.DeleteInFlightAsync(request.RequestId, cancellationToken).ConfigureAwait(false);
                run.Delivered += sent.Count;
                metrics.Events("delivered", sent.Count);
                throttle.Succeeded(input, response.PercentageUsed);
                return true;

            case 400 or 413 or 422:
                return await IsolateAsync(request, response, run, cancellationToken).ConfigureAwait(false);

            case 401 or 403:
                // Not accepted: the events stay pending and may be regrouped later.
                await events.DeleteInFlightAsync(request.RequestId, cancellationToken).ConfigureAwait(false);
                RelayLog.AuthFailed(logger, input, response.Status);
                throttle.Pause(input);
                run.StoppedInputs.Add(input);
                return false;

            case 429:
                // Kept in flight: resent as is once the input may be called again.
                var wait = throttle.RateLimited(input, response.RetryAfter, response.RateLimitExceeded);
                RelayLog.RateLimited(logger, input, response.RateLimitExceeded, wait.TotalSeconds);
                run.StoppedInputs.Add(input);
                return false;

            default:
                // 5xx or no answer: mParticle may have accepted it, so it stays in flight and is resent identically.
                var backoff = throttle.Failed(input);
                RelayLog.Transient(logger, input, response.Status, response.TransportError is null ? null : $", {response.TransportError}", backoff.TotalSeconds);
                run.StoppedInputs.Add(input);
                return false;
        }
    }

    /// <summary>
    /// A 4xx for the payload: never retried unchanged. Several batches are split in halves to find the bad one;
    /// a single bad batch is quarantined with mParticle's answer and the rest goes on.
    /// </summary>
    private async Task<bool> IsolateAsync(OutgoingRequest request, EventsApiResponse response, Run run, CancellationToken cancellationToken)
    {
        if (request.Batches.Count == 1)
        {
            var batch = request.Batches[0];
            await QuarantineEventsAsync(batch.Events, Reason.MParticleRejected,
                $"mParticle answered {response.Status} for this batch; it is not retried unchanged.",
                [response.Body ?? $"HTTP {response.Status} without a body"], batch.Json, run, cancellationToken).ConfigureAwait(false);
            await events.DeleteInFlightAsync(request.RequestId, cancellationToken).ConfigureAwait(false);
            return true;
        }

        RelayLog.Splitting(logger, request.InputName, request.RequestId, response.Status, request.Batches.Count);
        var half = request.Batches.Count / 2;
        var parts = new[] { Batching.Request(request.InputName, request.Batches.Take(half).ToArray()), Batching.Request(request.InputName, request.Batches.Skip(half).ToArray()) };
        foreach (var part in parts)
        {
            await events.SaveInFlightAsync(part.ToInFlight(time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        }

        await events.DeleteInFlightAsync(request.RequestId, cancellationToken).ConfigureAwait(false);
        foreach (var part in parts)
        {
            if (!await SendAsync(part, persisted: true, run, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }
        }

        return true;
    }

    private async Task QuarantineEventsAsync(
        IReadOnlyCollection<PendingEventKey> keys, Reason reason, string detail, IReadOnlyList<string> errors, byte[] payload,
        Run run, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var first = keys.First();
        var record = new QuarantineRecord(
            [reason.Code()],
            $"{detail} Events: {string.Join(", ", keys.Select(k => k.EventId))}.",
            errors,
            new QuarantineSource(first.EventId.ToString("D"), "push", null, null, null, null, first.EnqueuedAt, now, "EventsApiBatch"),
            Convert.ToBase64String(payload),
            RelayVersion,
            "push");
        var location = await quarantine.WriteAsync(record, cancellationToken).ConfigureAwait(false);
        await events.RemovePendingAsync(keys, EventFate.Quarantined, cancellationToken).ConfigureAwait(false);
        run.Quarantined += keys.Count;
        metrics.Events("quarantined", keys.Count, reason.Code());
        RelayLog.Quarantined(logger, "push", first.EventId.ToString("D"), null, null, "push", reason.Code(), location);
    }
}
