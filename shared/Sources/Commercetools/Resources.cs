using System.Text.Json;

namespace CtMparticle.Sources.Commercetools;

// Hand-written DTOs for the commercetools resources the relay reads. Field names follow commercetools' HTTP API
// (checked against its .NET SDK 9.5.0 types; see docs/adr/0001-decoding-deliveries.md); the JSON context maps them in camelCase.
// Only fields the relay uses are modelled: unknown members are ignored, so PII the relay does not need
// (street names, password hashes, dates of birth) is never materialised.

/// <summary>A reference by id (<c>{typeId, id}</c>) or by key (<c>{typeId, key}</c>, used for stores).</summary>
internal sealed record CtReference
{
    public required string TypeId { get; init; }
    public string? Id { get; init; }
    public string? Key { get; init; }
}

/// <summary><c>CentPrecisionMoney</c> or <c>HighPrecisionMoney</c>: an int64 amount in minor units.</summary>
internal sealed record CtMoney
{
    /// <summary><c>centPrecision</c> or <c>highPrecision</c>.</summary>
    public string? Type { get; init; }
    public required string CurrencyCode { get; init; }
    public required long CentAmount { get; init; }
    public required int FractionDigits { get; init; }
    /// <summary>Only on <c>highPrecision</c>: the amount in <see cref="FractionDigits"/> minor units.</summary>
    public long? PreciseAmount { get; init; }
}

internal sealed record CtTaxedPrice
{
    public required CtMoney TotalNet { get; init; }
    public required CtMoney TotalGross { get; init; }
    public CtMoney? TotalTax { get; init; }
}

internal sealed record CtTaxRate
{
    public bool IncludedInPrice { get; init; }
}

internal sealed record CtDiscountedPrice
{
    public required CtMoney Value { get; init; }
}

internal sealed record CtPrice
{
    public string? Id { get; init; }
    public required CtMoney Value { get; init; }
    public CtDiscountedPrice? Discounted { get; init; }
}

internal sealed record CtIncludedDiscount
{
    public CtReference? Discount { get; init; }
    public required CtMoney DiscountedAmount { get; init; }
}

internal sealed record CtDiscountedLineItemPrice
{
    public required CtMoney Value { get; init; }
    public IReadOnlyList<CtIncludedDiscount>? IncludedDiscounts { get; init; }
}

internal sealed record CtDiscountedPricePerQuantity
{
    public required long Quantity { get; init; }
    public required CtDiscountedLineItemPrice DiscountedPrice { get; init; }
}

internal sealed record CtAttribute
{
    public required string Name { get; init; }
    public JsonElement Value { get; init; }
}

internal sealed record CtProductVariant
{
    public required int Id { get; init; }
    public string? Sku { get; init; }
    public string? Key { get; init; }
    public IReadOnlyList<CtAttribute>? Attributes { get; init; }
}

/// <summary>A price of a product variant in the catalog, with the scope it applies to.</summary>
internal sealed record CtCatalogPrice
{
    public required CtMoney Value { get; init; }
    public string? Country { get; init; }
    public CtReference? CustomerGroup { get; init; }
    public CtReference? Channel { get; init; }
    public DateTimeOffset? ValidFrom { get; init; }
    public DateTimeOffset? ValidUntil { get; init; }
    public CtDiscountedPrice? Discounted { get; init; }
}

internal sealed record CtCatalogVariant
{
    public required int Id { get; init; }
    public string? Sku { get; init; }
    public IReadOnlyList<CtCatalogPrice>? Prices { get; init; }
    public IReadOnlyList<CtAttribute>? Attributes { get; init; }
}

/// <summary>A published product (<c>ProductProjection</c>): what a storefront shows.</summary>
internal sealed record CtProductProjection
{
    public required string Id { get; init; }
    public string? Key { get; init; }
    public IReadOnlyDictionary<string, string>? Name { get; init; }
    public required CtCatalogVariant MasterVariant { get; init; }
    public IReadOnlyList<CtCatalogVariant>? Variants { get; init; }
}

internal sealed record CtLineItem
{
    public required string Id { get; init; }
    public string? Key { get; init; }
    public required string ProductId { get; init; }
    public string? ProductKey { get; init; }
    public required IReadOnlyDictionary<string, string> Name { get; init; }
    public required CtProductVariant Variant { get; init; }
    public required CtPrice Price { get; init; }
    public required long Quantity { get; init; }
    public IReadOnlyList<CtDiscountedPricePerQuantity>? DiscountedPricePerQuantity { get; init; }
    public required CtMoney TotalPrice { get; init; }
    public CtTaxedPrice? TaxedPrice { get; init; }
    public CtTaxRate? TaxRate { get; init; }
    /// <summary><c>Standard</c> or <c>GiftLineItem</c>.</summary>
    public string? LineItemMode { get; init; }
}

internal sealed record CtCustomLineItem
{
    public required string Id { get; init; }
    public string? Key { get; init; }
    public required IReadOnlyDictionary<string, string> Name { get; init; }
    public required CtMoney Money { get; init; }
    public required CtMoney TotalPrice { get; init; }
    public string? Slug { get; init; }
    public required long Quantity { get; init; }
    public IReadOnlyList<CtDiscountedPricePerQuantity>? DiscountedPricePerQuantity { get; init; }
    public CtTaxedPrice? TaxedPrice { get; init; }
}

internal sealed record CtShippingInfo
{
    public string? ShippingMethodName { get; init; }
    public required CtMoney Price { get; init; }
    public CtDiscountedPrice? DiscountedPrice { get; init; }
    public CtTaxedPrice? TaxedPrice { get; init; }
}

/// <summary>One entry of <c>shipping[]</c> on orders with <c>shippingMode: Multiple</c>.</summary>
internal sealed record CtShipping
{
    public string? ShippingKey { get; init; }
    public required CtShippingInfo ShippingInfo { get; init; }
}

internal sealed record CtDiscountOnTotalPrice
{
    public required CtMoney DiscountedAmount { get; init; }
}

/// <summary>An address; only the routing fields are read (country is ISO 3166-1 alpha-2, required).</summary>
internal sealed record CtAddress
{
    public string? Id { get; init; }
    public required string Country { get; init; }
    public string? State { get; init; }
    public string? Region { get; init; }
}

internal sealed record CtCustomFields
{
    public CtReference? Type { get; init; }
    public IReadOnlyDictionary<string, JsonElement>? Fields { get; init; }
}

internal sealed record CtPaymentInfo
{
    public IReadOnlyList<CtReference>? Payments { get; init; }
}

internal sealed record CtClientLogging
{
    public string? ClientId { get; init; }
    public string? ExternalUserId { get; init; }
    public CtReference? Customer { get; init; }
    public string? AnonymousId { get; init; }
}

internal sealed record CtOrder
{
    public required string Id { get; init; }
    public long Version { get; init; }
    public string? OrderNumber { get; init; }
    public string? CustomerId { get; init; }
    public string? CustomerEmail { get; init; }
    public string? AnonymousId { get; init; }
    public CtReference? CustomerGroup { get; init; }
    public CtReference? Store { get; init; }
    public required IReadOnlyList<CtLineItem> LineItems { get; init; }
    public IReadOnlyList<CtCustomLineItem>? CustomLineItems { get; init; }
    public required CtMoney TotalPrice { get; init; }
    public CtTaxedPrice? TaxedPrice { get; init; }
    public CtTaxedPrice? TaxedShippingPrice { get; init; }
    public CtDiscountOnTotalPrice? DiscountOnTotalPrice { get; init; }
    /// <summary><c>Single</c> (default) or <c>Multiple</c>.</summary>
    public string? ShippingMode { get; init; }
    public CtShippingInfo? ShippingInfo { get; init; }
    public IReadOnlyList<CtShipping>? Shipping { get; init; }
    public CtAddress? BillingAddress { get; init; }
    public CtAddress? ShippingAddress { get; init; }
    public string? Country { get; init; }
    public string? Locale { get; init; }
    public string? Origin { get; init; }
    public string? OrderState { get; init; }
    public string? PaymentState { get; init; }
    public string? ShipmentState { get; init; }
    public CtPaymentInfo? PaymentInfo { get; init; }
    public CtCustomFields? Custom { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
}

/// <summary>A cart, as much of it as a checkout event needs: its lines and who it belongs to.</summary>
internal sealed record CtCart
{
    public required string Id { get; init; }
    public string? CustomerId { get; init; }
    public string? AnonymousId { get; init; }
    public string? Locale { get; init; }
    public CtReference? Store { get; init; }
    public required IReadOnlyList<CtLineItem> LineItems { get; init; }
    public IReadOnlyList<CtCustomLineItem>? CustomLineItems { get; init; }
    public required CtMoney TotalPrice { get; init; }
}

internal sealed record CtCustomer
{
    public required string Id { get; init; }
    public long Version { get; init; }
    public string? Key { get; init; }
    public string? CustomerNumber { get; init; }
    public string? ExternalId { get; init; }
    public required string Email { get; init; }
    public string? FirstName { get; init; }
    public string? LastName { get; init; }
    public IReadOnlyList<CtAddress>? Addresses { get; init; }
    public string? DefaultShippingAddressId { get; init; }
    public string? DefaultBillingAddressId { get; init; }
    public bool? IsEmailVerified { get; init; }
    public CtReference? CustomerGroup { get; init; }
    public IReadOnlyList<CtReference>? Stores { get; init; }
    public string? Locale { get; init; }
    public CtCustomFields? Custom { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
    public DateTimeOffset? LastModifiedAt { get; init; }
    public CtClientLogging? CreatedBy { get; init; }
}

internal sealed record CtReturnItem
{
    /// <summary><c>LineItemReturnItem</c> or <c>CustomLineItemReturnItem</c>.</summary>
    public string? Type { get; init; }
    public required string Id { get; init; }
    public string? Key { get; init; }
    public required long Quantity { get; init; }
    public string? LineItemId { get; init; }
    public string? CustomLineItemId { get; init; }
    public string? ShipmentState { get; init; }
    public string? PaymentState { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
}

internal sealed record CtReturnInfo
{
    public required IReadOnlyList<CtReturnItem> Items { get; init; }
    public string? ReturnTrackingId { get; init; }
    public DateTimeOffset? ReturnDate { get; init; }
}

internal sealed record CtTransaction
{
    public required string Id { get; init; }
    public DateTimeOffset? Timestamp { get; init; }
    /// <summary><c>Authorization</c>, <c>CancelAuthorization</c>, <c>Charge</c>, <c>Refund</c>, <c>Chargeback</c>.</summary>
    public required string Type { get; init; }
    public required CtMoney Amount { get; init; }
    public string? InteractionId { get; init; }
    /// <summary><c>Initial</c>, <c>Pending</c>, <c>Success</c>, <c>Failure</c>.</summary>
    public required string State { get; init; }
}
