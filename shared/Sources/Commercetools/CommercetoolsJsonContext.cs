using System.Text.Json.Serialization;

namespace CtMparticle.Sources.Commercetools;

/// <summary>
/// Source-generated (reflection-free) JSON for everything read from commercetools. Unknown members are ignored
/// (real payloads carry more than the SDK types); <c>required</c> members and nullable annotations are enforced,
/// so a missing or null required field becomes a <see cref="System.Text.Json.JsonException"/> with a path.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    NumberHandling = JsonNumberHandling.Strict,
    // A repeated key is refused (DeliveryDecoder reports it as malformed_json naming the key), never last-one-wins.
    AllowDuplicateProperties = false,
    MaxDepth = DeliveryDecoder.MaxNestingDepth + 8)]
[JsonSerializable(typeof(CtChangeNotification))]
[JsonSerializable(typeof(OrderCreatedMessage))]
[JsonSerializable(typeof(OrderImportedMessage))]
[JsonSerializable(typeof(OrderCreatedFromRecurringOrderMessage))]
[JsonSerializable(typeof(OrderStateChangedMessage))]
[JsonSerializable(typeof(OrderShipmentStateChangedMessage))]
[JsonSerializable(typeof(OrderPaymentStateChangedMessage))]
[JsonSerializable(typeof(OrderCustomerSetMessage))]
[JsonSerializable(typeof(ReturnInfoAddedMessage))]
[JsonSerializable(typeof(ReturnInfoSetMessage))]
[JsonSerializable(typeof(PaymentTransactionAddedMessage))]
[JsonSerializable(typeof(PaymentTransactionStateChangedMessage))]
[JsonSerializable(typeof(CustomerCreatedMessage))]
[JsonSerializable(typeof(CustomerEmailChangedMessage))]
[JsonSerializable(typeof(CustomerEmailVerifiedMessage))]
[JsonSerializable(typeof(CustomerDeletedMessage))]
[JsonSerializable(typeof(CustomerGroupSetMessage))]
[JsonSerializable(typeof(CustomerFirstNameSetMessage))]
[JsonSerializable(typeof(CustomerLastNameSetMessage))]
[JsonSerializable(typeof(CustomerCustomFieldAddedMessage))]
[JsonSerializable(typeof(CustomerCustomFieldChangedMessage))]
[JsonSerializable(typeof(CustomerCustomFieldRemovedMessage))]
[JsonSerializable(typeof(CustomerCustomTypeSetMessage))]
[JsonSerializable(typeof(CustomerCustomTypeRemovedMessage))]
[JsonSerializable(typeof(CtOrder))]
[JsonSerializable(typeof(CtCustomer))]
internal sealed partial class CommercetoolsJsonContext : JsonSerializerContext;
