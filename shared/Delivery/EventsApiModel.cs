using System.Text.Json.Serialization;

namespace CtMparticle.Delivery;

// The mParticle Events API batch, as mParticle's Events API reference documents it. Names are snake_case on the
// wire (see MParticleJsonContext); nulls are left out. Only fields the relay sends are modelled.

internal sealed record MpBatch
{
    public required string Environment { get; init; }
    public required string SourceRequestId { get; init; }
    public IReadOnlyDictionary<string, string>? UserIdentities { get; init; }
    public IReadOnlyDictionary<string, string>? UserAttributes { get; init; }
    public IReadOnlyList<string>? DeletedUserAttributes { get; init; }
    public MpDeviceInfo? DeviceInfo { get; init; }
    public string? Ip { get; init; }
    public MpContext? Context { get; init; }
    public MpConsentState? ConsentState { get; init; }
    public required IReadOnlyList<MpEvent> Events { get; init; }
}

internal sealed record MpContext
{
    public MpDataPlan? DataPlan { get; init; }
}

internal sealed record MpDataPlan
{
    public required string PlanId { get; init; }
    public int? PlanVersion { get; init; }
}

internal sealed record MpDeviceInfo
{
    public string? IosAdvertisingId { get; init; }
    public string? IosIdfv { get; init; }
    public string? AndroidAdvertisingId { get; init; }
    public string? AndroidUuid { get; init; }
    public string? HttpHeaderUserAgent { get; init; }
}

internal sealed record MpConsentState
{
    public IReadOnlyDictionary<string, MpConsent>? Gdpr { get; init; }
    public IReadOnlyDictionary<string, MpConsent>? Ccpa { get; init; }
}

internal sealed record MpConsent
{
    public required bool Consented { get; init; }
    public string? Document { get; init; }
    public required long TimestampUnixtimeMs { get; init; }
    public string? Location { get; init; }
}

internal sealed record MpEvent
{
    /// <summary><c>commerce_event</c>, <c>custom_event</c> or <c>screen_view</c>.</summary>
    public required string EventType { get; init; }
    public required MpEventData Data { get; init; }
}

/// <summary>The union of the data fields of the event types the relay sends.</summary>
internal sealed record MpEventData
{
    public required long TimestampUnixtimeMs { get; init; }
    public required string SourceMessageId { get; init; }
    public string? SessionUuid { get; init; }
    public string? EventName { get; init; }
    public string? ScreenName { get; init; }
    public string? CustomEventType { get; init; }
    public string? CurrencyCode { get; init; }
    public MpProductAction? ProductAction { get; init; }
    public IReadOnlyList<MpProductImpression>? ProductImpressions { get; init; }
    public IReadOnlyDictionary<string, string>? CustomAttributes { get; init; }
}

/// <summary>Products seen in one list (mParticle's impression-based commerce event).</summary>
internal sealed record MpProductImpression
{
    public required string ProductImpressionList { get; init; }
    public required IReadOnlyList<MpProduct> Products { get; init; }
}

internal sealed record MpProductAction
{
    /// <summary>One of <see cref="ProductActions.All"/>.</summary>
    public required string Action { get; init; }
    public int? CheckoutStep { get; init; }
    public string? CheckoutOptions { get; init; }
    public string? TransactionId { get; init; }
    public string? Affiliation { get; init; }
    public string? CouponCode { get; init; }
    public decimal? TotalAmount { get; init; }
    public decimal? TaxAmount { get; init; }
    public decimal? ShippingAmount { get; init; }
    public IReadOnlyList<MpProduct>? Products { get; init; }
}

internal sealed record MpProduct
{
    public required string Id { get; init; }
    public string? Name { get; init; }
    public string? Brand { get; init; }
    public string? Category { get; init; }
    public string? Variant { get; init; }
    public decimal? Price { get; init; }
    public decimal? Quantity { get; init; }
    public decimal? TotalProductAmount { get; init; }
    public IReadOnlyDictionary<string, string>? CustomAttributes { get; init; }
}

/// <summary>mParticle's <c>product_action.action</c> values (note <c>remove_from_wish_list</c>).</summary>
internal static class ProductActions
{
    public const string ViewDetail = "view_detail";
    public const string AddToCart = "add_to_cart";
    public const string RemoveFromCart = "remove_from_cart";
    public const string Checkout = "checkout";
    public const string Purchase = "purchase";
    public const string Refund = "refund";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        "add_to_cart", "remove_from_cart", "checkout", "checkout_option", "click", "view_detail", "purchase", "refund",
        "add_to_wishlist", "remove_from_wish_list",
    };
}

/// <summary>mParticle's <c>custom_event_type</c> values.</summary>
internal static class CustomEventTypes
{
    public const string Transaction = "transaction";
    public const string UserPreference = "user_preference";
    public const string Other = "other";
    public const string Search = "search";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        "navigation", "location", "search", "transaction", "user_content", "user_preference", "social", "media", "other", "attribution",
    };
}

/// <summary>Source-generated JSON for the Events API: snake_case names, nulls omitted, decimals as JSON numbers.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(MpBatch))]
[JsonSerializable(typeof(IReadOnlyList<MpBatch>))]
internal sealed partial class MParticleJsonContext : JsonSerializerContext;
