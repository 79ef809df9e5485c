using System.ComponentModel.DataAnnotations;

namespace CtMparticle.Configuration;

/// <summary>Ingest and retention. Section <c>Relay</c>.</summary>
internal sealed class RelayOptions
{
    public const string Section = "Relay";

    /// <summary>The consent rules file; relative paths are resolved against the app's folder.</summary>
    [Required]
    public string ConsentRulesPath { get; set; } = "config/consent-rules.json";

    /// <summary>The identity rules file (placeholder values that never travel as identities); relative to the app's folder.</summary>
    [Required]
    public string IdentityRulesPath { get; set; } = "config/identity-rules.json";

    /// <summary>
    /// How long an event id is remembered for dedupe; at least <see cref="QuarantineRetentionDays"/>, so replaying any
    /// kept record is still deduplicated. An event still in the outbox or parked by a push quarantine keeps its id longer.
    /// </summary>
    [Range(1, 3650)]
    public int DedupeRetentionDays { get; set; } = 90;

    /// <summary>
    /// How long quarantine records are kept (the blob lifecycle rule in Azure) and how long events quarantined at push
    /// stay restorable by a replay; after it the retention job forgets them.
    /// </summary>
    [Range(1, 3650)]
    public int QuarantineRetentionDays { get; set; } = 90;

    /// <summary>
    /// How long an identity link is kept after it was last seen (13 months by default, as long as analytics tools keep
    /// user-level data); after it the retention job forgets it, so an identifier not seen for that long no longer
    /// joins a person's profiles.
    /// </summary>
    [Range(1, 3650)]
    public int IdentityLinkRetentionDays { get; set; } = 395;

    /// <summary>
    /// How long an order's context (its customer, e-mail, address region, lines: personal data) is kept after it was
    /// last saved, for the returns, refunds and status changes that come after the order. 400 days covers a year's
    /// return and warranty window; a message of an order forgotten by then is quarantined order_context_missing.
    /// </summary>
    [Range(30, 3650)]
    public int OrderContextRetentionDays { get; set; } = 400;

    /// <summary>
    /// How long a user's consent state is kept after it last changed (13 months, as identity links). A state that
    /// refuses a purpose or opts out of sale is kept whatever its age: forgetting it would let that user's events go
    /// again where the regime forwards unless refused.
    /// </summary>
    [Range(30, 3650)]
    public int ConsentRetentionDays { get; set; } = 395;

    /// <summary>
    /// How long an event waits in the outbox for its user's consent in an opt-in region where it is not known yet;
    /// a consent change within the wait releases or withdraws it, after it the event is withdrawn (consent_not_given).
    /// </summary>
    [TimeSpanRange("00:00:00", "7.00:00:00")]
    public TimeSpan ConsentWait { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How long a storefront purchase (Order Completed of a source with a project) waits in the outbox for
    /// commercetools' own message of the order, whose amounts win; after it, it is sent as the storefront reported it.
    /// </summary>
    [TimeSpanRange("00:00:00", "1.00:00:00")]
    public TimeSpan StorefrontPurchaseWait { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Outbox and dedupe partitions (by event id), so no partition runs hot.</summary>
    [Range(1, 256)]
    public int Partitions { get; set; } = 16;
}

/// <summary>Delivery to mParticle. Section <c>Push</c>.</summary>
internal sealed class PushOptions
{
    public const string Section = "Push";

    /// <summary>At most this many pending events are read per run.</summary>
    [Range(1, 1_000_000)]
    public int MaxEventsPerRun { get; set; } = 5_000;

    /// <summary>At most this many of one user's events per batch (mParticle attributes a batch to one user).</summary>
    [Range(1, 1_000)]
    public int MaxEventsPerBatch { get; set; } = 100;

    /// <summary>Batches per bulk request; mParticle accepts at most 100.</summary>
    [Range(1, 100)]
    public int MaxBatchesPerRequest { get; set; } = 100;

    /// <summary>Bytes per bulk request; mParticle accepts under 256 KB.</summary>
    [Range(4_096, 262_144)]
    public int MaxRequestBytes { get; set; } = 262_144;

    /// <summary>Requests per input per run; lowered automatically after an acceleration 429 and raised again on success.</summary>
    [Range(1, 10_000)]
    public int MaxRequestsPerRun { get; set; } = 50;

    /// <summary>
    /// Requests to one input awaiting mParticle's answer at once, so a run does not wait out each round trip in turn.
    /// A request never shares a user with one still unanswered: a user's batches reach mParticle in their order.
    /// </summary>
    [Range(1, 32)]
    public int MaxRequestsInFlight { get; set; } = 4;

    [TimeSpanRange("00:00:01", "00:05:00")]
    public TimeSpan HttpTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>First wait after a 5xx, timeout or 429 without Retry-After; doubles up to <see cref="MaxBackoff"/>, with full jitter.</summary>
    [TimeSpanRange("00:00:00.100", "00:10:00")]
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(2);

    [TimeSpanRange("00:00:01", "01:00:00")]
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Pause for an input after 401/403 (a credentials problem a person must fix).</summary>
    [TimeSpanRange("00:00:01", "01:00:00")]
    public TimeSpan AuthFailurePause { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// Azure Storage for the relay's tables and quarantine container. Section <c>Storage</c>. Either a connection
/// string (Azurite, or a shared-key account), or service URIs used with a managed identity.
/// </summary>
internal sealed class StorageOptions
{
    public const string Section = "Storage";

    public string? ConnectionString { get; set; }

    public Uri? TableServiceUri { get; set; }

    public Uri? BlobServiceUri { get; set; }

    /// <summary>The client id of a user-assigned managed identity; empty for the system-assigned one.</summary>
    public string? ManagedIdentityClientId { get; set; }

    [Required]
    [RegularExpression("^[A-Za-z][A-Za-z0-9]{2,62}$", ErrorMessage = "Storage table names are 3–63 letters and digits, starting with a letter.")]
    public string EventsTable { get; set; } = "ctmpevents";

    [Required]
    [RegularExpression("^[A-Za-z][A-Za-z0-9]{2,62}$", ErrorMessage = "Storage table names are 3–63 letters and digits, starting with a letter.")]
    public string OrdersTable { get; set; } = "ctmporders";

    [Required]
    [RegularExpression("^[A-Za-z][A-Za-z0-9]{2,62}$", ErrorMessage = "Storage table names are 3–63 letters and digits, starting with a letter.")]
    public string ConsentTable { get; set; } = "ctmpconsent";

    [Required]
    [RegularExpression("^[A-Za-z][A-Za-z0-9]{2,62}$", ErrorMessage = "Storage table names are 3–63 letters and digits, starting with a letter.")]
    public string LinksTable { get; set; } = "ctmplinks";

    [Required]
    [RegularExpression("^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$", ErrorMessage = "Blob container names are 3–63 lowercase letters, digits and single hyphens.")]
    public string QuarantineContainer { get; set; } = "quarantine";
}

/// <summary>The tracking plan's enforcement. Section <c>Governance</c>.</summary>
internal sealed class GovernanceOptions
{
    public const string Section = "Governance";

    /// <summary>Validate every event against the active data plan and apply its policy.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The policies file (active version per environment, block/allow per kind); plans sit beside it as {plan_id}.v{N}.json.</summary>
    [Required]
    public string PoliciesPath { get; set; } = "config/plans/policies.json";
}
