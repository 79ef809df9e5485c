using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace CtMparticle.Configuration;

/// <summary>How commercetools data becomes mParticle data. Section <c>Mapping</c>.</summary>
internal sealed class MappingOptions
{
    public const string Section = "Mapping";

    /// <summary>mParticle <c>environment</c> on every batch: <c>production</c> or <c>development</c>. Test traffic sent as production reaches live outputs.</summary>
    [Required]
    [RegularExpression("^(production|development)$", ErrorMessage = "Mapping:Environment must be 'production' or 'development'.")]
    public string Environment { get; set; } = "development";

    /// <summary>The locale used for product names when neither the order nor its store names one (see docs/adr/0002).</summary>
    [Required]
    [RegularExpression("^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", ErrorMessage = "Mapping:DefaultLocale must be an IETF language tag such as 'en' or 'en-GB'.")]
    public string DefaultLocale { get; set; } = "en";

    /// <summary>The product variant attribute holding the brand (string or enum); empty to send no brand.</summary>
    public string? BrandAttribute { get; set; } = "brand";

    /// <summary>The order custom field holding the sales channel (web, app, store...); empty for none.</summary>
    public string? ChannelField { get; set; } = "channel";

    /// <summary>
    /// What a return (<c>ReturnInfoAdded</c>, <c>ReturnInfoSet</c>) becomes. <see cref="ReturnsMode.ReturnEvent"/>
    /// (default): an "Order Returned" custom event per return item; the money refund comes from the payment's refund
    /// transaction. <see cref="ReturnsMode.RefundWithAmount"/>: also a <c>refund</c> with the returned lines' effective
    /// prices, for merchants whose refunds never pass through commercetools payments (else refunds count twice).
    /// </summary>
    public ReturnsMode Returns { get; set; } = ReturnsMode.ReturnEvent;

    /// <summary>Customer custom fields forwarded as user attributes (allow-list; nothing else is forwarded).</summary>
    public string[] UserAttributeFields { get; set; } = [];

    [Required]
    [ValidateObjectMembers]
    public IdentityOptions Identity { get; set; } = new();

    [Required]
    [ValidateObjectMembers]
    public ConsentOptions Consent { get; set; } = new();

    [Required]
    [ValidateObjectMembers]
    public DataPlanOptions DataPlan { get; set; } = new();
}

internal enum ReturnsMode
{
    /// <summary>An "Order Returned" event per return item; refunds come from payment refund transactions.</summary>
    ReturnEvent,

    /// <summary>The return event, and a refund with the returned lines' amounts.</summary>
    RefundWithAmount,
}

internal enum EmailIdentityMode
{
    /// <summary>Trimmed, lowercased e-mail in mParticle's <c>email</c> identity (mParticle hashes it for partners that need it).</summary>
    Plain,
    /// <summary>SHA-256 (hex) of the trimmed, lowercased e-mail in <see cref="IdentityOptions.EmailHashIdentity"/>; no plain e-mail is sent.</summary>
    Sha256,
    /// <summary>No e-mail identity at all.</summary>
    Omit,
}

/// <summary>Which mParticle identity each commercetools identifier becomes. Section <c>Mapping:Identity</c>.</summary>
internal sealed class IdentityOptions
{
    /// <summary>The identity for the commercetools customer id.</summary>
    [Required]
    public string CustomerIdIdentity { get; set; } = "customer_id";

    public EmailIdentityMode EmailMode { get; set; } = EmailIdentityMode.Plain;

    /// <summary>With <see cref="EmailIdentityMode.Sha256"/>: the <c>other*</c> identity that carries the hash.</summary>
    public string EmailHashIdentity { get; set; } = "other_id_2";

    /// <summary>The identity for the cart's <c>anonymousId</c> (align it with the storefront's tracking id); empty to omit.</summary>
    public string? AnonymousIdIdentity { get; set; } = "other";
}

internal enum ConsentRegulation
{
    Gdpr,
    Ccpa,
}

/// <summary>
/// Where consent lives in commercetools and which mParticle purpose each field means. Section <c>Mapping:Consent</c>.
/// With no <see cref="Fields"/> configured, <see cref="ConsentFieldOptions.Defaults"/> apply (the reference's consent type).
/// </summary>
internal sealed class ConsentOptions
{
    [ValidateEnumeratedItems]
    public ConsentFieldOptions[] Fields { get; set; } = [];

    /// <summary>Customer custom field (DateTime) with the time consent was given; else the message time is used.</summary>
    public string? TimestampField { get; set; } = "consentUpdatedAt";

    /// <summary>Customer custom field naming the policy version; sent as the consent <c>document</c>.</summary>
    public string? DocumentField { get; set; } = "consentPolicyVersion";

    /// <summary>Order custom field holding a JSON object of the consent given at checkout (guest orders have no customer).</summary>
    public string? OrderSnapshotField { get; set; } = "checkoutConsentSnapshot";

    /// <summary>The configured fields, or the defaults when none are configured.</summary>
    public IReadOnlyList<ConsentFieldOptions> EffectiveFields() => Fields.Length > 0 ? Fields : ConsentFieldOptions.Defaults;
}

internal sealed class ConsentFieldOptions
{
    /// <summary>The customer custom field (Boolean).</summary>
    [Required]
    public string Field { get; set; } = "";

    /// <summary>The mParticle purpose. GDPR purposes are sent lowercase; CCPA has only <c>data_sale_opt_out</c>.</summary>
    [Required]
    public string Purpose { get; set; } = "";

    public ConsentRegulation Regulation { get; set; } = ConsentRegulation.Gdpr;

    /// <summary>The key of this purpose in the order's checkout consent snapshot, if any.</summary>
    public string? SnapshotKey { get; set; }

    /// <summary>True when the field's <c>true</c> means the opposite of mParticle's <c>consented</c> (e.g. <c>allowDataSale</c> for CCPA opt-out).</summary>
    public bool Invert { get; set; }

    public static readonly IReadOnlyList<ConsentFieldOptions> Defaults =
    [
        new() { Field = "consentMarketingEmail", Purpose = "marketing_email", SnapshotKey = "marketingEmail" },
        new() { Field = "consentMarketingSms", Purpose = "marketing_sms", SnapshotKey = "marketingSms" },
        new() { Field = "consentAnalytics", Purpose = "analytics", SnapshotKey = "analytics" },
        new() { Field = "consentPersonalization", Purpose = "personalization", SnapshotKey = "personalization" },
    ];
}

/// <summary>The mParticle data plan every batch is tagged with. Section <c>Mapping:DataPlan</c>.</summary>
internal sealed class DataPlanOptions
{
    /// <summary>The plan id (slug); empty to send no <c>context.data_plan</c>.</summary>
    [RegularExpression("^[a-z0-9_-]*$", ErrorMessage = "Mapping:DataPlan:PlanId must be a URL-safe slug (lowercase letters, digits, '_' and '-').")]
    public string? PlanId { get; set; } = "ctmparticle_commerce";

    /// <summary>The plan version; empty lets mParticle use the latest version active for the environment.</summary>
    [Range(1, int.MaxValue)]
    public int? PlanVersion { get; set; } = 3;
}
