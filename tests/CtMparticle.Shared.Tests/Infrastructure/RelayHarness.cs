using Azure.Data.Tables;
using Azure.Storage.Blobs;
using CtMparticle.Configuration;
using CtMparticle.Delivery;
using CtMparticle.Hosting;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CtMparticle.Tests.Infrastructure;

/// <summary>
/// The relay wired as in production (same registration code), on real Azurite tables and blobs with names unique
/// to the test, sending to a local Events API server.
/// </summary>
internal sealed class RelayHarness : IAsyncDisposable
{
    private readonly ServiceProvider services;

    private RelayHarness(ServiceProvider services, string prefix)
    {
        this.services = services;
        Prefix = prefix;
    }

    public string Prefix { get; }

    public IngestPipeline Ingest => services.GetRequiredService<IngestPipeline>();

    public PushPipeline Push => services.GetRequiredService<PushPipeline>();

    public IEventStore Events => services.GetRequiredService<IEventStore>();

    public IConsentStore Consent => services.GetRequiredService<IConsentStore>();

    public IOrderContextStore Orders => services.GetRequiredService<IOrderContextStore>();

    public IIdentityLinkStore Links => services.GetRequiredService<IIdentityLinkStore>();

    public BlobContainerClient QuarantineContainer =>
        services.GetRequiredService<BlobServiceClient>().GetBlobContainerClient(services.GetRequiredService<IOptions<StorageOptions>>().Value.QuarantineContainer);

    public T Get<T>() where T : notnull => services.GetRequiredService<T>();

    public static Dictionary<string, string?> Settings(AzuriteFixture azurite, Uri eventsApi, string prefix) => new()
    {
        ["Mapping:Environment"] = "production",
        ["MParticle:Inputs:0:Name"] = "acme-eu",
        ["MParticle:Inputs:0:BaseUrl"] = eventsApi.ToString(),
        ["MParticle:Inputs:0:ApiKeySetting"] = "Test_AcmeEu_ApiKey",
        ["MParticle:Inputs:0:ApiSecretSetting"] = "Test_AcmeEu_ApiSecret",
        ["Test_AcmeEu_ApiKey"] = "test-key",
        ["Test_AcmeEu_ApiSecret"] = "test-secret",
        ["MParticle:Stores:0:Key"] = "acme-de",
        ["MParticle:Stores:0:Input"] = "acme-eu",
        ["MParticle:Stores:0:DefaultCountry"] = "DE",
        ["MParticle:Stores:1:Key"] = "acme-uk",
        ["MParticle:Stores:1:Input"] = "acme-eu",
        ["MParticle:Stores:1:DefaultCountry"] = "GB",
        ["MParticle:DefaultInput"] = "acme-eu",
        ["Storage:ConnectionString"] = azurite.ConnectionString,
        ["Storage:EventsTable"] = prefix + "events",
        ["Storage:OrdersTable"] = prefix + "orders",
        ["Storage:ConsentTable"] = prefix + "consent",
        ["Storage:LinksTable"] = prefix + "links",
        ["Storage:QuarantineContainer"] = prefix + "-quarantine",
        ["Relay:Partitions"] = "4",
        ["Push:HttpTimeout"] = "00:00:02",
        ["Push:InitialBackoff"] = "00:00:00.200",
        ["Push:MaxBackoff"] = "00:00:01",
        ["Push:AuthFailurePause"] = "00:00:01",
    };

    public static RelayHarness Create(
        AzuriteFixture azurite, EventsApiServer server, Action<Dictionary<string, string?>>? configure = null,
        TimeProvider? time = null, FaultPlan? faults = null)
    {
        var prefix = "t" + Guid.NewGuid().ToString("N")[..10];
        var settings = Settings(azurite, server.BaseUrl, prefix);
        configure?.Invoke(settings);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var collection = new ServiceCollection()
            .AddLogging()
            .AddSingleton<IConfiguration>(configuration)
            .AddCtMparticleRelay(configuration)
            .AddCtMparticleAzureStorage(configuration);
        if (time is not null)
        {
            collection.RemoveAll<TimeProvider>();
            collection.AddSingleton(time);
        }

        if (faults is not null)
        {
            Decorate<IEventStore>(collection, inner => new FaultyEventStore(inner, faults));
            Decorate<IOrderContextStore>(collection, inner => new FaultyOrderStore(inner, faults));
            Decorate<IConsentStore>(collection, inner => new FaultyConsentStore(inner, faults));
            Decorate<IQuarantine>(collection, inner => new FaultyQuarantine(inner, faults));
            Decorate<IEventsApi>(collection, inner => new FaultyEventsApi(inner, faults));
        }

        var provider = collection.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        _ = provider.GetRequiredService<IOptions<MappingOptions>>().Value;
        return new RelayHarness(provider, prefix);
    }

    /// <summary>Wraps the registered implementation of a port, keeping its lifetime.</summary>
    private static void Decorate<T>(IServiceCollection services, Func<T, T> wrap) where T : class
    {
        var original = services.Last(d => d.ServiceType == typeof(T));
        services.Remove(original);
        services.Add(new ServiceDescriptor(typeof(T), sp => wrap((T)original.ImplementationFactory!(sp)), original.Lifetime));
    }

    public async Task<IReadOnlyList<QuarantineRecord>> QuarantinedAsync()
    {
        var records = new List<QuarantineRecord>();
        if (!await QuarantineContainer.ExistsAsync())
        {
            return records;
        }

        await foreach (var blob in QuarantineContainer.GetBlobsAsync())
        {
            if (!blob.Name.EndsWith(".json", StringComparison.Ordinal))
            {
                continue; // the push lease (.locks/push)
            }

            var content = await QuarantineContainer.GetBlobClient(blob.Name).DownloadContentAsync();
            records.Add(System.Text.Json.JsonSerializer.Deserialize(content.Value.Content.ToMemory().Span, RelayJsonContext.Default.QuarantineRecord)!);
        }

        return records;
    }

    public async ValueTask DisposeAsync()
    {
        var tables = services.GetRequiredService<TableServiceClient>();
        var options = services.GetRequiredService<IOptions<StorageOptions>>().Value;
        foreach (var name in new[] { options.EventsTable, options.OrdersTable, options.ConsentTable, options.LinksTable })
        {
            await tables.DeleteTableAsync(name);
        }

        await QuarantineContainer.DeleteIfExistsAsync();
        await services.DisposeAsync();
    }
}
