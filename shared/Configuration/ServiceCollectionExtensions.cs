using CtMparticle.Mapping;
using CtMparticle.MParticle;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CtMparticle.Configuration;

public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Binds and validates the core settings (sections <c>Mapping</c> and <c>MParticle</c>) and registers the pure
    /// mapping services. Validation runs at start: a bad setting stops the host with every problem listed.
    /// </summary>
    public static IServiceCollection AddCtMparticleCore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<MappingOptions>().Bind(configuration.GetSection(MappingOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<MappingOptions>, MappingOptionsAttributeValidator>();
        services.AddSingleton<IValidateOptions<MappingOptions>, MappingOptionsValidator>();
        services.AddOptions<MParticleOptions>().Bind(configuration.GetSection(MParticleOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<MParticleOptions>, MParticleOptionsValidator>();

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new CommercetoolsMapper(
            sp.GetRequiredService<IOptions<MappingOptions>>().Value, sp.GetRequiredService<IOptions<MParticleOptions>>().Value));
        services.TryAddSingleton(sp => new BatchBuilder(
            sp.GetRequiredService<IOptions<MappingOptions>>().Value, sp.GetRequiredService<IOptions<MParticleOptions>>().Value));
        return services;
    }
}
