using CtMparticle.Governance;
using CtMparticle.Storage;
using CtMparticle.Telemetry;
using CtMparticle.Tracking;
using Microsoft.Extensions.Logging;

namespace CtMparticle.Pipeline;

/// <summary>
/// Store: the end of every input's path. Events are stored for push with their dedupe record in one write (after
/// the order context they may need later); a halted input is counted as filtered or written to quarantine with its
/// original bytes. Exactly one outcome per input, and nothing is recorded before the write it stands for.
/// </summary>
internal sealed class StoreStage(
    IEventStore events,
    IOrderContextStore orders,
    IQuarantine quarantine,
    RelayMetrics metrics,
    ILogger<StoreStage> logger)
{
    private static readonly string RelayVersion = QuarantineRecord.RelayVersionOf(typeof(StoreStage));

    public async Task<IngestOutcome> SettleAsync(Inbound inbound, Flow<GovernedEvents> governed, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        var info = governed.Info;
        List<Guid> withheld = [];
        var outcome = governed switch
        {
            { Value: { } stored } => await StoreAsync(inbound, info, stored, receivedAt, withheld, cancellationToken).ConfigureAwait(false),
            { Halt: Reject reject } => await QuarantineAsync(inbound, info, receivedAt, reject, cancellationToken).ConfigureAwait(false),
            { Halt: Filter { OrderContext: { } order } filter } => await FilteredAsync(info, filter, order, cancellationToken).ConfigureAwait(false),
            { Halt: { } filter } => Filtered(info, filter.Reason, filter.Detail),
            _ => throw new InvalidOperationException("A flow carries a value or a halt."),
        };
        metrics.Delivery(outcome.KindCode, outcome.Reason);
        return outcome with { Info = info, Withheld = withheld };
    }

    /// <param name="withheld">Gets the refused events this input decided (<see cref="IngestOutcome.Withheld"/>).</param>
    private async Task<IngestOutcome> StoreAsync(
        Inbound inbound, InputInfo info, GovernedEvents governed, DateTimeOffset receivedAt, List<Guid> withheld, CancellationToken cancellationToken)
    {
        // The order's context first: once an event of this order is stored, its follow-ups must be mappable.
        if (governed.OrderContext is { } order)
        {
            await SaveContextAsync(order, cancellationToken).ConfigureAwait(false);
        }

        // Each stored event remembers the ingest's trace, which the push's span links to.
        var trace = System.Diagnostics.Activity.Current?.Id;
        int stored = 0, duplicates = 0;
        var storedIds = new List<Guid>(governed.Allowed.Count);
        var flags = new List<string>();
        foreach (var trackingEvent in governed.Allowed)
        {
            // A redelivery of the message that stored the event (after a crash before it was completed) keeps the
            // message's outcome; only another message storing the same event makes this one a duplicate.
            switch (await events.TryAddAsync(Traced(trackingEvent, trace), info.MessageId, cancellationToken).ConfigureAwait(false))
            {
                case AddResult.Added or AddResult.AddedBefore:
                    stored++;
                    storedIds.Add(trackingEvent.Context.EventId);
                    if (governed.Flagged.TryGetValue(trackingEvent.Context.EventId, out var flagged))
                    {
                        flags.AddRange(flagged.Errors);
                    }

                    break;
                case AddResult.Duplicate when trackingEvent is OrderCompleted
                    && await events.ReplacePendingAsync(trackingEvent.Context.EventId, stored => PurchaseMerge.Combine(stored, trackingEvent), cancellationToken).ConfigureAwait(false):
                    // The same order from the other source, while the first is still in the outbox: one purchase,
                    // commercetools' amounts with the client's identifiers (PurchaseMerge). Once sent, a copy adds nothing.
                    stored++;
                    storedIds.Add(trackingEvent.Context.EventId);
                    RelayLog.PurchaseMerged(logger, trackingEvent.Context.EventId, info.MessageId);
                    break;
                case AddResult.Duplicate:
                    duplicates++;
                    break;
            }
        }

        // Refused events are recorded as decided (seen, never pending), so no replay decides them again. The consent
        // choice a new one carried goes to mParticle as a consent update; a replayed one adds nothing.
        foreach (var refused in governed.ConsentRefused)
        {
            if (await events.WithholdAsync(refused.Event, info.MessageId, cancellationToken).ConfigureAwait(false) == AddResult.Duplicate)
            {
                continue; // decided before, by another message (it may have been sent): this copy decides nothing
            }

            withheld.Add(refused.Event.Context.EventId);
            if (refused.Learnt is { } learnt
                && await events.TryAddAsync(Traced(learnt, trace), info.MessageId, cancellationToken).ConfigureAwait(false) != AddResult.Duplicate)
            {
                stored++;
                storedIds.Add(learnt.Context.EventId);
            }
        }

        metrics.Events("stored", stored);
        metrics.Events("duplicate", duplicates);
        metrics.Events("blocked", governed.ConsentRefused.Count, Reason.ConsentNotGiven.Code());
        metrics.Events("superseded", governed.ConsentSuperseded, Reason.ConsentSuperseded.Code());
        if (stored > 0)
        {
            RelayLog.Accepted(logger, info.MessageType, info.MessageId, stored, duplicates, governed.ConsentRefused.Count);
            string? blockedAt = null;
            if (governed.Blocked.Count > 0)
            {
                // Siblings the plan's policy blocked are not lost with the input's success: the same record a fully
                // blocked input gets (one per message and stage, so a redelivery rewrites it), the outcome stays accepted.
                var quarantined = await QuarantineAsync(inbound, info, receivedAt, PlanRejection(governed.Blocked), cancellationToken).ConfigureAwait(false);
                blockedAt = quarantined.QuarantineLocation;
            }

            return new IngestOutcome(IngestOutcomeKind.Accepted, null,
                $"{stored} event(s) stored for push{(blockedAt is null ? "" : $"; {governed.Blocked.Count} blocked by the plan, quarantined at {blockedAt}")}.", stored)
            {
                EventIds = storedIds,
                Flags = flags,
            };
        }

        if (governed.Blocked.Count > 0)
        {
            // Blocked by the plan's policy: quarantined with the validation errors, nothing sent.
            return await QuarantineAsync(inbound, info, receivedAt, PlanRejection(governed.Blocked), cancellationToken).ConfigureAwait(false);
        }

        if (duplicates > 0)
        {
            RelayLog.Duplicate(logger, info.MessageType, info.MessageId);
            return new IngestOutcome(IngestOutcomeKind.Duplicate, "duplicate", "Every event of this message was stored before.");
        }

        return governed.ConsentRefused.Count == 0 && governed.ConsentSuperseded > 0
            ? Filtered(info, Reason.ConsentSuperseded, governed.ConsentDetail ?? "A newer consent change is known.")
            : Filtered(info, Reason.ConsentNotGiven, governed.ConsentDetail ?? "Consent does not allow forwarding.");
    }

    /// <summary>
    /// The relay failed on this input (not transiently): quarantined with its bytes and the failure's type, never its
    /// message (which may quote data), so the rest of the batch goes on.
    /// </summary>
    public async Task<IngestOutcome> FailedAsync(Inbound inbound, InputInfo? info, string stage, Exception exception, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        var known = info ?? new InputInfo("unknown", null, null, null, null);
        var (reason, detail) = Faults.Describe(exception, stage);
        RelayLog.InputFailed(logger, exception.GetType().FullName ?? "Exception", stage, known.MessageType, known.MessageId);
        var outcome = await QuarantineAsync(inbound, known, receivedAt, new Reject(stage, reason, detail), cancellationToken).ConfigureAwait(false);
        metrics.Delivery(outcome.KindCode, outcome.Reason);
        return outcome with { Info = known };
    }

    private static TrackingEvent Traced(TrackingEvent trackingEvent, string? trace) =>
        trace is null ? trackingEvent : trackingEvent with { Context = trackingEvent.Context with { Trace = trace } };

    private static Reject PlanRejection(IReadOnlyList<GovernanceDecision> blocked) => new(
        "govern",
        Reason.PlanViolation,
        $"The event breaks the tracking plan and its policy blocks it: {blocked[0].Detail}",
        blocked.SelectMany(d => d.Errors).ToArray());

    private async Task SaveContextAsync(OrderContext order, CancellationToken cancellationToken)
    {
        await orders.SaveAsync(order, cancellationToken).ConfigureAwait(false);
        RelayLog.OrderContextSaved(logger, order.OrderId, order.PaymentIds.Count);
    }

    /// <summary>A filtered input that still changes its order's context (a customer removed): saved before the outcome stands.</summary>
    private async Task<IngestOutcome> FilteredAsync(InputInfo info, Filter filter, OrderContext order, CancellationToken cancellationToken)
    {
        await SaveContextAsync(order, cancellationToken).ConfigureAwait(false);
        return Filtered(info, filter.Reason, filter.Detail);
    }

    private IngestOutcome Filtered(InputInfo info, Reason reason, string detail)
    {
        RelayLog.Filtered(logger, info.MessageType, info.MessageId, info.ResourceTypeId, info.ResourceId, reason.Code());
        return new IngestOutcome(IngestOutcomeKind.Filtered, reason.Code(), detail);
    }

    private async Task<IngestOutcome> QuarantineAsync(Inbound inbound, InputInfo info, DateTimeOffset receivedAt, Reject reject, CancellationToken cancellationToken)
    {
        var record = new QuarantineRecord(
            [reject.Reason.Code()],
            reject.Detail,
            reject.Errors,
            new QuarantineSource(info.MessageId, info.MessageType, info.ResourceTypeId, info.ResourceId, inbound.ServiceBusMessageId,
                inbound.DeliveryCount, inbound.EnqueuedAt, receivedAt, info.Format),
            Convert.ToBase64String(inbound.Body.Span),
            RelayVersion,
            reject.Stage)
        {
            TraceId = QuarantineRecord.CurrentTraceId(),
        };
        var location = await quarantine.WriteAsync(record, cancellationToken).ConfigureAwait(false);
        RelayLog.Quarantined(logger, info.MessageType, info.MessageId, info.ResourceTypeId, info.ResourceId, reject.Stage, reject.Reason.Code(), location);
        return new IngestOutcome(IngestOutcomeKind.Quarantined, reject.Reason.Code(), reject.Detail, QuarantineLocation: location);
    }
}
