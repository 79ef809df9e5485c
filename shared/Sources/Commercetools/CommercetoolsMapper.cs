using System.Text.Json;
using CtMparticle.Configuration;
using CtMparticle.Tracking;

namespace CtMparticle.Sources.Commercetools;

/// <summary>
/// Maps a decoded commercetools delivery to the tracking plan's canonical events. Pure: the caller supplies the
/// stored <see cref="OrderContext"/> for messages that need it (looked up by <see cref="ContextLookup"/>; what is still
/// missing is <see cref="MissingContext"/>).
/// </summary>
internal sealed class CommercetoolsMapper(MappingOptions options, MParticleOptions routing)
{
    /// <summary>
    /// Which stored order context a delivery needs before it can be mapped: (order id, null), (null, payment id),
    /// or (null, null) when it needs none.
    /// </summary>
    public static (string? OrderId, string? PaymentId) ContextLookup(CtDelivery delivery) => delivery switch
    {
        OrderStateChangedMessage or OrderShipmentStateChangedMessage or OrderPaymentStateChangedMessage
            or OrderCustomerSetMessage or ReturnInfoAddedMessage or ReturnInfoSetMessage => (delivery.Resource.Id, null),
        PaymentTransactionAddedMessage or PaymentTransactionStateChangedMessage => (null, delivery.Resource.Id),
        _ => (null, null),
    };

    /// <summary>
    /// The order context a delivery still lacks before it can be mapped, or null: a follow-up without its stored
    /// order, a return item on a line the stored order does not have, a successful transaction state change (which
    /// names neither type nor amount). Filters come first: what will be filtered needs nothing.
    /// </summary>
    public static MappingNeedsContext? MissingContext(CtDelivery delivery, OrderContext? order) => delivery switch
    {
        OrderStateChangedMessage or OrderShipmentStateChangedMessage or OrderPaymentStateChangedMessage when order is null => MissingOrder((CtMessage)delivery),
        OrderCustomerSetMessage m when order is null => MissingOrder(m), // set or removed, the context must learn it
        ReturnInfoAddedMessage or ReturnInfoSetMessage when order is null => MissingOrder((CtMessage)delivery),
        ReturnInfoAddedMessage m => UnknownReturnLine([m.ReturnInfo], order!),
        ReturnInfoSetMessage m => UnknownReturnLine(m.ReturnInfo ?? [], order!),
        PaymentTransactionAddedMessage { Transaction: { Type: "Refund", State: "Success" } } m when order is null =>
            new MappingNeedsContext(Reason.PaymentContextMissing, m.Resource.Id!,
                $"Payment {m.Resource.Id} is not linked to a stored order (payments carry no order reference); fetch the order by payment id and replay."),
        PaymentTransactionStateChangedMessage { State: "Success" } m =>
            new MappingNeedsContext(Reason.PaymentContextMissing, m.Resource.Id!,
                $"Transaction {m.TransactionId} on payment {m.Resource.Id} succeeded, but the message carries neither its type nor its amount; fetch the payment and replay."),
        _ => null,
    };

    /// <summary>The context an order leaves for its follow-ups (as its OrderCreated would), or null when the order cannot be mapped.</summary>
    public OrderContext? OrderContextOf(CtOrder order, string? projectKey)
    {
        var created = new OrderCreatedMessage
        {
            Id = "fetched-" + order.Id, Type = "OrderCreated", ProjectKey = projectKey,
            Resource = new CtReference { TypeId = "order", Id = order.Id }, CreatedAt = order.CreatedAt, Order = order,
        };
        return PurchaseMapper.Map(created, options, routing) is Mapped { OrderContext: { } context } ? context : null;
    }

    /// <summary>
    /// Data no mapping can be right about, named by its field: a negative sequence number, a quantity below one, an
    /// order without lines, impossible totals. Checked before anything else, and so before the consent decision, so a
    /// broken producer always shows in the quarantine.
    /// </summary>
    public static MappingInvalid? Invalid(CtDelivery delivery) => delivery switch
    {
        CtMessage { SequenceNumber: < 0 } m => new MappingInvalid(Reason.InvalidSequenceNumber,
            $"{m.Type} {m.Id} has sequenceNumber {m.SequenceNumber}; commercetools numbers a resource's messages upwards from 1."),
        CtOrderCarryingMessage m => PurchaseMapper.Invalid(m.Order),
        ReturnInfoAddedMessage m => ReturnQuantities([m.ReturnInfo], m.Resource.Id),
        ReturnInfoSetMessage m => ReturnQuantities(m.ReturnInfo ?? [], m.Resource.Id),
        _ => null,
    };

    /// <summary>Maps a delivery whose context is resolved; one that still lacks it maps to <see cref="MappingNeedsContext"/>.</summary>
    public MappingResult Map(CtDelivery delivery, OrderContext? order = null)
    {
        try
        {
            return MapChecked(delivery, order);
        }
        catch (OverflowException)
        {
            // Sums and products of amounts that are each in range but together exceed decimal: not a real order.
            return new MappingInvalid(Reason.InvalidMoney,
                $"The amounts of {delivery.Resource.TypeId} {delivery.Resource.Id} add up beyond what can be represented; no real order does.");
        }
    }

    private MappingResult MapChecked(CtDelivery delivery, OrderContext? order) => Invalid(delivery) ?? MissingContext(delivery, order) as MappingResult ?? delivery switch
    {
        CtOrderCarryingMessage m => PurchaseMapper.Map(m, options, routing),
        OrderStateChangedMessage m => Status(m, order!, OrderStatusKind.Order, m.OrderState, m.OldOrderState),
        OrderShipmentStateChangedMessage m => Status(m, order!, OrderStatusKind.Shipment, m.ShipmentState, m.OldShipmentState),
        OrderPaymentStateChangedMessage m => Status(m, order!, OrderStatusKind.Payment, m.PaymentState, m.OldPaymentState),
        OrderCustomerSetMessage m => CustomerSet(m, order),
        ReturnInfoAddedMessage m => Returns(m, [m.ReturnInfo], order!),
        ReturnInfoSetMessage m => Returns(m, m.ReturnInfo ?? [], order!),
        PaymentTransactionAddedMessage m => RefundTransaction(m, order),
        PaymentTransactionStateChangedMessage m => RefundStateChanged(m),
        CtMessage m when CustomerMapper.Handles(m) => CustomerMapper.Map(m, options, routing),
        CtChangeNotification c => Change(c),
        CtMessage m => new MappingFiltered(Reason.UnsupportedMessageType, $"Message type '{m.Type}' has no mapping."),
        _ => new MappingFiltered(Reason.UnsupportedNotificationType, "Unknown delivery kind."),
    };

    private Mapped Status(CtMessage message, OrderContext order, OrderStatusKind kind, string? status, string? previous)
    {
        var context = FromOrder(order, message, EventKeys.Message(message.ProjectKey, message.Id), message.CreatedAt);
        return new Mapped([new OrderStatusChanged(context, order.OrderId, order.OrderNumber, kind, status, previous)]);
    }

    private MappingResult CustomerSet(OrderCustomerSetMessage message, OrderContext? order)
    {
        if (message.Customer?.Id is not { } customerId)
        {
            // Nothing to link, but the order's later follow-ups are the guest's again, as a fetch of the order would
            // show them (its e-mail and anonymous id stay): the context forgets the customer as of this version.
            var guest = order! with { User = order.User with { CustomerId = null }, Version = Math.Max(0, message.ResourceVersion) };
            return new MappingFiltered(Reason.CustomerRemovedFromOrder,
                $"Order {message.Resource.Id} had its customer removed: there is no identity to link, and its later follow-ups are the guest's.", guest);
        }

        var known = order!; // MissingContext ruled out a missing order
        var user = known.User with { CustomerId = customerId };
        var context = FromOrder(known, message, EventKeys.Message(message.ProjectKey, message.Id), message.CreatedAt) with { User = user };

        // The order's later follow-ups are the customer's, as they would be had they fetched the order after this
        // message: the context learns the customer as of the message's order version (a store keeps the newest, so a
        // customer set arriving after a newer context changes nothing). A version below 1 did not come from commercetools:
        // it counts as unknown (0), as in every store.
        return new Mapped([new OrderCustomerLinked(context, known.OrderId, known.OrderNumber)], known with { User = user, Version = Math.Max(0, message.ResourceVersion) });
    }

    private MappingResult Returns(CtMessage message, IReadOnlyList<CtReturnInfo> returns, OrderContext order)
    {
        var events = new List<TrackingEvent>();
        foreach (var info in returns)
        {
            foreach (var item in info.Items)
            {
                var line = order.Lines[(item.LineItemId ?? item.CustomLineItemId)!]; // MissingContext checked every line

                // A return is goods, not money: the refunded amount arrives with the payment's refund transaction.
                var at = item.CreatedAt ?? info.ReturnDate ?? message.CreatedAt;
                var returned = line with { Quantity = item.Quantity, UnitPrice = null, LineTotal = null, ListPrice = null };
                var key = EventKeys.ReturnItem(message.ProjectKey, order.OrderId, item.Id);
                events.Add(new OrderReturned(FromOrder(order, message, key, at), order.OrderId, order.OrderNumber, item.Id, returned, item.ShipmentState, item.PaymentState));
                if (options.Returns == ReturnsMode.RefundWithAmount && RefundOf(line, item.Quantity) is { } refunded)
                {
                    var refundKey = EventKeys.ReturnItemRefund(message.ProjectKey, order.OrderId, item.Id);
                    events.Add(new OrderRefunded(FromOrder(order, message, refundKey, at), order.OrderId, order.OrderNumber, order.Currency,
                        refunded.LineTotal!.Value, [refunded], RefundSource.ReturnItem, item.Id));
                }
            }
        }

        return events.Count == 0
            ? new MappingFiltered(Reason.UnsupportedMessageType, $"{message.Type} on order {order.OrderId} lists no return items.")
            : new Mapped(events);
    }

    private MappingResult RefundTransaction(PaymentTransactionAddedMessage message, OrderContext? order)
    {
        var transaction = message.Transaction;
        if (!string.Equals(transaction.Type, "Refund", StringComparison.Ordinal))
        {
            return new MappingFiltered(Reason.TransactionNotTracked, $"Payment transaction of type {transaction.Type} is not a refund; purchases come from the order.");
        }

        if (!string.Equals(transaction.State, "Success", StringComparison.Ordinal))
        {
            return new MappingFiltered(Reason.RefundNotSettled,
                $"Refund transaction {transaction.Id} is {transaction.State}; it is sent when PaymentTransactionStateChanged reports Success.");
        }

        if (!MoneyMath.IsCurrencyCode(transaction.Amount.CurrencyCode) || MoneyMath.ToDecimal(transaction.Amount) is not { } amount)
        {
            return new MappingInvalid(Reason.InvalidMoney, $"Refund transaction {transaction.Id} has an unreadable amount.");
        }

        var key = EventKeys.RefundTransaction(message.ProjectKey, message.Resource.Id!, transaction.Id);
        var context = FromOrder(order!, message, key, transaction.Timestamp ?? message.CreatedAt); // MissingContext: a settled refund has its order
        return new Mapped([new OrderRefunded(context, order!.OrderId, order.OrderNumber, transaction.Amount.CurrencyCode,
            MoneyMath.Normalize(amount, transaction.Amount.FractionDigits), [], RefundSource.PaymentTransaction, transaction.Id)]);
    }

    // A successful change never gets here (MissingContext: it needs the payment's transaction).
    private static MappingFiltered RefundStateChanged(PaymentTransactionStateChangedMessage message) =>
        new(Reason.RefundNotSettled, $"Transaction {message.TransactionId} changed to {message.State}; only Success completes a refund.");

    private static MappingResult Change(CtChangeNotification change) =>
        new MappingFiltered(Reason.ChangeNotificationNotTracked,
            $"{change.NotificationType} for {change.Resource.TypeId} {change.Resource.Id} carries no data; " +
            (change.Resource.TypeId == "cart"
                ? "cart activity comes from the storefront collector."
                : "subscribe to this resource's Messages instead."));

    private EventContext FromOrder(OrderContext order, CtMessage message, string dedupeKey, DateTimeOffset occurredAt) =>
        new(Uuid5.ForEvent(dedupeKey), dedupeKey, occurredAt, EventSource.Commercetools, message.Id,
            order.StoreKey, order.Region, order.User, order.Consent, order.Channel, order.Locale);

    /// <summary>The returned units at the line's effective unit price (after discounts, as the shopper paid), exact.</summary>
    private static ProductLine? RefundOf(ProductLine line, long quantity) =>
        line.UnitPrice is { } unit ? line with { Quantity = quantity, LineTotal = unit * quantity, ListPrice = null } : null;

    private static MappingInvalid? ReturnQuantities(IEnumerable<CtReturnInfo> returns, string? orderId) =>
        returns.SelectMany(info => info.Items).FirstOrDefault(item => item.Quantity < 1) is { } bad
            ? new MappingInvalid(Reason.InvalidQuantity, $"Return item {bad.Id} on order {orderId} has quantity {bad.Quantity}; a return is of at least one unit.")
            : null;

    private static MappingNeedsContext? UnknownReturnLine(IEnumerable<CtReturnInfo> returns, OrderContext order)
    {
        foreach (var item in returns.SelectMany(info => info.Items))
        {
            var lineId = item.LineItemId ?? item.CustomLineItemId;
            if (lineId is null || !order.Lines.ContainsKey(lineId))
            {
                return new MappingNeedsContext(Reason.OrderContextMissing, order.OrderId,
                    $"Return item {item.Id} refers to line {lineId ?? "(none)"}, which the stored order {order.OrderId} does not have; fetch the order and replay.");
            }
        }

        return null;
    }

    private static MappingNeedsContext MissingOrder(CtMessage message) =>
        new(Reason.OrderContextMissing, message.Resource.Id!,
            $"{message.Type} for order {message.Resource.Id} arrived before (or without) its OrderCreated; the order's store, currency and customer are unknown. Replay it once the order is known.");

    /// <summary>Reads a custom field value as a user attribute string (strings, numbers, booleans, enum keys).</summary>
    internal static string? AttributeValue(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Object when value.TryGetProperty("key", out var key) && key.ValueKind == JsonValueKind.String => key.GetString(),
        _ => null,
    };
}
