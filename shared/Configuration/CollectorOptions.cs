using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace CtMparticle.Configuration;

/// <summary>
/// The storefront collector: Segment-compatible HTTP endpoints (<c>/v1/track</c>, <c>/v1/batch</c>, …). Section
/// <c>Collector</c>. Each source is a tracker installation (a web shop, an app) with its own write key.
/// </summary>
internal sealed class CollectorOptions
{
    public const string Section = "Collector";

    /// <summary>The sources allowed to send; none means the collector answers 401 to everything.</summary>
    [ValidateEnumeratedItems]
    public CollectorSourceOptions[] Sources { get; set; } = [];

    /// <summary>Largest event, in bytes (Segment's limit: 32 KB). A larger single call is refused with 413; a larger batch item is quarantined.</summary>
    [Range(1_024, 1_048_576)]
    public int MaxEventBytes { get; set; } = 32 * 1024;

    /// <summary>Largest request body, in bytes (Segment's limit: 500 KB); larger requests are refused with 413.</summary>
    [Range(1_024, 16_777_216)]
    public int MaxRequestBytes { get; set; } = 500 * 1024;

    /// <summary>
    /// Consent categories as the site's CMP names them (<c>context.consent.categoryPreferences</c>) → the relay's
    /// consent purposes (config/consent-rules.json). Matched without regard to case; unmapped categories are ignored.
    /// </summary>
    public Dictionary<string, string> ConsentCategories { get; set; } = new(StringComparer.OrdinalIgnoreCase)
    {
        ["analytics"] = "analytics",
        ["advertising"] = "advertising",
        ["marketing"] = "marketing",
        ["personalization"] = "personalisation",
        ["functional"] = "functional",
    };

    /// <summary>
    /// The consent purpose that must be given (in the call's own <c>context.consent.categoryPreferences</c>) for
    /// <c>context.ip</c> and <c>context.userAgent</c> to be forwarded; without it they are dropped. Empty: never forwarded.
    /// </summary>
    public string NetworkDataPurpose { get; set; } = "analytics";

    /// <summary>Product details from commercetools for product events that carry only a SKU (with Commercetools:ProjectKey set).</summary>
    [ValidateObjectMembers]
    public CollectorEnrichmentOptions Enrichment { get; set; } = new();

    /// <summary>Currency of product events that name none, when their source has no store that says (Segment's default: USD).</summary>
    [Required]
    [RegularExpression("^[A-Z]{3}$", ErrorMessage = "Collector:DefaultCurrency is an ISO 4217 code in capitals, such as EUR.")]
    public string DefaultCurrency { get; set; } = "USD";
}

/// <summary>One tracker installation. Section <c>Collector:Sources:N</c>.</summary>
internal sealed class CollectorSourceOptions
{
    /// <summary>Names the source in quarantine records, the ledger and metrics (never the key).</summary>
    [Required]
    [RegularExpression("^[a-z0-9][a-z0-9-]{0,62}$", ErrorMessage = "A collector source name is 1–63 lowercase letters, digits and hyphens.")]
    public string Name { get; set; } = "";

    /// <summary>The name of the setting that holds the write key (a Key Vault reference in Azure), never the key itself.</summary>
    [Required]
    public string WriteKeySetting { get; set; } = "";

    /// <summary>The commercetools store key its shop belongs to: routing, locale, and the consent region's fallback.</summary>
    public string? Store { get; set; }

    /// <summary>Browser origins allowed to call (CORS), e.g. https://shop.example.com; empty for server-side and app sources.</summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>Events per second this source may send; above it the collector answers 429 with Retry-After.</summary>
    [Range(1, 1_000_000)]
    public int RateLimitPerSecond { get; set; } = 1_000;

    /// <summary>
    /// The commercetools project its orders live in: with it, an <c>Order Completed</c> whose <c>order_id</c> is the
    /// commercetools order id and the project's own order message become one purchase. Without it they stay apart.
    /// </summary>
    public string? Project { get; set; }

    /// <summary>Currency of product events that name none (ISO 4217); empty for <see cref="CollectorOptions.DefaultCurrency"/>.</summary>
    public string? Currency { get; set; }
}

/// <summary>Enrichment of storefront product events from commercetools' catalog. Section <c>Collector:Enrichment</c>.</summary>
internal sealed class CollectorEnrichmentOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Longest a lookup may hold a call up; a slower catalog leaves the event as sent (counted unenriched).</summary>
    [TimeSpanRange("00:00:00.050", "00:00:30")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a product's details are reused.</summary>
    [TimeSpanRange("00:00:01", "1.00:00:00")]
    public TimeSpan Ttl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long "no such SKU" is remembered.</summary>
    [TimeSpanRange("00:00:01", "1.00:00:00")]
    public TimeSpan MissingTtl { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Products kept in memory at most (least recently used go first).</summary>
    [Range(1, 1_000_000)]
    public int CacheSize { get; set; } = 10_000;
}
