using CtMparticle.Configuration;
using CtMparticle.Consent;
using CtMparticle.Delivery;
using CtMparticle.Governance;
using CtMparticle.Identity;
using Microsoft.Extensions.Options;

namespace CtMparticle.Hosting;

// Checks that read the files the settings point to (consent rules, the tracking plan): a broken file stops the host
// at start with the problems listed, instead of failing the first message.

/// <summary>The consent rules file must exist and be valid at start; a broken one stops the host.</summary>
internal sealed class ConsentRulesFileValidator : IValidateOptions<RelayOptions>
{
    public ValidateOptionsResult Validate(string? name, RelayOptions options)
    {
        var (_, problems) = ConsentRulesLoader.Load(options);
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}

/// <summary>The identity rules file must exist and be valid at start; a broken one stops the host.</summary>
internal sealed class IdentityRulesFileValidator : IValidateOptions<RelayOptions>
{
    public ValidateOptionsResult Validate(string? name, RelayOptions options)
    {
        var (_, problems) = IdentityRulesLoader.Load(options);
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}

/// <summary>The active plan must load, lint clean and match the batches' tag; a broken plan stops the host.</summary>
internal sealed class GovernanceOptionsValidator(IOptions<MappingOptions> mapping, IOptions<MParticleOptions> routing) : IValidateOptions<GovernanceOptions>
{
    public ValidateOptionsResult Validate(string? name, GovernanceOptions options)
    {
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }

        MappingOptions mappingOptions;
        MParticleOptions routingOptions;
        try
        {
            mappingOptions = mapping.Value;
            routingOptions = routing.Value;
        }
        catch (OptionsValidationException)
        {
            // Those settings report their own problems; the plan cannot be checked against them until they are fixed.
            return ValidateOptionsResult.Skip;
        }

        var (_, problems) = PlanGovernor.Load(ResolvePath(options.PoliciesPath), mappingOptions, new BatchBuilder(mappingOptions, routingOptions));
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    /// <summary>A settings path as the host reads it: absolute as given, relative to the app's folder otherwise.</summary>
    public static string ResolvePath(string path) => Path.IsPathRooted(path) ? path : Path.Combine(AppContext.BaseDirectory, path);
}

internal static class IdentityRulesLoader
{
    public static (IdentityRules? Rules, IReadOnlyList<string> Problems) Load(RelayOptions options)
    {
        var path = GovernanceOptionsValidator.ResolvePath(options.IdentityRulesPath);
        if (!File.Exists(path))
        {
            return (null, [$"Relay:IdentityRulesPath points to {path}, which does not exist. Ship config/identity-rules.json with the app or correct the setting."]);
        }

        var (rules, problems) = IdentityRules.Parse(File.ReadAllText(path), path);
        if (rules is null || ConsentRulesLoader.Load(options).Rules is not { } consent)
        {
            return (rules, problems); // broken consent rules are reported by their own check
        }

        // A pairing rule names consent regimes: one the consent rules do not have would never apply, silently.
        var unknown = (rules.Pairing ?? []).SelectMany(p => p.Regimes.Where(r => r != "*" && consent.Regimes.All(c => c.Name != r)).Select(r => (p.Name, Regime: r))).ToArray();
        return unknown.Length == 0
            ? (rules, problems)
            : (null, [.. unknown.Select(u => $"{path}: pairing '{u.Name}' names regime '{u.Regime}', which {ConsentRulesLoader.ResolvePath(options)} does not define; use one of {string.Join(", ", consent.Regimes.Select(c => c.Name))} or \"*\".")]);
    }
}

internal static class ConsentRulesLoader
{
    public static string ResolvePath(RelayOptions options) => GovernanceOptionsValidator.ResolvePath(options.ConsentRulesPath);

    public static (ConsentRules? Rules, IReadOnlyList<string> Problems) Load(RelayOptions options)
    {
        var path = ResolvePath(options);
        if (!File.Exists(path))
        {
            return (null, [$"Relay:ConsentRulesPath points to {path}, which does not exist. Ship config/consent-rules.json with the app or correct the setting."]);
        }

        return ConsentRules.Parse(File.ReadAllText(path), path);
    }
}
