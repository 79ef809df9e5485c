using System.Text.Json.Serialization;

namespace CtMparticle.Tracking;

// The tracking plan's vocabulary: one set of canonical events that every source (commercetools messages, the
// storefront collector) maps into, and that the mParticle mapping reads. Event names are stable and
// low-cardinality (ids and SKUs live in fields, never in names). Version: TrackingPlan.Version.

/// <summary>The tracking plan the vocabulary implements.</summary>
internal static class TrackingPlan
{
    /// <summary>Bumped on any breaking change to the vocabulary (a removed event or field, a changed meaning).</summary>
    public const int Version = 1;

    public const string ProductViewed = "Product Viewed";
    public const string ProductListViewed = "Product List Viewed";
    public const string ProductAdded = "Product Added";
    public const string ProductRemoved = "Product Removed";
    public const string CheckoutStepViewed = "Checkout Step Viewed";
    public const string OrderCompleted = "Order Completed";
    public const string OrderRefunded = "Order Refunded";
    public const string OrderStatusChanged = "Order Status Changed";
    public const string OrderCustomerLinked = "Order Customer Linked";
    public const string OrderReturned = "Order Returned";
    public const string SignedUp = "Signed Up";
    public const string SignedIn = "Signed In";
    public const string ProfileUpdated = "Profile Updated";
    public const string ConsentUpdated = "Consent Updated";
    public const string ScreenViewed = "Screen Viewed";
}

internal enum EventSource
{
    Commercetools,
    Storefront,
}

/// <summary>Where the user is, for consent regimes: ISO 3166-1 alpha-2 country and, for the US and others, the subdivision.</summary>
/// <remarks>Build it from an address with <see cref="Subdivisions.Normalize"/>, so the state is an ISO 3166-2 code.</remarks>
internal sealed record Region(string Country, string? State = null)
{
    /// <summary><c>DE</c>, or <c>US-CA</c> when a state is known.</summary>
    [JsonIgnore]
    public string Code => State is null ? Country : $"{Country}-{State}";

    /// <summary>
    /// The address named a subdivision that could not be normalized ("Kalifornien", a typo): where the consent rules
    /// split the country by subdivision, the strictest of its regimes applies.
    /// </summary>
    public bool SubdivisionUnknown { get; init; }
}

/// <summary>Mobile advertising and vendor ids. They go to mParticle's <c>device_info</c>, never to <c>user_identities</c>.</summary>
internal sealed record DeviceIds(
    string? IosAdvertisingId = null,
    string? IosVendorId = null,
    string? AndroidAdvertisingId = null,
    string? AndroidUuid = null);

/// <summary>Everything known about who did it. Normalisation (trim, lowercase e-mail) happens in the mapping.</summary>
internal sealed record UserIds(
    string? CustomerId = null,
    string? Email = null,
    string? AnonymousId = null,
    string? SessionId = null,
    DeviceIds? Devices = null)
{
    [JsonIgnore]
    public bool IsEmpty =>
        string.IsNullOrWhiteSpace(CustomerId) && string.IsNullOrWhiteSpace(Email) && string.IsNullOrWhiteSpace(AnonymousId);
}

/// <summary>The state of one consent purpose at a point in time.</summary>
/// <param name="At">When it was given: the consent timestamp field when the source has one, else the message's time.</param>
/// <param name="Sequence">
/// The source resource's own message order (commercetools' per-customer <c>sequenceNumber</c>), when the state came
/// from a message of the user's own record; it orders two such states before their times do.
/// </param>
internal sealed record ConsentPurpose(bool Consented, DateTimeOffset At, string? Document = null, string? Location = null, long? Sequence = null);

/// <summary>
/// Consent as mParticle models it: GDPR purposes (lowercase keys) and the single CCPA purpose
/// <c>data_sale_opt_out</c> (where <c>Consented = true</c> means the user opted out of sale).
/// </summary>
internal sealed record ConsentSnapshot(
    IReadOnlyDictionary<string, ConsentPurpose> Gdpr,
    ConsentPurpose? CcpaDataSaleOptOut = null)
{
    /// <summary>mParticle's one CCPA purpose.</summary>
    public const string CcpaPurpose = "data_sale_opt_out";

    public static readonly ConsentSnapshot Empty = new(new Dictionary<string, ConsentPurpose>());

    /// <summary>The purposes this snapshot states: the GDPR ones, then the CCPA one.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> Purposes => CcpaDataSaleOptOut is null ? [.. Gdpr.Keys] : [.. Gdpr.Keys, CcpaPurpose];

    [JsonIgnore]
    public bool IsEmpty => Gdpr.Count == 0 && CcpaDataSaleOptOut is null;
}

/// <summary>
/// The client's network address and browser or app user agent, carried only when the shopper's consent allows it
/// (the collector's <c>Collector:NetworkDataPurpose</c>); mParticle reads them for geolocation and device detection.
/// </summary>
internal sealed record NetworkInfo(string? Ip, string? UserAgent);

/// <summary>What every canonical event carries besides its own fields.</summary>
/// <param name="EventId">Deterministic (UUIDv5 of <paramref name="DedupeKey"/>): mParticle's <c>source_message_id</c>.</param>
/// <param name="DedupeKey">The business identity of the event, e.g. <c>acme/order/{id}/purchase</c>.</param>
/// <param name="SourceMessageId">The commercetools message id (or collector event id) the event came from.</param>
/// <param name="Trace">
/// The W3C <c>traceparent</c> of the ingest that stored the event, when it was traced: the push's span links to it, so
/// one delivery is followed from its trigger to the mParticle request. Diagnostics only; never sent to mParticle.
/// </param>
internal sealed record EventContext(
    Guid EventId,
    string DedupeKey,
    DateTimeOffset OccurredAt,
    EventSource Source,
    string? SourceMessageId,
    string? StoreKey,
    Region? Region,
    UserIds User,
    ConsentSnapshot? Consent = null,
    string? Channel = null,
    string? Locale = null,
    NetworkInfo? Network = null,
    string? Trace = null);

/// <summary>One product line. Prices are in the event's currency.</summary>
/// <param name="Sku">SKU, else product key, else product id (see docs/adr/0002-commerce-mapping.md).</param>
/// <param name="UnitPrice">The effective unit price after product and cart discounts.</param>
/// <param name="LineTotal">The line total as commercetools computed it (exact).</param>
/// <param name="ListPrice">The unit price before any discount.</param>
internal sealed record ProductLine(
    string Sku,
    string? Name,
    string? Variant,
    string? Brand,
    string? Category,
    decimal? UnitPrice,
    long Quantity,
    decimal? LineTotal,
    decimal? ListPrice = null,
    string? ProductId = null);

internal enum OrderOrigin
{
    Created,
    Imported,
    Recurring,
    Storefront,
}

/// <summary>The canonical events. Exactly one per business fact; the mapping to mParticle reads only these.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "$event")]
[JsonDerivedType(typeof(ProductViewed), "product_viewed")]
[JsonDerivedType(typeof(ProductListViewed), "product_list_viewed")]
[JsonDerivedType(typeof(ProductAdded), "product_added")]
[JsonDerivedType(typeof(ProductRemoved), "product_removed")]
[JsonDerivedType(typeof(CheckoutStepViewed), "checkout_step_viewed")]
[JsonDerivedType(typeof(OrderCompleted), "order_completed")]
[JsonDerivedType(typeof(OrderRefunded), "order_refunded")]
[JsonDerivedType(typeof(OrderStatusChanged), "order_status_changed")]
[JsonDerivedType(typeof(OrderCustomerLinked), "order_customer_linked")]
[JsonDerivedType(typeof(OrderReturned), "order_returned")]
[JsonDerivedType(typeof(SignedUp), "signed_up")]
[JsonDerivedType(typeof(SignedIn), "signed_in")]
[JsonDerivedType(typeof(ProfileUpdated), "profile_updated")]
[JsonDerivedType(typeof(ConsentUpdated), "consent_updated")]
[JsonDerivedType(typeof(ScreenViewed), "screen_viewed")]
[JsonDerivedType(typeof(StorefrontEvent), "storefront_event")]
internal abstract record TrackingEvent(EventContext Context)
{
    /// <summary>The stable event name in the tracking plan.</summary>
    [JsonIgnore]
    public abstract string Name { get; }
}

internal sealed record ProductViewed(EventContext Context, ProductLine Product, string Currency) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.ProductViewed;
}

/// <summary>A list of products the shopper saw (a category page, search results, a recommendation slot).</summary>
/// <param name="ListName">The list's name as the storefront named it (<c>list_id</c>, else <c>category</c>): low cardinality.</param>
internal sealed record ProductListViewed(EventContext Context, string ListName, IReadOnlyList<ProductLine> Products, string Currency) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.ProductListViewed;
}

internal sealed record ProductAdded(EventContext Context, ProductLine Product, string Currency, string? CartId = null) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.ProductAdded;
}

internal sealed record ProductRemoved(EventContext Context, ProductLine Product, string Currency, string? CartId = null) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.ProductRemoved;
}

internal sealed record CheckoutStepViewed(
    EventContext Context,
    int Step,
    string? Option,
    IReadOnlyList<ProductLine> Products,
    string Currency,
    string? CartId = null) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.CheckoutStepViewed;
}

/// <summary>A purchase. <see cref="Total"/> is what the customer paid (gross), in <see cref="Currency"/>.</summary>
internal sealed record OrderCompleted(
    EventContext Context,
    string OrderId,
    string? OrderNumber,
    string Currency,
    decimal Total,
    decimal? Tax,
    decimal? Shipping,
    decimal? Discount,
    IReadOnlyList<ProductLine> Products,
    OrderOrigin Origin,
    string? CouponCode = null) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.OrderCompleted;

    /// <summary>What partners see as the transaction id: the order number, else the order id.</summary>
    [JsonIgnore]
    public string TransactionId => OrderNumber ?? OrderId;
}

internal enum RefundSource
{
    /// <summary>A successful refund transaction on a payment: the amount is known, the items are not.</summary>
    PaymentTransaction,
    /// <summary>A return item, with <c>Mapping:Returns = RefundWithAmount</c>: the amount is the returned lines' effective price.</summary>
    ReturnItem,
}

/// <summary>Money given back: always with its amount and currency (a refund without an amount breaks refund revenue).</summary>
internal sealed record OrderRefunded(
    EventContext Context,
    string OrderId,
    string? OrderNumber,
    string Currency,
    decimal Amount,
    IReadOnlyList<ProductLine> Products,
    RefundSource Source,
    string SourceId) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.OrderRefunded;

    [JsonIgnore]
    public string TransactionId => OrderNumber ?? OrderId;
}

internal enum OrderStatusKind
{
    Order,
    Payment,
    Shipment,
}

internal sealed record OrderStatusChanged(
    EventContext Context,
    string OrderId,
    string? OrderNumber,
    OrderStatusKind Kind,
    string? Status,
    string? PreviousStatus) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.OrderStatusChanged;
}

/// <summary>A guest order assigned to a customer account: links the anonymous id and the customer.</summary>
/// <summary>Goods coming back: one event per return item, with its SKU and quantity and no money.</summary>
internal sealed record OrderReturned(
    EventContext Context,
    string OrderId,
    string? OrderNumber,
    string ReturnItemId,
    ProductLine Item,
    string? ShipmentState,
    string? PaymentState) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.OrderReturned;

    [JsonIgnore]
    public string TransactionId => OrderNumber ?? OrderId;
}

internal sealed record OrderCustomerLinked(EventContext Context, string OrderId, string? OrderNumber) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.OrderCustomerLinked;
}

/// <summary>Profile attributes: set values, and names to remove. Keys are mParticle user attribute names.</summary>
internal sealed record ProfileAttributes(
    IReadOnlyDictionary<string, string> Set,
    IReadOnlyList<string> Removed)
{
    public static readonly ProfileAttributes None = new(new Dictionary<string, string>(), []);
}

internal sealed record SignedUp(EventContext Context, ProfileAttributes Attributes, string? Method = null) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.SignedUp;
}

internal sealed record SignedIn(EventContext Context, string? Method = null) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.SignedIn;
}

/// <summary>Profile changes. <see cref="ChangedFields"/> are low-cardinality field names (never values).</summary>
internal sealed record ProfileUpdated(EventContext Context, ProfileAttributes Attributes, IReadOnlyList<string> ChangedFields) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.ProfileUpdated;
}

/// <summary>A consent change; the new state is <see cref="EventContext.Consent"/>.</summary>
internal sealed record ConsentUpdated(EventContext Context, IReadOnlyList<string> ChangedPurposes) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.ConsentUpdated;
}

/// <summary>A page or app screen the shopper saw (a storefront <c>page</c> or <c>screen</c> call).</summary>
/// <param name="ScreenName">The page's or screen's name as the storefront named it (low cardinality: never a URL).</param>
/// <param name="Attributes">Scalar properties the call carried (path, title, referrer, …).</param>
internal sealed record ScreenViewed(EventContext Context, string ScreenName, IReadOnlyDictionary<string, string> Attributes) : TrackingEvent(Context)
{
    public override string Name => TrackingPlan.ScreenViewed;
}

/// <summary>
/// A storefront <c>track</c> call the vocabulary has no event of its own for (Products Searched, Coupon Applied, …):
/// carried under the storefront's name, so the tracking plan decides (its policy blocks events it does not list).
/// </summary>
/// <param name="IsSearch">A search (Products Searched): mParticle's <c>search</c> event type rather than <c>other</c>.</param>
internal sealed record StorefrontEvent(EventContext Context, string EventName, IReadOnlyDictionary<string, string> Attributes, bool IsSearch = false) : TrackingEvent(Context)
{
    public override string Name => EventName;
}
