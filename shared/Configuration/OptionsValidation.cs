using System.Collections.Frozen;
using CtMparticle.Tracking;
using Microsoft.Extensions.Options;

namespace CtMparticle.Configuration;

/// <summary>Attribute-level checks of <see cref="MappingOptions"/>, nested objects included (source-generated).</summary>
[OptionsValidator]
internal sealed partial class MappingOptionsAttributeValidator : IValidateOptions<MappingOptions>;

/// <summary>The mParticle identity names a batch's <c>user_identities</c> may use (Events API spelling).</summary>
internal static class MParticleIdentityNames
{
    public static readonly FrozenSet<string> All = new[]
    {
        "customer_id", "email", "other", "other_id_2", "other_id_3", "other_id_4", "other_id_5", "other_id_6",
        "other_id_7", "other_id_8", "other_id_9", "other_id_10", "mobile_number", "phone_number_2", "phone_number_3",
        "facebook", "twitter", "google", "microsoft", "yahoo", "alias", "facebook_custom_audience_id",
    }.ToFrozenSet(StringComparer.Ordinal);

    public static bool IsOther(string name) => name == "other" || name.StartsWith("other_id_", StringComparison.Ordinal);
}

/// <summary>Checks across fields that attributes cannot express. Each failure names the setting and what to put there.</summary>
internal sealed class MappingOptionsValidator : IValidateOptions<MappingOptions>
{
    public ValidateOptionsResult Validate(string? name, MappingOptions options)
    {
        var failures = new List<string>();
        var identity = options.Identity;
        CheckIdentity(failures, "Mapping:Identity:CustomerIdIdentity", identity.CustomerIdIdentity);
        var targets = new List<string> { identity.CustomerIdIdentity };
        if (identity.EmailMode == EmailIdentityMode.Sha256)
        {
            CheckIdentity(failures, "Mapping:Identity:EmailHashIdentity", identity.EmailHashIdentity);
            if (!MParticleIdentityNames.IsOther(identity.EmailHashIdentity))
            {
                failures.Add($"Mapping:Identity:EmailHashIdentity is '{identity.EmailHashIdentity}'; a hashed e-mail must go to an 'other' or 'other_id_N' identity, never to 'email' (mParticle would hash it again).");
            }

            targets.Add(identity.EmailHashIdentity);
        }
        else if (identity.EmailMode == EmailIdentityMode.Plain)
        {
            targets.Add("email");
        }

        if (!string.IsNullOrEmpty(identity.AnonymousIdIdentity))
        {
            CheckIdentity(failures, "Mapping:Identity:AnonymousIdIdentity", identity.AnonymousIdIdentity);
            targets.Add(identity.AnonymousIdIdentity);
        }

        foreach (var duplicate in targets.GroupBy(t => t, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            failures.Add($"Two identifiers map to the mParticle identity '{duplicate.Key}'; give each its own identity in Mapping:Identity.");
        }

        var consent = options.Consent.EffectiveFields();
        for (var i = 0; i < consent.Count; i++)
        {
            var field = consent[i];
            var path = $"Mapping:Consent:Fields:{i}";
            if (string.IsNullOrWhiteSpace(field.Field))
            {
                failures.Add($"{path}:Field is empty; name the customer custom field that holds this consent.");
            }

            if (field.Regulation == ConsentRegulation.Ccpa && field.Purpose != ConsentSnapshot.CcpaPurpose)
            {
                failures.Add($"{path}:Purpose is '{field.Purpose}'; CCPA has exactly one purpose, '{ConsentSnapshot.CcpaPurpose}'.");
            }

            if (field.Regulation == ConsentRegulation.Gdpr &&
                (string.IsNullOrWhiteSpace(field.Purpose) || field.Purpose != field.Purpose.Trim().ToLowerInvariant()))
            {
                failures.Add($"{path}:Purpose is '{field.Purpose}'; GDPR purposes must be lowercase without spaces around them, as mParticle stores them.");
            }
        }

        foreach (var duplicate in consent.GroupBy(f => f.Field, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            failures.Add($"The customer field '{duplicate.Key}' appears more than once in Mapping:Consent:Fields.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void CheckIdentity(List<string> failures, string setting, string value)
    {
        if (!MParticleIdentityNames.All.Contains(value))
        {
            failures.Add($"{setting} is '{value}', which is not an mParticle identity. Use one of: {string.Join(", ", MParticleIdentityNames.All.Order(StringComparer.Ordinal))}.");
        }
    }
}

/// <summary>Checks that every store points at a configured input and every country is a 2-letter code.</summary>
internal sealed class MParticleOptionsValidator : IValidateOptions<MParticleOptions>
{
    public ValidateOptionsResult Validate(string? name, MParticleOptions options)
    {
        var failures = new List<string>();
        for (var i = 0; i < options.Inputs.Length; i++)
        {
            var input = options.Inputs[i];
            var path = $"MParticle:Inputs:{i} ({input.Name})";
            CheckAttributes(failures, path, InputAttributes, input);
            if (input.BaseUrl is { } url && (!url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp)))
            {
                failures.Add($"{path}:BaseUrl must be an absolute http(s) URL such as https://s2s.eu1.mparticle.com/v2.");
            }
        }

        for (var i = 0; i < options.Stores.Length; i++)
        {
            var store = options.Stores[i];
            var path = $"MParticle:Stores:{i} ({store.Key})";
            CheckAttributes(failures, path, StoreAttributes, store);
            if (options.FindInput(store.Input) is null)
            {
                failures.Add($"{path}:Input is '{store.Input}', but no entry of MParticle:Inputs has that Name. Add that input or correct the name.");
            }

            CheckCountry(failures, $"{path}:DefaultCountry", store.DefaultCountry);
        }

        foreach (var duplicate in options.Inputs.GroupBy(i => i.Name, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            failures.Add($"Two entries of MParticle:Inputs are named '{duplicate.Key}'; names must be unique.");
        }

        foreach (var duplicate in options.Stores.GroupBy(s => s.Key, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            failures.Add($"The store '{duplicate.Key}' appears more than once in MParticle:Stores.");
        }

        if (!string.IsNullOrEmpty(options.DefaultInput) && options.FindInput(options.DefaultInput) is null)
        {
            failures.Add($"MParticle:DefaultInput is '{options.DefaultInput}', but no entry of MParticle:Inputs has that Name.");
        }

        CheckCountry(failures, "MParticle:DefaultCountry", options.DefaultCountry);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static readonly MParticleInputOptionsAttributeValidator InputAttributes = new();
    private static readonly StoreOptionsAttributeValidator StoreAttributes = new();

    /// <summary>One list entry's attributes, through its generated validator (no reflection: the Native AOT publish keeps it).</summary>
    private static void CheckAttributes<T>(List<string> failures, string path, IValidateOptions<T> attributes, T item)
        where T : class
    {
        if (attributes.Validate(null, item) is { Failed: true, Failures: { } found })
        {
            failures.AddRange(found.Select(f => $"{path}: {f}"));
        }
    }

    private static void CheckCountry(List<string> failures, string setting, string? country)
    {
        if (!string.IsNullOrEmpty(country) && (country.Length != 2 || !char.IsAsciiLetterUpper(country[0]) || !char.IsAsciiLetterUpper(country[1])))
        {
            failures.Add($"{setting} is '{country}'; use an ISO 3166-1 alpha-2 code in capitals, such as DE or US.");
        }
    }
}

[OptionsValidator]
internal sealed partial class MParticleInputOptionsAttributeValidator : IValidateOptions<MParticleInputOptions>;

[OptionsValidator]
internal sealed partial class StoreOptionsAttributeValidator : IValidateOptions<StoreOptions>;

[OptionsValidator]
internal sealed partial class RelayOptionsAttributeValidator : IValidateOptions<RelayOptions>;

/// <summary>Dedupe must outlive the quarantine: a replayed record whose events' ids were forgotten could deliver them twice.</summary>
internal sealed class RelayRetentionValidator : IValidateOptions<RelayOptions>
{
    public ValidateOptionsResult Validate(string? name, RelayOptions options) =>
        options.DedupeRetentionDays >= options.QuarantineRetentionDays
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(
                $"Relay:DedupeRetentionDays is {options.DedupeRetentionDays} but Relay:QuarantineRetentionDays is {options.QuarantineRetentionDays}; " +
                "dedupe must remember event ids at least as long as quarantine records are kept, or replaying an old record can deliver its events twice. " +
                "Raise Relay:DedupeRetentionDays or lower Relay:QuarantineRetentionDays (and the quarantine container's lifecycle rule with it).");
}

[OptionsValidator]
internal sealed partial class PushOptionsAttributeValidator : IValidateOptions<PushOptions>;

[OptionsValidator]
internal sealed partial class StorageOptionsAttributeValidator : IValidateOptions<StorageOptions>;

/// <summary>Push settings that only make sense together.</summary>
internal sealed class PushOptionsValidator : IValidateOptions<PushOptions>
{
    public ValidateOptionsResult Validate(string? name, PushOptions options) =>
        options.InitialBackoff > options.MaxBackoff
            ? ValidateOptionsResult.Fail($"Push:InitialBackoff ({options.InitialBackoff}) is longer than Push:MaxBackoff ({options.MaxBackoff}).")
            : ValidateOptionsResult.Success;
}

/// <summary>Either a connection string or both service URIs (managed identity).</summary>
internal sealed class StorageOptionsValidator : IValidateOptions<StorageOptions>
{
    public ValidateOptionsResult Validate(string? name, StorageOptions options) =>
        !string.IsNullOrWhiteSpace(options.ConnectionString) || (options.TableServiceUri is { IsAbsoluteUri: true } && options.BlobServiceUri is { IsAbsoluteUri: true })
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(
                "Storage needs Storage:ConnectionString (Azurite: UseDevelopmentStorage=true) or both Storage:TableServiceUri and Storage:BlobServiceUri (managed identity).");
}

[OptionsValidator]
internal sealed partial class CollectorOptionsAttributeValidator : IValidateOptions<CollectorOptions>;

/// <summary>Collector sources: unique names, a write key setting each, origins as browsers send them, known stores.</summary>
internal sealed class CollectorOptionsValidator(IOptions<MParticleOptions> routing) : IValidateOptions<CollectorOptions>
{
    public ValidateOptionsResult Validate(string? name, CollectorOptions options)
    {
        var failures = new List<string>();
        for (var i = 0; i < options.Sources.Length; i++)
        {
            var source = options.Sources[i];
            var path = $"Collector:Sources:{i}";
            if (options.Sources.Take(i).Any(s => s.Name == source.Name))
            {
                failures.Add($"{path}:Name '{source.Name}' is used twice; each source needs its own name.");
            }

            if (string.IsNullOrWhiteSpace(source.WriteKeySetting))
            {
                failures.Add($"{path}:WriteKeySetting is empty; name the setting that holds this source's write key (never the key itself).");
            }

            foreach (var origin in source.AllowedOrigins)
            {
                if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || uri.AbsolutePath != "/"
                    || origin.EndsWith('/') || !string.IsNullOrEmpty(uri.Query))
                {
                    failures.Add($"{path}:AllowedOrigins has '{origin}'; an origin is scheme://host[:port] without a path, such as https://shop.example.com.");
                }
            }

            if (source.Currency is { Length: > 0 } currency && (currency.Length != 3 || !currency.All(char.IsAsciiLetterUpper)))
            {
                failures.Add($"{path}:Currency is '{currency}'; use an ISO 4217 code in capitals, such as EUR.");
            }

            if (source.Store is { Length: > 0 } store && routing.Value.FindStore(store) is null)
            {
                failures.Add($"{path}:Store is '{store}', which MParticle:Stores does not list; add the store there or fix the key.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
