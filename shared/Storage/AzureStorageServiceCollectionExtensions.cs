using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using CtMparticle.Configuration;
using CtMparticle.Relay;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CtMparticle.Storage;

/// <summary>Either a connection string or both service URIs (managed identity).</summary>
public sealed class StorageOptionsValidator : IValidateOptions<StorageOptions>
{
    public ValidateOptionsResult Validate(string? name, StorageOptions options) =>
        !string.IsNullOrWhiteSpace(options.ConnectionString) || (options.TableServiceUri is { IsAbsoluteUri: true } && options.BlobServiceUri is { IsAbsoluteUri: true })
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(
                "Storage needs Storage:ConnectionString (Azurite: UseDevelopmentStorage=true) or both Storage:TableServiceUri and Storage:BlobServiceUri (managed identity).");
}

public static class AzureStorageServiceCollectionExtensions
{
    /// <summary>The storage ports on Azure Tables (dedupe + outbox, order context, consent) and Blobs (quarantine).</summary>
    public static IServiceCollection AddCtMparticleAzureStorage(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StorageOptions>().Bind(configuration.GetSection(StorageOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<StorageOptions>, StorageOptionsAttributeValidator>();
        services.AddSingleton<IValidateOptions<StorageOptions>, StorageOptionsValidator>();

        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
            return string.IsNullOrWhiteSpace(o.ConnectionString)
                ? new TableServiceClient(o.TableServiceUri!, Credential(o))
                : new TableServiceClient(o.ConnectionString);
        });
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
            return string.IsNullOrWhiteSpace(o.ConnectionString)
                ? new BlobServiceClient(o.BlobServiceUri!, Credential(o))
                : new BlobServiceClient(o.ConnectionString);
        });

        services.AddSingleton<IEventStore>(sp => new TableEventStore(
            Table(sp, o => o.EventsTable), sp.GetRequiredService<IOptions<RelayOptions>>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IOrderContextStore>(sp => new TableOrderContextStore(
            Table(sp, o => o.OrdersTable), sp.GetRequiredService<IOptions<RelayOptions>>()));
        services.AddSingleton(sp => new TableConsentStore(
            Table(sp, o => o.ConsentTable), sp.GetRequiredService<IOptions<RelayOptions>>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IConsentStore>(sp => sp.GetRequiredService<TableConsentStore>());
        services.AddSingleton<ICheckpointStore>(sp => sp.GetRequiredService<TableConsentStore>());
        services.AddSingleton<IQuarantine>(sp => new BlobQuarantine(
            sp.GetRequiredService<BlobServiceClient>().GetBlobContainerClient(sp.GetRequiredService<IOptions<StorageOptions>>().Value.QuarantineContainer)));
        return services;
    }

    private static TableClient Table(IServiceProvider services, Func<StorageOptions, string> name)
    {
        var client = services.GetRequiredService<TableServiceClient>().GetTableClient(name(services.GetRequiredService<IOptions<StorageOptions>>().Value));
        client.CreateIfNotExists();
        return client;
    }

    private static DefaultAzureCredential Credential(StorageOptions options) =>
        new(new DefaultAzureCredentialOptions { ManagedIdentityClientId = string.IsNullOrWhiteSpace(options.ManagedIdentityClientId) ? null : options.ManagedIdentityClientId });
}
