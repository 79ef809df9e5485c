using System.Text.Json;

namespace CtMparticle.Sources.Commercetools;

/// <summary>
/// What every commercetools delivery the relay accepts decodes to: a Message (notificationType <c>Message</c>)
/// or a change notification (<c>ResourceCreated/Updated/Deleted</c>).
/// </summary>
internal abstract record CtDelivery
{
    /// <summary>The project the delivery came from (absent on Messages API results).</summary>
    public string? ProjectKey { get; init; }
    public required CtReference Resource { get; init; }
    public IReadOnlyDictionary<string, JsonElement>? ResourceUserProvidedIdentifiers { get; init; }

    /// <summary>A user-provided identifier of the resource as a string, when it is one (<c>orderNumber</c>, <c>key</c>...).</summary>
    public string? UserProvidedIdentifier(string name) =>
        ResourceUserProvidedIdentifiers is { } ids && ids.TryGetValue(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;
}

/// <summary>A change notification: ids and versions only, no diff.</summary>
internal sealed record CtChangeNotification : CtDelivery
{
    /// <summary><c>ResourceCreated</c>, <c>ResourceUpdated</c> or <c>ResourceDeleted</c>.</summary>
    public required string NotificationType { get; init; }
    public long Version { get; init; }
    public long? OldVersion { get; init; }
    public DateTimeOffset? ModifiedAt { get; init; }
    /// <summary>True when a DELETE used <c>dataErasure=true</c> (a GDPR erase).</summary>
    public bool? DataErasure { get; init; }
}

/// <summary>The common envelope of every commercetools Message (SDK <c>IMessage</c>).</summary>
internal abstract record CtMessage : CtDelivery
{
    /// <summary>Unique message id: the dedupe key for everything that is not a business event.</summary>
    public required string Id { get; init; }
    public long SequenceNumber { get; init; }
    public long ResourceVersion { get; init; }
    public required string Type { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? LastModifiedAt { get; init; }
    public CtClientLogging? CreatedBy { get; init; }
}

/// <summary>Messages that carry a whole order: the three ways a purchase comes into being.</summary>
internal abstract record CtOrderCarryingMessage : CtMessage
{
    public required CtOrder Order { get; init; }
}

internal sealed record OrderCreatedMessage : CtOrderCarryingMessage;

internal sealed record OrderImportedMessage : CtOrderCarryingMessage;

internal sealed record OrderCreatedFromRecurringOrderMessage : CtOrderCarryingMessage
{
    public CtReference? RecurringOrderRef { get; init; }
}

internal sealed record OrderStateChangedMessage : CtMessage
{
    public required string OrderState { get; init; }
    public string? OldOrderState { get; init; }
}

internal sealed record OrderShipmentStateChangedMessage : CtMessage
{
    public string? ShipmentState { get; init; }
    public string? OldShipmentState { get; init; }
}

internal sealed record OrderPaymentStateChangedMessage : CtMessage
{
    public string? PaymentState { get; init; }
    public string? OldPaymentState { get; init; }
}

internal sealed record OrderCustomerSetMessage : CtMessage
{
    public CtReference? Customer { get; init; }
    public CtReference? CustomerGroup { get; init; }
    public CtReference? OldCustomer { get; init; }
    public CtReference? OldCustomerGroup { get; init; }
}

internal sealed record ReturnInfoAddedMessage : CtMessage
{
    public required CtReturnInfo ReturnInfo { get; init; }
}

internal sealed record ReturnInfoSetMessage : CtMessage
{
    public IReadOnlyList<CtReturnInfo>? ReturnInfo { get; init; }
}

internal sealed record PaymentTransactionAddedMessage : CtMessage
{
    public required CtTransaction Transaction { get; init; }
}

internal sealed record PaymentTransactionStateChangedMessage : CtMessage
{
    public required string TransactionId { get; init; }
    public required string State { get; init; }
}

internal sealed record CustomerCreatedMessage : CtMessage
{
    public required CtCustomer Customer { get; init; }
}

internal sealed record CustomerEmailChangedMessage : CtMessage
{
    public required string Email { get; init; }
    public string? OldEmail { get; init; }
}

internal sealed record CustomerEmailVerifiedMessage : CtMessage;

internal sealed record CustomerDeletedMessage : CtMessage
{
    public string? Email { get; init; }
}

internal sealed record CustomerGroupSetMessage : CtMessage
{
    public CtReference? CustomerGroup { get; init; }
}

internal sealed record CustomerFirstNameSetMessage : CtMessage
{
    public string? FirstName { get; init; }
}

internal sealed record CustomerLastNameSetMessage : CtMessage
{
    public string? LastName { get; init; }
}

internal sealed record CustomerCustomFieldAddedMessage : CtMessage
{
    public required string Name { get; init; }
    public JsonElement Value { get; init; }
}

internal sealed record CustomerCustomFieldChangedMessage : CtMessage
{
    public required string Name { get; init; }
    public JsonElement Value { get; init; }
    public JsonElement? PreviousValue { get; init; }
}

internal sealed record CustomerCustomFieldRemovedMessage : CtMessage
{
    public required string Name { get; init; }
}

internal sealed record CustomerCustomTypeSetMessage : CtMessage
{
    public CtCustomFields? CustomFields { get; init; }
    public string? PreviousTypeId { get; init; }
}

internal sealed record CustomerCustomTypeRemovedMessage : CtMessage
{
    public string? PreviousTypeId { get; init; }
}
