using CtMparticle.Commercetools;
using CtMparticle.Configuration;
using CtMparticle.Mapping;
using CtMparticle.Tracking;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Relay;

/// <summary>One Service Bus message as the trigger received it.</summary>
public sealed record Delivery(
    ReadOnlyMemory<byte> Body,
    string? ServiceBusMessageId = null,
    int? DeliveryCount = null,
    DateTimeOffset? EnqueuedAt = null);

public enum IngestOutcomeKind
{
    /// <summary>At least one event was stored for push.</summary>
    Accepted,
    /// <summary>Every event was stored before (a redelivery, a second subscription, a replay).</summary>
    Duplicate,
    /// <summary>Deliberately not forwarded (with a reason): filtered messages and consent blocks.</summary>
    Filtered,
    /// <summary>Written to quarantine with a reason.</summary>
    Quarantined,
}

/// <summary>The one outcome of one delivery.</summary>
public sealed record IngestOutcome(IngestOutcomeKind Kind, string? Reason, string Detail, int EventsStored = 0, string? QuarantineLocation = null)
{
    /// <summary>What the envelope said (ids only), when it could be read.</summary>
    public DeliveryInfo? Info { get; init; }

    /// <summary>The events this delivery stored (or had stored before): the link from inputs to event fates.</summary>
    public IReadOnlyList<Guid> EventIds { get; init; } = [];

    public string KindCode => Kind switch
    {
        IngestOutcomeKind.Accepted => "accepted",
        IngestOutcomeKind.Duplicate => "duplicate",
        IngestOutcomeKind.Filtered => "filtered",
        _ => "quarantined",
    };
}

/// <summary>
/// Ingest: decode → map → consent gate → store for push. Bad input never throws: it ends filtered or quarantined.
/// Only transient storage failures throw, so the Service Bus batch is redelivered; every step is idempotent, so
/// a redelivery after a crash at any point stores each event exactly once.
/// </summary>
public sealed class IngestPipeline(
    CommercetoolsMapper mapper,
    IEventStore events,
    IOrderContextStore orders,
    IConsentStore consent,
    IQuarantine quarantine,
    ConsentRules rules,
    IOptions<MParticleOptions> routing,
    RelayMetrics metrics,
    TimeProvider time,
    ILogger<IngestPipeline> logger,
    Governance.PlanGovernor? governor = null,
    CommercetoolsClient? commercetools = null)
{
    private static readonly string RelayVersion = QuarantineRecord.RelayVersionOf(typeof(IngestPipeline));

    public async Task<IngestOutcome> IngestAsync(Delivery delivery, CancellationToken cancellationToken)
    {
        var receivedAt = time.GetUtcNow();
        var result = DeliveryDecoder.Decode(delivery.Body.Span);
        var outcome = result switch
        {
            Decoded decoded => await MapAndStoreAsync(decoded, delivery, receivedAt, cancellationToken).ConfigureAwait(false),
            FetchRequired fetch => await FetchAndMapAsync(fetch, delivery, receivedAt, cancellationToken).ConfigureAwait(false),
            DecodeFiltered filtered => Filtered(filtered.Info, filtered.Reason, filtered.Detail),
            DecodeRejected rejected => await QuarantineAsync(delivery, rejected.Info, receivedAt, "decode", rejected.Reason, rejected.Detail, [], cancellationToken).ConfigureAwait(false),
            _ => throw new InvalidOperationException("Unknown decode result."),
        };
        outcome = outcome with { Info = result.Info };
        metrics.Delivery(outcome.KindCode, outcome.Reason);
        return outcome;
    }

    private async Task<IngestOutcome> MapAndStoreAsync(Decoded decoded, Delivery delivery, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        var info = decoded.Info;
        var (orderId, paymentId) = CommercetoolsMapper.ContextLookup(decoded.Delivery);
        var context = orderId is not null ? await orders.FindByOrderAsync(orderId, cancellationToken).ConfigureAwait(false)
            : paymentId is not null ? await orders.FindByPaymentAsync(paymentId, cancellationToken).ConfigureAwait(false)
            : null;

        var result = mapper.Map(decoded.Delivery, context);
        if (result is MappingNeedsContext needs && commercetools is not null)
        {
            result = await ResolveContextAsync(decoded.Delivery, needs, cancellationToken).ConfigureAwait(false);
        }

        switch (result)
        {
            case Mapped mapped:
                return await StoreAsync(mapped, info, delivery, receivedAt, cancellationToken).ConfigureAwait(false);
            case MappingFiltered filtered:
                return Filtered(info, filtered.Reason, filtered.Detail);
            case MappingNeedsContext missing:
                return await QuarantineAsync(delivery, info, receivedAt, "map", missing.Reason, missing.Detail, [], cancellationToken).ConfigureAwait(false);
            case MappingInvalid invalid:
                return await QuarantineAsync(delivery, info, receivedAt, "map", invalid.Reason, invalid.Detail, [], cancellationToken).ConfigureAwait(false);
            default:
                throw new InvalidOperationException("Unknown mapping result.");
        }
    }

    private async Task<IngestOutcome> StoreAsync(Mapped mapped, DeliveryInfo info, Delivery delivery, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        // The order's context first: once an event of this order is stored, its follow-ups must be mappable.
        if (mapped.OrderContext is { } order)
        {
            await orders.SaveAsync(order, cancellationToken).ConfigureAwait(false);
            RelayLog.OrderContextSaved(logger, order.OrderId, order.PaymentIds.Count);
        }

        int stored = 0, duplicates = 0, blocked = 0;
        string? blockDetail = null;
        var violations = new List<Governance.GovernanceDecision>();
        var storedIds = new List<Guid>(mapped.Events.Count);
        foreach (var trackingEvent in mapped.Events)
        {
            var userKey = ConsentGate.UserKey(trackingEvent.Context.User);
            var state = userKey is null ? null : await LearnAsync(userKey, trackingEvent, cancellationToken).ConfigureAwait(false);
            var decision = ConsentGate.Decide(trackingEvent, state, rules, routing.Value.DefaultCountry);
            if (!decision.Allowed)
            {
                blocked++;
                blockDetail = decision.Detail;
                RelayLog.Blocked(logger, trackingEvent.Context.EventId, trackingEvent.Name, info.MessageId, decision.Regime, decision.RegionCode, Reason.ConsentNotGiven.Code());
                continue;
            }

            if (governor?.Check(trackingEvent) is { Violations.Count: > 0 } governance)
            {
                RelayLog.PlanViolation(logger, trackingEvent.Context.EventId, trackingEvent.Name, info.MessageId, governance.Blocked ? "block" : "allow", governance.Violations.Count);
                metrics.Events("violation", 1, governance.Blocked ? "blocked" : "allowed");
                if (governance.Blocked)
                {
                    violations.Add(governance);
                    continue;
                }
            }

            // A redelivery of the message that stored the event (after a crash before it was completed) keeps the
            // message's outcome; only another message storing the same event makes this one a duplicate.
            switch (await events.TryAddAsync(trackingEvent, info.MessageId, cancellationToken).ConfigureAwait(false))
            {
                case AddResult.Added or AddResult.AddedBefore:
                    stored++;
                    storedIds.Add(trackingEvent.Context.EventId);
                    break;
                case AddResult.Duplicate:
                    duplicates++;
                    break;
            }
        }

        metrics.Events("stored", stored);
        metrics.Events("duplicate", duplicates);
        metrics.Events("blocked", blocked, Reason.ConsentNotGiven.Code());
        if (stored > 0)
        {
            RelayLog.Accepted(logger, info.MessageType, info.MessageId, stored, duplicates, blocked);
            return new IngestOutcome(IngestOutcomeKind.Accepted, null, $"{stored} event(s) stored for push.", stored) { EventIds = storedIds };
        }

        if (violations.Count > 0)
        {
            // Blocked by the plan's policy: quarantined with the validation errors, nothing sent.
            return await QuarantineAsync(delivery, info, receivedAt, "govern", Reason.PlanViolation,
                $"The event breaks the tracking plan and its policy blocks it: {violations[0].Detail}",
                violations.SelectMany(v => v.Violations).Select(v => $"{v.ValidationErrorType} {v.Key} at {v.ErrorPointer}{(v.Expected is null ? "" : $" (expected {v.Expected})")}").ToArray(),
                cancellationToken).ConfigureAwait(false);
        }

        if (duplicates > 0)
        {
            RelayLog.Duplicate(logger, info.MessageType, info.MessageId);
            return new IngestOutcome(IngestOutcomeKind.Duplicate, "duplicate", "Every event of this message was stored before.");
        }

        return Filtered(info, Reason.ConsentNotGiven, blockDetail ?? "Consent does not allow forwarding.");
    }

    /// <summary>
    /// <c>payloadNotIncluded</c>: fetch the resource and map its current state as the message it stands for. A resource
    /// that is gone or cannot be read is quarantined with the reason; an unreachable API throws (the message is redelivered).
    /// </summary>
    private async Task<IngestOutcome> FetchAndMapAsync(FetchRequired fetch, Delivery delivery, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        if (commercetools is null)
        {
            return await QuarantineAsync(delivery, fetch.Info, receivedAt, "fetch", fetch.Reason, fetch.Detail + " The commercetools API is not configured (Commercetools:*), so the relay cannot fetch it.", [], cancellationToken).ConfigureAwait(false);
        }

        var resource = new CtReference { TypeId = fetch.ResourceTypeId, Id = fetch.ResourceId };
        CtMessage? message = null;
        string? problem = null;
        switch (fetch.PayloadType)
        {
            case "OrderCreated" or "OrderImported" or "OrderCreatedFromRecurringOrder":
                var order = await commercetools.GetOrderAsync(fetch.ResourceId, cancellationToken).ConfigureAwait(false);
                ThrowIfTransient(order.Transient, order.Problem);
                problem = order.Problem;
                if (order.Value is { } o)
                {
                    message = fetch.PayloadType switch
                    {
                        "OrderImported" => new OrderImportedMessage { Id = fetch.MessageId, Type = fetch.PayloadType, Resource = resource, CreatedAt = o.CreatedAt, Order = o },
                        "OrderCreatedFromRecurringOrder" => new OrderCreatedFromRecurringOrderMessage { Id = fetch.MessageId, Type = fetch.PayloadType, Resource = resource, CreatedAt = o.CreatedAt, Order = o },
                        _ => new OrderCreatedMessage { Id = fetch.MessageId, Type = fetch.PayloadType, Resource = resource, CreatedAt = o.CreatedAt, Order = o },
                    };
                }

                break;
            case "CustomerCreated":
                var customer = await commercetools.GetCustomerAsync(fetch.ResourceId, cancellationToken).ConfigureAwait(false);
                ThrowIfTransient(customer.Transient, customer.Problem);
                problem = customer.Problem;
                if (customer.Value is { } c)
                {
                    message = new CustomerCreatedMessage { Id = fetch.MessageId, Type = fetch.PayloadType, Resource = resource, CreatedAt = c.CreatedAt ?? receivedAt, Customer = c };
                }

                break;
            default:
                problem = $"A {fetch.PayloadType} cannot be rebuilt from the resource's current state (it describes a change, not a state).";
                break;
        }

        if (message is null)
        {
            return await QuarantineAsync(delivery, fetch.Info, receivedAt, "fetch", fetch.Reason, $"{fetch.Detail} Fetching failed: {problem}", [], cancellationToken).ConfigureAwait(false);
        }

        return await MapAndStoreAsync(new Decoded(message, fetch.Info), delivery, receivedAt, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Order and payment follow-ups without a stored order: fetch the order (or payment) and map again.</summary>
    private async Task<MappingResult> ResolveContextAsync(CtDelivery delivery, MappingNeedsContext needs, CancellationToken cancellationToken)
    {
        var client = commercetools!;
        var order = needs.Reason == Reason.PaymentContextMissing
            ? await client.FindOrderByPaymentAsync(needs.LookupId, cancellationToken).ConfigureAwait(false)
            : await client.GetOrderAsync(needs.LookupId, cancellationToken).ConfigureAwait(false);
        ThrowIfTransient(order.Transient, order.Problem);
        if (order.Value is not { } fetched)
        {
            return needs with { Detail = $"{needs.Detail} Fetching it failed: {order.Problem}" };
        }

        var synthesized = new OrderCreatedMessage
        {
            Id = "fetched-" + fetched.Id, Type = "OrderCreated", ProjectKey = delivery.ProjectKey,
            Resource = new CtReference { TypeId = "order", Id = fetched.Id }, CreatedAt = fetched.CreatedAt, Order = fetched,
        };
        if (mapper.Map(synthesized) is not Mapped { OrderContext: { } context })
        {
            return needs with { Detail = $"{needs.Detail} The fetched order could not be mapped." };
        }

        await orders.SaveAsync(context, cancellationToken).ConfigureAwait(false);
        if (delivery is PaymentTransactionStateChangedMessage changed)
        {
            // The message carries neither the transaction's type nor its amount: read them from the payment.
            var payment = await client.GetPaymentAsync(changed.Resource.Id!, cancellationToken).ConfigureAwait(false);
            ThrowIfTransient(payment.Transient, payment.Problem);
            var transaction = payment.Value?.Transactions?.FirstOrDefault(t => t.Id == changed.TransactionId);
            if (transaction is null)
            {
                return needs with { Detail = $"{needs.Detail} The payment has no transaction {changed.TransactionId}." };
            }

            delivery = new PaymentTransactionAddedMessage
            {
                Id = changed.Id, Type = "PaymentTransactionAdded", ProjectKey = changed.ProjectKey, Resource = changed.Resource,
                CreatedAt = changed.CreatedAt, Transaction = transaction with { State = changed.State },
            };
        }

        return mapper.Map(delivery, context);
    }

    private static void ThrowIfTransient(bool transient, string? problem)
    {
        if (transient)
        {
            // An unreachable or overloaded API is transient: throw, so the message is redelivered later.
            throw new HttpRequestException($"commercetools is unavailable: {problem}");
        }
    }

    /// <summary>Records what an event teaches about the user's consent and region; returns the user's state.</summary>
    private async Task<UserConsent?> LearnAsync(string userKey, TrackingEvent trackingEvent, CancellationToken cancellationToken)
    {
        var teaches = trackingEvent is ConsentUpdated or SignedUp or OrderCompleted;
        var carriesConsent = trackingEvent.Context.Consent is { IsEmpty: false };
        if (teaches && (carriesConsent || trackingEvent.Context.Region is not null))
        {
            return await consent.MergeAsync(userKey, trackingEvent.Context.Consent, trackingEvent.Context.Region, cancellationToken).ConfigureAwait(false);
        }

        return await consent.GetAsync(userKey, cancellationToken).ConfigureAwait(false);
    }

    private IngestOutcome Filtered(DeliveryInfo info, Reason reason, string detail)
    {
        RelayLog.Filtered(logger, info.MessageType, info.MessageId, info.ResourceTypeId, info.ResourceId, reason.Code());
        return new IngestOutcome(IngestOutcomeKind.Filtered, reason.Code(), detail);
    }

    private async Task<IngestOutcome> QuarantineAsync(
        Delivery delivery, DeliveryInfo info, DateTimeOffset receivedAt, string stage, Reason reason, string detail,
        IReadOnlyList<string> errors, CancellationToken cancellationToken)
    {
        var record = new QuarantineRecord(
            [reason.Code()],
            detail,
            errors,
            new QuarantineSource(info.MessageId, info.MessageType, info.ResourceTypeId, info.ResourceId, delivery.ServiceBusMessageId,
                delivery.DeliveryCount, delivery.EnqueuedAt, receivedAt, info.Format.ToString()),
            Convert.ToBase64String(delivery.Body.Span),
            RelayVersion,
            stage);
        var location = await quarantine.WriteAsync(record, cancellationToken).ConfigureAwait(false);
        RelayLog.Quarantined(logger, info.MessageType, info.MessageId, info.ResourceTypeId, info.ResourceId, stage, reason.Code(), location);
        return new IngestOutcome(IngestOutcomeKind.Quarantined, reason.Code(), detail, QuarantineLocation: location);
    }
}
