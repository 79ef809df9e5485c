using System.Text.Json;
using System.Text.Json.Serialization;
using CtMparticle.Configuration;
using CtMparticle.Tracking;

namespace CtMparticle.Consent;

internal enum ConsentMode
{
    /// <summary>Forward only with every required purpose explicitly consented (fails closed).</summary>
    OptIn,
    /// <summary>Forward unless a required purpose is explicitly refused (CCPA: opted out of sale).</summary>
    OptOut,
    /// <summary>Forward; consent is still attached when known.</summary>
    None,
}

internal sealed record ConsentRegime(string Name, ConsentMode Mode, IReadOnlyList<string> Regions, IReadOnlyList<string> RequiredPurposes);

/// <summary>
/// The versioned consent rules (config/consent-rules.json): which regime applies in which region, and which
/// purposes it requires. Regions are ISO 3166-1 alpha-2 countries (<c>DE</c>) or subdivisions (<c>US-CA</c>);
/// a subdivision rule wins over its country's.
/// </summary>
internal sealed record ConsentRules(
    string Version,
    IReadOnlyList<ConsentRegime> Regimes,
    string DefaultRegime,
    string UnknownRegionRegime)
{
    private Dictionary<string, ConsentRegime>? byRegion;
    private Dictionary<string, ConsentRegime>? byName;

    /// <summary>The regime for a region code (<c>US-CA</c>, <c>DE</c>), or for an unknown region when null.</summary>
    public ConsentRegime RegimeFor(string? regionCode)
    {
        byName ??= Regimes.ToDictionary(r => r.Name, StringComparer.Ordinal);
        byRegion ??= Regimes.SelectMany(r => r.Regions.Select(region => (region, r)))
            .GroupBy(p => p.region, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First().r, StringComparer.OrdinalIgnoreCase);
        if (regionCode is null)
        {
            return byName[UnknownRegionRegime];
        }

        if (byRegion.TryGetValue(regionCode, out var exact))
        {
            return exact;
        }

        var dash = regionCode.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 && byRegion.TryGetValue(regionCode[..dash], out var country) ? country : byName[DefaultRegime];
    }

    /// <summary>
    /// The regime for a region. An address whose subdivision could not be normalized, in a country the rules split by
    /// subdivision, takes the strictest regime of that country (opt-in over opt-out over none): it never fails open.
    /// </summary>
    public ConsentRegime RegimeFor(Region? region)
    {
        if (region is null || !region.SubdivisionUnknown)
        {
            return RegimeFor(region?.Code);
        }

        var prefix = region.Country + "-";
        var candidates = Regimes.Where(r => r.Regions.Any(code => code.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))).ToList();
        var country = RegimeFor(region.Country);
        if (candidates.Count == 0)
        {
            return country;
        }

        candidates.Add(country);
        return candidates.MaxBy(Strictness)!;
    }

    private static int Strictness(ConsentRegime regime) => regime.Mode switch
    {
        ConsentMode.OptIn => 2,
        ConsentMode.OptOut => 1,
        _ => 0,
    };

    /// <summary>Every problem with the rules, as sentences; empty when they are usable.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Version))
        {
            problems.Add("'version' is empty; give the rules a version so decisions can be traced to them.");
        }

        var names = Regimes.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in new[] { DefaultRegime, UnknownRegionRegime })
        {
            if (!names.Contains(name))
            {
                problems.Add($"Regime '{name}' is named as a default but not defined in 'regimes'.");
            }
        }

        foreach (var regime in Regimes)
        {
            if (regime.Mode == ConsentMode.OptIn && regime.RequiredPurposes.Count == 0)
            {
                problems.Add($"Opt-in regime '{regime.Name}' requires no purpose; name at least one (for example 'analytics').");
            }

            foreach (var purpose in regime.RequiredPurposes.Where(p => p != p.Trim().ToLowerInvariant()))
            {
                problems.Add($"Regime '{regime.Name}': purpose '{purpose}' must be lowercase, as mParticle stores purposes.");
            }

            if (regime.Mode == ConsentMode.OptIn && regime.RequiredPurposes.Contains(ConsentSnapshot.CcpaPurpose))
            {
                problems.Add($"Opt-in regime '{regime.Name}' requires '{ConsentSnapshot.CcpaPurpose}', which is an opt-out signal; use an OptOut regime.");
            }

            foreach (var region in regime.Regions.Where(r => !IsRegionCode(r)))
            {
                problems.Add($"Regime '{regime.Name}': '{region}' is not a region code (use 'DE' or 'US-CA').");
            }
        }

        foreach (var region in Regimes.SelectMany(r => r.Regions).GroupBy(r => r, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
        {
            problems.Add($"Region '{region.Key}' is listed in more than one regime.");
        }

        return problems;
    }

    private static bool IsRegionCode(string code) =>
        code.Length >= 2 && char.IsAsciiLetterUpper(code[0]) && char.IsAsciiLetterUpper(code[1]) &&
        (code.Length == 2 || (code[2] == '-' && code.Length is >= 4 and <= 6 && code[3..].All(char.IsAsciiLetterOrDigit)));

    /// <summary>Reads rules from JSON; returns the problems instead of throwing.</summary>
    public static (ConsentRules? Rules, IReadOnlyList<string> Problems) Parse(string json, string source) =>
        RulesFile.Parse(json, source, ConsentRulesJsonContext.Default.ConsentRules, rules => rules.Problems(), "consent rules");
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true)]
[JsonSerializable(typeof(ConsentRules))]
internal sealed partial class ConsentRulesJsonContext : JsonSerializerContext;
