using System.Text.Json;
using System.Text.Json.Serialization;

namespace CtMparticle.Sources.Commercetools;

// Hand-written DTOs for the commercetools resources the relay reads. Field names follow commercetools' HTTP API
// (checked against its .NET SDK 9.5.0 types; see docs/adr/0001-decoding-deliveries.md); the JSON context maps them in camelCase.
// Only fields the relay uses are modelled: unknown members are ignored, so PII the relay does not need
// (street names, password hashes, dates of birth) is never materialised.
//
// Settable properties with [JsonRequired], not `required` and `init`, here and in Messages.cs: the source generator
// reads a type with required or init-only members through its parameterized-constructor path (every member boxed into an
// argument array, the object built at the end), which made decoding an order 13 % slower and 20 % larger in allocations
// (BenchmarkDotNet, "decode", docs/performance.md, "a ninth session"). Missing and null required members are still
// refused with the same JsonException. The DTOs are written only by the decoder; nothing mutates them after it.
// PlainMessageReader reads the plain case of each by hand: a member added here is added there too
// (PlainMessageReaderTests fills every member of every model at random and fails until it is).

/// <summary>A reference by id (<c>{typeId, id}</c>) or by key (<c>{typeId, key}</c>, used for stores).</summary>
internal sealed record CtReference
{
    [JsonRequired]
    public string TypeId { get; set; } = null!;
    public string? Id { get; set; }
    public string? Key { get; set; }
}

/// <summary><c>CentPrecisionMoney</c> or <c>HighPrecisionMoney</c>: an int64 amount in minor units.</summary>
internal sealed record CtMoney
{
    /// <summary><c>centPrecision</c> or <c>highPrecision</c>.</summary>
    public string? Type { get; set; }
    [JsonRequired]
    public string CurrencyCode { get; set; } = null!;
    [JsonRequired]
    public long CentAmount { get; set; }
    [JsonRequired]
    public int FractionDigits { get; set; }
    /// <summary>Only on <c>highPrecision</c>: the amount in <see cref="FractionDigits"/> minor units.</summary>
    public long? PreciseAmount { get; set; }
}

internal sealed record CtTaxedPrice
{
    [JsonRequired]
    public CtMoney TotalNet { get; set; } = null!;
    [JsonRequired]
    public CtMoney TotalGross { get; set; } = null!;
    public CtMoney? TotalTax { get; set; }
}

internal sealed record CtTaxRate
{
    public bool IncludedInPrice { get; set; }
}

internal sealed record CtDiscountedPrice
{
    [JsonRequired]
    public CtMoney Value { get; set; } = null!;
}

internal sealed record CtPrice
{
    public string? Id { get; set; }
    [JsonRequired]
    public CtMoney Value { get; set; } = null!;
    public CtDiscountedPrice? Discounted { get; set; }
}

internal sealed record CtIncludedDiscount
{
    public CtReference? Discount { get; set; }
    [JsonRequired]
    public CtMoney DiscountedAmount { get; set; } = null!;
}

internal sealed record CtDiscountedLineItemPrice
{
    [JsonRequired]
    public CtMoney Value { get; set; } = null!;
    public IReadOnlyList<CtIncludedDiscount>? IncludedDiscounts { get; set; }
}

internal sealed record CtDiscountedPricePerQuantity
{
    [JsonRequired]
    public long Quantity { get; set; }
    [JsonRequired]
    public CtDiscountedLineItemPrice DiscountedPrice { get; set; } = null!;
}

internal sealed record CtAttribute
{
    [JsonRequired]
    public string Name { get; set; } = null!;
    public JsonElement Value { get; set; }
}

internal sealed record CtProductVariant
{
    [JsonRequired]
    public int Id { get; set; }
    public string? Sku { get; set; }
    public string? Key { get; set; }
    public IReadOnlyList<CtAttribute>? Attributes { get; set; }
}

/// <summary>A price of a product variant in the catalog, with the scope it applies to.</summary>
internal sealed record CtCatalogPrice
{
    [JsonRequired]
    public CtMoney Value { get; set; } = null!;
    public string? Country { get; set; }
    public CtReference? CustomerGroup { get; set; }
    public CtReference? Channel { get; set; }
    public DateTimeOffset? ValidFrom { get; set; }
    public DateTimeOffset? ValidUntil { get; set; }
    public CtDiscountedPrice? Discounted { get; set; }
}

internal sealed record CtCatalogVariant
{
    [JsonRequired]
    public int Id { get; set; }
    public string? Sku { get; set; }
    public IReadOnlyList<CtCatalogPrice>? Prices { get; set; }
    public IReadOnlyList<CtAttribute>? Attributes { get; set; }
}

/// <summary>A published product (<c>ProductProjection</c>): what a storefront shows.</summary>
internal sealed record CtProductProjection
{
    [JsonRequired]
    public string Id { get; set; } = null!;
    public string? Key { get; set; }
    public IReadOnlyDictionary<string, string>? Name { get; set; }
    [JsonRequired]
    public CtCatalogVariant MasterVariant { get; set; } = null!;
    public IReadOnlyList<CtCatalogVariant>? Variants { get; set; }
}

internal sealed record CtLineItem
{
    [JsonRequired]
    public string Id { get; set; } = null!;
    public string? Key { get; set; }
    [JsonRequired]
    public string ProductId { get; set; } = null!;
    public string? ProductKey { get; set; }
    [JsonRequired]
    public IReadOnlyDictionary<string, string> Name { get; set; } = null!;
    [JsonRequired]
    public CtProductVariant Variant { get; set; } = null!;
    [JsonRequired]
    public CtPrice Price { get; set; } = null!;
    [JsonRequired]
    public long Quantity { get; set; }
    public IReadOnlyList<CtDiscountedPricePerQuantity>? DiscountedPricePerQuantity { get; set; }
    [JsonRequired]
    public CtMoney TotalPrice { get; set; } = null!;
    public CtTaxedPrice? TaxedPrice { get; set; }
    public CtTaxRate? TaxRate { get; set; }
    /// <summary><c>Standard</c> or <c>GiftLineItem</c>.</summary>
    public string? LineItemMode { get; set; }
}

internal sealed record CtCustomLineItem
{
    [JsonRequired]
    public string Id { get; set; } = null!;
    public string? Key { get; set; }
    [JsonRequired]
    public IReadOnlyDictionary<string, string> Name { get; set; } = null!;
    [JsonRequired]
    public CtMoney Money { get; set; } = null!;
    [JsonRequired]
    public CtMoney TotalPrice { get; set; } = null!;
    public string? Slug { get; set; }
    [JsonRequired]
    public long Quantity { get; set; }
    public IReadOnlyList<CtDiscountedPricePerQuantity>? DiscountedPricePerQuantity { get; set; }
    public CtTaxedPrice? TaxedPrice { get; set; }
}

internal sealed record CtShippingInfo
{
    public string? ShippingMethodName { get; set; }
    [JsonRequired]
    public CtMoney Price { get; set; } = null!;
    public CtDiscountedPrice? DiscountedPrice { get; set; }
    public CtTaxedPrice? TaxedPrice { get; set; }
}

/// <summary>One entry of <c>shipping[]</c> on orders with <c>shippingMode: Multiple</c>.</summary>
internal sealed record CtShipping
{
    public string? ShippingKey { get; set; }
    [JsonRequired]
    public CtShippingInfo ShippingInfo { get; set; } = null!;
}

internal sealed record CtDiscountOnTotalPrice
{
    [JsonRequired]
    public CtMoney DiscountedAmount { get; set; } = null!;
}

/// <summary>An address; only the routing fields are read (country is ISO 3166-1 alpha-2, required).</summary>
internal sealed record CtAddress
{
    public string? Id { get; set; }
    [JsonRequired]
    public string Country { get; set; } = null!;
    public string? State { get; set; }
    public string? Region { get; set; }
}

internal sealed record CtCustomFields
{
    public CtReference? Type { get; set; }
    public IReadOnlyDictionary<string, JsonElement>? Fields { get; set; }
}

internal sealed record CtPaymentInfo
{
    public IReadOnlyList<CtReference>? Payments { get; set; }
}

internal sealed record CtClientLogging
{
    public string? ClientId { get; set; }
    public string? ExternalUserId { get; set; }
    public CtReference? Customer { get; set; }
    public string? AnonymousId { get; set; }
}

internal sealed record CtOrder
{
    [JsonRequired]
    public string Id { get; set; } = null!;
    public long Version { get; set; }
    public string? OrderNumber { get; set; }
    public string? CustomerId { get; set; }
    public string? CustomerEmail { get; set; }
    public string? AnonymousId { get; set; }
    public CtReference? CustomerGroup { get; set; }
    public CtReference? Store { get; set; }
    [JsonRequired]
    public IReadOnlyList<CtLineItem> LineItems { get; set; } = null!;
    public IReadOnlyList<CtCustomLineItem>? CustomLineItems { get; set; }
    [JsonRequired]
    public CtMoney TotalPrice { get; set; } = null!;
    public CtTaxedPrice? TaxedPrice { get; set; }
    public CtTaxedPrice? TaxedShippingPrice { get; set; }
    public CtDiscountOnTotalPrice? DiscountOnTotalPrice { get; set; }
    /// <summary><c>Single</c> (default) or <c>Multiple</c>.</summary>
    public string? ShippingMode { get; set; }
    public CtShippingInfo? ShippingInfo { get; set; }
    public IReadOnlyList<CtShipping>? Shipping { get; set; }
    public CtAddress? BillingAddress { get; set; }
    public CtAddress? ShippingAddress { get; set; }
    public string? Country { get; set; }
    public string? Locale { get; set; }
    public string? Origin { get; set; }
    public string? OrderState { get; set; }
    public string? PaymentState { get; set; }
    public string? ShipmentState { get; set; }
    public CtPaymentInfo? PaymentInfo { get; set; }
    public CtCustomFields? Custom { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
    [JsonRequired]
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A cart, as much of it as a checkout event needs: its lines and who it belongs to.</summary>
internal sealed record CtCart
{
    [JsonRequired]
    public string Id { get; set; } = null!;
    public string? CustomerId { get; set; }
    public string? AnonymousId { get; set; }
    public string? Locale { get; set; }
    public CtReference? Store { get; set; }
    [JsonRequired]
    public IReadOnlyList<CtLineItem> LineItems { get; set; } = null!;
    public IReadOnlyList<CtCustomLineItem>? CustomLineItems { get; set; }
    [JsonRequired]
    public CtMoney TotalPrice { get; set; } = null!;
}

internal sealed record CtCustomer
{
    [JsonRequired]
    public string Id { get; set; } = null!;
    public long Version { get; set; }
    public string? Key { get; set; }
    public string? CustomerNumber { get; set; }
    public string? ExternalId { get; set; }
    [JsonRequired]
    public string Email { get; set; } = null!;
    public string? FirstName { get; set; }
    public string? LastName { get; set; }
    public IReadOnlyList<CtAddress>? Addresses { get; set; }
    public string? DefaultShippingAddressId { get; set; }
    public string? DefaultBillingAddressId { get; set; }
    public bool? IsEmailVerified { get; set; }
    public CtReference? CustomerGroup { get; set; }
    public IReadOnlyList<CtReference>? Stores { get; set; }
    public string? Locale { get; set; }
    public CtCustomFields? Custom { get; set; }
    public DateTimeOffset? CreatedAt { get; set; }
    public DateTimeOffset? LastModifiedAt { get; set; }
    public CtClientLogging? CreatedBy { get; set; }
}

internal sealed record CtReturnItem
{
    /// <summary><c>LineItemReturnItem</c> or <c>CustomLineItemReturnItem</c>.</summary>
    public string? Type { get; set; }
    [JsonRequired]
    public string Id { get; set; } = null!;
    public string? Key { get; set; }
    [JsonRequired]
    public long Quantity { get; set; }
    public string? LineItemId { get; set; }
    public string? CustomLineItemId { get; set; }
    public string? ShipmentState { get; set; }
    public string? PaymentState { get; set; }
    public DateTimeOffset? CreatedAt { get; set; }
}

internal sealed record CtReturnInfo
{
    [JsonRequired]
    public IReadOnlyList<CtReturnItem> Items { get; set; } = null!;
    public string? ReturnTrackingId { get; set; }
    public DateTimeOffset? ReturnDate { get; set; }
}

internal sealed record CtTransaction
{
    [JsonRequired]
    public string Id { get; set; } = null!;
    public DateTimeOffset? Timestamp { get; set; }
    /// <summary><c>Authorization</c>, <c>CancelAuthorization</c>, <c>Charge</c>, <c>Refund</c>, <c>Chargeback</c>.</summary>
    [JsonRequired]
    public string Type { get; set; } = null!;
    [JsonRequired]
    public CtMoney Amount { get; set; } = null!;
    public string? InteractionId { get; set; }
    /// <summary><c>Initial</c>, <c>Pending</c>, <c>Success</c>, <c>Failure</c>.</summary>
    [JsonRequired]
    public string State { get; set; } = null!;
}
