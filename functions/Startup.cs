using CtMparticle.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CtMparticle.Functions;

/// <summary>The function app's services; Program.cs and the tests share it.</summary>
public static class Startup
{
    public static IServiceCollection AddRelayFunctions(this IServiceCollection services, IConfiguration configuration) =>
        services.AddCtMparticleRelay(configuration).AddCtMparticleAzureStorage(configuration).AddHostedService<StoreLayoutCheck>();
}
