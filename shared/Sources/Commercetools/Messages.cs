using System.Text.Json;
using System.Text.Json.Serialization;

namespace CtMparticle.Sources.Commercetools;

/// <summary>
/// What every commercetools delivery the relay accepts decodes to: a Message (notificationType <c>Message</c>)
/// or a change notification (<c>ResourceCreated/Updated/Deleted</c>).
/// </summary>
internal abstract record CtDelivery
{
    /// <summary>The project the delivery came from (absent on Messages API results).</summary>
    public string? ProjectKey { get; set; }
    [JsonRequired]
    public CtReference Resource { get; set; } = null!;
    public IReadOnlyDictionary<string, JsonElement>? ResourceUserProvidedIdentifiers { get; set; }

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
    [JsonRequired]
    public string NotificationType { get; set; } = null!;
    public long Version { get; set; }
    public long? OldVersion { get; set; }
    public DateTimeOffset? ModifiedAt { get; set; }
    /// <summary>True when a DELETE used <c>dataErasure=true</c> (a GDPR erase).</summary>
    public bool? DataErasure { get; set; }
}

/// <summary>The common envelope of every commercetools Message (SDK <c>IMessage</c>).</summary>
internal abstract record CtMessage : CtDelivery
{
    /// <summary>Unique message id: the dedupe key for everything that is not a business event.</summary>
    [JsonRequired]
    public string Id { get; set; } = null!;
    public long SequenceNumber { get; set; }
    public long ResourceVersion { get; set; }
    [JsonRequired]
    public string Type { get; set; } = null!;
    [JsonRequired]
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? LastModifiedAt { get; set; }
    public CtClientLogging? CreatedBy { get; set; }
}

/// <summary>Messages that carry a whole order: the three ways a purchase comes into being.</summary>
internal abstract record CtOrderCarryingMessage : CtMessage
{
    [JsonRequired]
    public CtOrder Order { get; set; } = null!;
}

internal sealed record OrderCreatedMessage : CtOrderCarryingMessage;

internal sealed record OrderImportedMessage : CtOrderCarryingMessage;

internal sealed record OrderCreatedFromRecurringOrderMessage : CtOrderCarryingMessage
{
    public CtReference? RecurringOrderRef { get; set; }
}

internal sealed record OrderStateChangedMessage : CtMessage
{
    [JsonRequired]
    public string OrderState { get; set; } = null!;
    public string? OldOrderState { get; set; }
}

internal sealed record OrderShipmentStateChangedMessage : CtMessage
{
    public string? ShipmentState { get; set; }
    public string? OldShipmentState { get; set; }
}

internal sealed record OrderPaymentStateChangedMessage : CtMessage
{
    public string? PaymentState { get; set; }
    public string? OldPaymentState { get; set; }
}

internal sealed record OrderCustomerSetMessage : CtMessage
{
    public CtReference? Customer { get; set; }
    public CtReference? CustomerGroup { get; set; }
    public CtReference? OldCustomer { get; set; }
    public CtReference? OldCustomerGroup { get; set; }
}

internal sealed record ReturnInfoAddedMessage : CtMessage
{
    [JsonRequired]
    public CtReturnInfo ReturnInfo { get; set; } = null!;
}

internal sealed record ReturnInfoSetMessage : CtMessage
{
    public IReadOnlyList<CtReturnInfo>? ReturnInfo { get; set; }
}

internal sealed record PaymentTransactionAddedMessage : CtMessage
{
    [JsonRequired]
    public CtTransaction Transaction { get; set; } = null!;
}

internal sealed record PaymentTransactionStateChangedMessage : CtMessage
{
    [JsonRequired]
    public string TransactionId { get; set; } = null!;
    [JsonRequired]
    public string State { get; set; } = null!;
}

internal sealed record CustomerCreatedMessage : CtMessage
{
    [JsonRequired]
    public CtCustomer Customer { get; set; } = null!;
}

internal sealed record CustomerEmailChangedMessage : CtMessage
{
    [JsonRequired]
    public string Email { get; set; } = null!;
    public string? OldEmail { get; set; }
}

internal sealed record CustomerEmailVerifiedMessage : CtMessage;

internal sealed record CustomerDeletedMessage : CtMessage
{
    public string? Email { get; set; }
}

internal sealed record CustomerGroupSetMessage : CtMessage
{
    public CtReference? CustomerGroup { get; set; }
}

internal sealed record CustomerFirstNameSetMessage : CtMessage
{
    public string? FirstName { get; set; }
}

internal sealed record CustomerLastNameSetMessage : CtMessage
{
    public string? LastName { get; set; }
}

internal sealed record CustomerCustomFieldAddedMessage : CtMessage
{
    [JsonRequired]
    public string Name { get; set; } = null!;
    public JsonElement Value { get; set; }
}

internal sealed record CustomerCustomFieldChangedMessage : CtMessage
{
    [JsonRequired]
    public string Name { get; set; } = null!;
    public JsonElement Value { get; set; }
    public JsonElement? PreviousValue { get; set; }
}

internal sealed record CustomerCustomFieldRemovedMessage : CtMessage
{
    [JsonRequired]
    public string Name { get; set; } = null!;
}

internal sealed record CustomerCustomTypeSetMessage : CtMessage
{
    public CtCustomFields? CustomFields { get; set; }
    public string? PreviousTypeId { get; set; }
}

internal sealed record CustomerCustomTypeRemovedMessage : CtMessage
{
    public string? PreviousTypeId { get; set; }
}
