using CtMparticle.Pipeline;
using CtMparticle.Storage;

namespace CtMparticle.Sources.Commercetools;

/// <summary>
/// Resolve, for commercetools: fetches a resource commercetools left out (<c>payloadNotIncluded</c>), looks up the
/// stored order context a follow-up message refers to, and, when it is missing and the API is configured, fetches
/// the order (and the payment, for a transaction state change) and keeps its context. A resource that is gone or
/// unreadable halts with the reason; an unreachable API throws, so the message is redelivered later. Without
/// <c>Commercetools:ProjectKey</c> nothing is fetched: such messages are quarantined for replay.
/// </summary>
internal sealed class CommercetoolsResolver(CommercetoolsMapper mapper, IOrderContextStore orders, CommercetoolsClient client, TimeProvider time)
{
    public async Task<Flow<SourceItem>> ResolveAsync(Flow<SourceItem> decoded, CancellationToken cancellationToken)
    {
        CtDelivery delivery;
        switch (decoded.Value)
        {
            case null:
                return decoded;
            case CtDecoded item:
                delivery = item.Delivery;
                break;
            case CtToFetch item:
                var fetched = await FetchAsync(item.Fetch, cancellationToken).ConfigureAwait(false);
                if (fetched.Message is not { } message)
                {
                    return Flow<SourceItem>.Stop(decoded.Info, fetched.Reject!);
                }

                delivery = message;
                break;
            default:
                throw new InvalidOperationException($"The commercetools source cannot resolve a {decoded.Value.GetType().Name}.");
        }

        var (orderId, paymentId) = CommercetoolsMapper.ContextLookup(delivery);
        var context = orderId is not null ? await orders.FindByOrderAsync(orderId, cancellationToken).ConfigureAwait(false)
            : paymentId is not null ? await orders.FindByPaymentAsync(paymentId, cancellationToken).ConfigureAwait(false)
            : null;
        // Invalid data is quarantined by the map stage; nothing is fetched for it.
        if (client.IsConfigured && CommercetoolsMapper.Invalid(delivery) is null && CommercetoolsMapper.MissingContext(delivery, context) is { } missing)
        {
            return await FetchContextAsync(delivery, missing, decoded.Info, cancellationToken).ConfigureAwait(false);
        }

        return Flow<SourceItem>.Go(decoded.Info, new CtResolved(delivery, context));
    }

    /// <summary><c>payloadNotIncluded</c>: the resource's current state, as the message it stands for.</summary>
    private async Task<(CtMessage? Message, Reject? Reject)> FetchAsync(FetchRequired fetch, CancellationToken cancellationToken)
    {
        if (!client.IsConfigured)
        {
            return (null, new Reject("fetch", fetch.Reason, fetch.Detail + " The commercetools API is not configured (Commercetools:*), so the relay cannot fetch it."));
        }

        var resource = new CtReference { TypeId = fetch.ResourceTypeId, Id = fetch.ResourceId };
        CtMessage? message = null;
        string? problem;
        switch (fetch.PayloadType)
        {
            case "OrderCreated" or "OrderImported" or "OrderCreatedFromRecurringOrder":
                var order = await client.GetOrderAsync(fetch.ResourceId, cancellationToken).ConfigureAwait(false);
                ThrowIfRetryLater(order);
                problem = order.Problem;
                if (order.Value is { } o)
                {
                    message = fetch.PayloadType switch
                    {
                        "OrderImported" => new OrderImportedMessage { Id = fetch.MessageId, Type = fetch.PayloadType, ProjectKey = fetch.ProjectKey, Resource = resource, CreatedAt = o.CreatedAt, Order = o },
                        "OrderCreatedFromRecurringOrder" => new OrderCreatedFromRecurringOrderMessage { Id = fetch.MessageId, Type = fetch.PayloadType, ProjectKey = fetch.ProjectKey, Resource = resource, CreatedAt = o.CreatedAt, Order = o },
                        _ => new OrderCreatedMessage { Id = fetch.MessageId, Type = fetch.PayloadType, ProjectKey = fetch.ProjectKey, Resource = resource, CreatedAt = o.CreatedAt, Order = o },
                    };
                }

                break;
            case "CustomerCreated":
                var customer = await client.GetCustomerAsync(fetch.ResourceId, cancellationToken).ConfigureAwait(false);
                ThrowIfRetryLater(customer);
                problem = customer.Problem;
                if (customer.Value is { } c)
                {
                    message = new CustomerCreatedMessage { Id = fetch.MessageId, Type = fetch.PayloadType, ProjectKey = fetch.ProjectKey, Resource = resource, CreatedAt = c.CreatedAt ?? time.GetUtcNow(), Customer = c };
                }

                break;
            default:
                problem = $"A {fetch.PayloadType} cannot be rebuilt from the resource's current state (it describes a change, not a state).";
                break;
        }

        return message is null ? (null, new Reject("fetch", fetch.Reason, $"{fetch.Detail} Fetching failed: {problem}")) : (message, null);
    }

    /// <summary>An order or payment follow-up without a stored order: fetch the order (by payment when that is all there is).</summary>
    private async Task<Flow<SourceItem>> FetchContextAsync(CtDelivery delivery, MappingNeedsContext missing, InputInfo info, CancellationToken cancellationToken)
    {
        Flow<SourceItem> Refuse(string why) => Flow<SourceItem>.Stop(info, new Reject("map", missing.Reason, $"{missing.Detail} {why}"));

        var order = missing.Reason == Reason.PaymentContextMissing
            ? await client.FindOrderByPaymentAsync(missing.LookupId, cancellationToken).ConfigureAwait(false)
            : await client.GetOrderAsync(missing.LookupId, cancellationToken).ConfigureAwait(false);
        ThrowIfRetryLater(order);
        if (order.Value is not { } fetched)
        {
            return Refuse($"Fetching it failed: {order.Problem}");
        }

        if (mapper.OrderContextOf(fetched, delivery.ProjectKey) is not { } context)
        {
            return Refuse("The fetched order could not be mapped.");
        }

        await orders.SaveAsync(context, cancellationToken).ConfigureAwait(false);
        if (delivery is PaymentTransactionStateChangedMessage changed)
        {
            // The message carries neither the transaction's type nor its amount: read them from the payment.
            var payment = await client.GetPaymentAsync(changed.Resource.Id!, cancellationToken).ConfigureAwait(false);
            ThrowIfRetryLater(payment);
            var transaction = payment.Value?.Transactions?.FirstOrDefault(t => t.Id == changed.TransactionId);
            if (transaction is null)
            {
                return Refuse($"The payment has no transaction {changed.TransactionId}.");
            }

            delivery = new PaymentTransactionAddedMessage
            {
                Id = changed.Id, Type = "PaymentTransactionAdded", ProjectKey = changed.ProjectKey, Resource = changed.Resource,
                CreatedAt = changed.CreatedAt, Transaction = transaction with { State = changed.State },
            };
        }

        return Flow<SourceItem>.Go(info, new CtResolved(delivery, context));
    }

    private static void ThrowIfRetryLater<T>(CtFetch<T> fetch)
        where T : class
    {
        if (fetch.RetryLater)
        {
            // An unreachable API or refused credentials are not the message's fault: retry it later, never quarantine it.
            throw new TransientFailureException($"commercetools cannot be read now: {fetch.Problem}");
        }
    }
}
