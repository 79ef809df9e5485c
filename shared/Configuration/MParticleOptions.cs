using System.Collections.Frozen;
using System.ComponentModel.DataAnnotations;

namespace CtMparticle.Configuration;

/// <summary>
/// Where each store's events go. Section <c>MParticle</c>. An input is one mParticle feed (its key and secret);
/// stores point at inputs, so several stores (brands, markets) can share one input or each have their own.
/// Inputs and stores are lists (<c>MParticle__Stores__0__Key</c>), not maps keyed by store key, because store keys
/// usually contain '-', which Linux app-setting names cannot.
/// </summary>
internal sealed class MParticleOptions
{
    public const string Section = "MParticle";

    private FrozenDictionary<string, MParticleInputOptions>? inputIndex;
    private FrozenDictionary<string, StoreOptions>? storeIndex;

    public MParticleInputOptions[] Inputs { get; set; } = [];

    public StoreOptions[] Stores { get; set; } = [];

    /// <summary>The input for events with no store, or a store not listed in <see cref="Stores"/>; empty to quarantine those.</summary>
    public string? DefaultInput { get; set; }

    /// <summary>The default country of events with no store or address (ISO 3166-1 alpha-2); empty for unknown.</summary>
    public string? DefaultCountry { get; set; }

    /// <summary>The input with this name, or null.</summary>
    public MParticleInputOptions? FindInput(string? name) =>
        name is not null && (inputIndex ??= Index(Inputs, i => i.Name)).TryGetValue(name, out var input) ? input : null;

    /// <summary>The settings of the store with this key, or null.</summary>
    public StoreOptions? FindStore(string? key) =>
        key is not null && (storeIndex ??= Index(Stores, s => s.Key)).TryGetValue(key, out var store) ? store : null;

    // Duplicates are reported by the validator; the index keeps the first.
    private static FrozenDictionary<string, T> Index<T>(IEnumerable<T> items, Func<T, string> key) =>
        items.GroupBy(key, StringComparer.Ordinal).ToFrozenDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
}

internal enum MParticlePod
{
    US1,
    US2,
    EU1,
    AU1,
}

internal sealed class MParticleInputOptions
{
    /// <summary>The input's name, referenced by stores and <see cref="MParticleOptions.DefaultInput"/>.</summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9_-]+$", ErrorMessage = "An input's Name may use letters, digits, '_' and '-'.")]
    public string Name { get; set; } = "";

    /// <summary>The pod the organisation lives on; sets the Events API base URL.</summary>
    public MParticlePod Pod { get; set; } = MParticlePod.US1;

    /// <summary>Overrides the pod's base URL (for tests and proxies), e.g. <c>http://127.0.0.1:5080/v2</c>.</summary>
    public Uri? BaseUrl { get; set; }

    /// <summary>The name of the setting that holds the input's API key (a Key Vault reference in Azure). Never the key itself.</summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9_:.-]+$", ErrorMessage = "ApiKeySetting must be the NAME of a setting (e.g. MParticle_AcmeDe_ApiKey), not the key.")]
    public string ApiKeySetting { get; set; } = "";

    /// <summary>The name of the setting that holds the input's API secret.</summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9_:.-]+$", ErrorMessage = "ApiSecretSetting must be the NAME of a setting (e.g. MParticle_AcmeDe_ApiSecret), not the secret.")]
    public string ApiSecretSetting { get; set; } = "";

    /// <summary>Overrides <see cref="MappingOptions.Environment"/> for this input.</summary>
    [RegularExpression("^(production|development)$", ErrorMessage = "An input's Environment must be 'production' or 'development'.")]
    public string? Environment { get; set; }

    public Uri EffectiveBaseUrl => BaseUrl ?? PodBaseUrl(Pod);

    // Parsed once: the route of every event asks for its input's URL (a profile put 0.4 % of a run in parsing these).
    private static readonly Uri Us1 = new("https://s2s.us1.mparticle.com/v2");
    private static readonly Uri Us2 = new("https://s2s.us2.mparticle.com/v2");
    private static readonly Uri Eu1 = new("https://s2s.eu1.mparticle.com/v2");
    private static readonly Uri Au1 = new("https://s2s.au1.mparticle.com/v2");

    public static Uri PodBaseUrl(MParticlePod pod) => pod switch
    {
        MParticlePod.US1 => Us1,
        MParticlePod.US2 => Us2,
        MParticlePod.EU1 => Eu1,
        MParticlePod.AU1 => Au1,
        _ => throw new ArgumentOutOfRangeException(nameof(pod), pod, "Unknown mParticle pod."),
    };
}

internal sealed class StoreOptions
{
    /// <summary>The commercetools store key (<c>order.store.key</c>).</summary>
    [Required]
    public string Key { get; set; } = "";

    /// <summary>The name of the input (in <see cref="MParticleOptions.Inputs"/>) this store's events go to.</summary>
    [Required]
    public string Input { get; set; } = "";

    /// <summary>The store's country, used for the consent region when an event has no address.</summary>
    public string? DefaultCountry { get; set; }

    /// <summary>The store's main locale, used for product names when the order has none.</summary>
    public string? Locale { get; set; }
}

/// <summary>Where a batch goes: resolved from the event's store.</summary>
internal sealed record InputRoute(string InputName, Uri BaseUrl, string ApiKeySetting, string ApiSecretSetting, string Environment);
