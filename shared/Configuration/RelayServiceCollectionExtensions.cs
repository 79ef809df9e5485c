using CtMparticle.MParticle;
using CtMparticle.Relay;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CtMparticle.Configuration;

[OptionsValidator]
public sealed partial class RelayOptionsAttributeValidator : IValidateOptions<RelayOptions>;

[OptionsValidator]
public sealed partial class PushOptionsAttributeValidator : IValidateOptions<PushOptions>;

[OptionsValidator]
public sealed partial class StorageOptionsAttributeValidator : IValidateOptions<StorageOptions>;

/// <summary>The consent rules file must exist and be valid at start; a broken one stops the host.</summary>
public sealed class ConsentRulesFileValidator : IValidateOptions<RelayOptions>
{
    public ValidateOptionsResult Validate(string? name, RelayOptions options)
    {
        var (_, problems) = ConsentRulesLoader.Load(options);
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}

/// <summary>The active plan must load, lint clean and match the batches' tag; a broken plan stops the host.</summary>
public sealed class GovernanceOptionsValidator(IOptions<MappingOptions> mapping, IOptions<MParticleOptions> routing) : IValidateOptions<GovernanceOptions>
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

        var (_, problems) = Governance.PlanGovernor.Load(ResolvePath(options.PoliciesPath), mappingOptions, new BatchBuilder(mappingOptions, routingOptions));
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    public static string ResolvePath(string path) => Path.IsPathRooted(path) ? path : Path.Combine(AppContext.BaseDirectory, path);
}

/// <summary>Push settings that only make sense together.</summary>
public sealed class PushOptionsValidator : IValidateOptions<PushOptions>
{
    public ValidateOptionsResult Validate(string? name, PushOptions options) =>
        options.InitialBackoff > options.MaxBackoff
            ? ValidateOptionsResult.Fail($"Push:InitialBackoff ({options.InitialBackoff}) is longer than Push:MaxBackoff ({options.MaxBackoff}).")
            : ValidateOptionsResult.Success;
}

public static class ConsentRulesLoader
{
    public static string ResolvePath(RelayOptions options) =>
        Path.IsPathRooted(options.ConsentRulesPath) ? options.ConsentRulesPath : Path.Combine(AppContext.BaseDirectory, options.ConsentRulesPath);

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

public static class RelayServiceCollectionExtensions
{
    /// <summary>
    /// The relay: core mapping, consent rules, ingest and push pipelines, metrics and the Events API client.
    /// Storage adapters (Azure or embedded) are registered separately. Every setting is validated at start.
    /// </summary>
    public static IServiceCollection AddCtMparticleRelay(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddCtMparticleCore(configuration);
        services.AddOptions<RelayOptions>().Bind(configuration.GetSection(RelayOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RelayOptions>, RelayOptionsAttributeValidator>();
        services.AddSingleton<IValidateOptions<RelayOptions>, ConsentRulesFileValidator>();
        services.AddOptions<PushOptions>().Bind(configuration.GetSection(PushOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<PushOptions>, PushOptionsAttributeValidator>();
        services.AddSingleton<IValidateOptions<PushOptions>, PushOptionsValidator>();

        services.AddOptions<GovernanceOptions>().Bind(configuration.GetSection(GovernanceOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<GovernanceOptions>, GovernanceOptionsValidator>();
        if (configuration.GetSection(GovernanceOptions.Section)["Enabled"] is not { } enabled || bool.Parse(enabled))
        {
            services.TryAddSingleton(sp =>
            {
                var options = sp.GetRequiredService<IOptions<GovernanceOptions>>().Value;
                var (governor, problems) = Governance.PlanGovernor.Load(
                    GovernanceOptionsValidator.ResolvePath(options.PoliciesPath), sp.GetRequiredService<IOptions<MappingOptions>>().Value, sp.GetRequiredService<BatchBuilder>());
                return governor ?? throw new OptionsValidationException(GovernanceOptions.Section, typeof(GovernanceOptions), problems);
            });
        }

        services.AddOptions<CtMparticle.Commercetools.CommercetoolsOptions>().Bind(configuration.GetSection(CtMparticle.Commercetools.CommercetoolsOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CtMparticle.Commercetools.CommercetoolsOptions>, CtMparticle.Commercetools.CommercetoolsOptionsValidator>();
        if (!string.IsNullOrWhiteSpace(configuration.GetSection(CtMparticle.Commercetools.CommercetoolsOptions.Section)["ProjectKey"]))
        {
            // Registered only when configured: without it, payloadNotIncluded and missing order context are quarantined for replay.
            services.AddHttpClient<CtMparticle.Commercetools.CommercetoolsClient>((sp, http) =>
                http.Timeout = sp.GetRequiredService<IOptions<CtMparticle.Commercetools.CommercetoolsOptions>>().Value.HttpTimeout);
            services.TryAddTransient<ConsentReconciler>();
        }

        services.AddMetrics();
        services.TryAddSingleton<RelayMetrics>();
        services.TryAddSingleton(sp =>
        {
            var (rules, problems) = ConsentRulesLoader.Load(sp.GetRequiredService<IOptions<RelayOptions>>().Value);
            return rules ?? throw new OptionsValidationException(RelayOptions.Section, typeof(RelayOptions), problems);
        });
        services.TryAddSingleton<PushThrottle>();
        // Transient: it may hold a typed HttpClient (commercetools), which must not be captured by a singleton.
        services.TryAddTransient<IngestPipeline>();
        services.TryAddSingleton<RetentionJob>();
        // Transient: it holds a typed HttpClient, which must not be captured by a singleton.
        services.TryAddTransient<PushPipeline>();
        services.AddHttpClient<IEventsApi, EventsApiClient>((sp, http) =>
            http.Timeout = sp.GetRequiredService<IOptions<PushOptions>>().Value.HttpTimeout);
        return services;
    }
}
