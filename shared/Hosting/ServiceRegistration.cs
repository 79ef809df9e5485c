using System.Net;
using Azure;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using CtMparticle.Configuration;
using CtMparticle.Delivery;
using CtMparticle.Governance;
using CtMparticle.Identity;
using CtMparticle.Pipeline;
using CtMparticle.Sources.Collector;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Storage;
using CtMparticle.Storage.Azure;
using CtMparticle.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CtMparticle.Hosting;

/// <summary>
/// The one place the relay is put together: settings (bound and validated at start), the pure core, the ingest
/// stages and the commercetools source, push, and the storage adapters. Hosts (the function app, ctmp, tests) call
/// <see cref="AddCtMparticleRelay"/> and one storage registration (Azure here, the embedded store in ctmp).
/// </summary>
internal static class ServiceRegistration
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
        services.TryAddSingleton(sp => new InputRouter(
            sp.GetRequiredService<IOptions<MappingOptions>>().Value, sp.GetRequiredService<IOptions<MParticleOptions>>().Value));
        services.TryAddSingleton(sp => new IdentityMapper(sp.GetRequiredService<IOptions<MappingOptions>>().Value.Identity));
        services.TryAddSingleton(sp => new BatchBuilder(
            sp.GetRequiredService<IOptions<MappingOptions>>().Value, sp.GetRequiredService<InputRouter>(), sp.GetRequiredService<IdentityMapper>()));
        return services;
    }

    /// <summary>
    /// The relay: core mapping, consent rules, ingest and push pipelines, metrics and the Events API client.
    /// Storage adapters (Azure or embedded) are registered separately. Every setting is validated at start.
    /// </summary>
    public static IServiceCollection AddCtMparticleRelay(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddCtMparticleCore(configuration);
        services.AddOptions<RelayOptions>().Bind(configuration.GetSection(RelayOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RelayOptions>, RelayOptionsAttributeValidator>();
        services.AddSingleton<IValidateOptions<RelayOptions>, RelayRetentionValidator>();
        services.AddSingleton<IValidateOptions<RelayOptions>, ConsentRulesFileValidator>();
        services.AddSingleton<IValidateOptions<RelayOptions>, IdentityRulesFileValidator>();
        services.AddOptions<PushOptions>().Bind(configuration.GetSection(PushOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<PushOptions>, PushOptionsAttributeValidator>();
        services.AddSingleton<IValidateOptions<PushOptions>, PushOptionsValidator>();

        services.AddOptions<GovernanceOptions>().Bind(configuration.GetSection(GovernanceOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<GovernanceOptions>, GovernanceOptionsValidator>();
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<GovernanceOptions>>().Value;
            if (!options.Enabled)
            {
                return PlanGovernor.Disabled(sp.GetRequiredService<BatchBuilder>());
            }

            var (governor, problems) = PlanGovernor.Load(
                GovernanceOptionsValidator.ResolvePath(options.PoliciesPath), sp.GetRequiredService<IOptions<MappingOptions>>().Value, sp.GetRequiredService<BatchBuilder>());
            return governor ?? throw new OptionsValidationException(GovernanceOptions.Section, typeof(GovernanceOptions), problems);
        });

        services.AddOptions<CommercetoolsOptions>().Bind(configuration.GetSection(CommercetoolsOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CommercetoolsOptions>, CommercetoolsOptionsValidator>();
        // Always there: without Commercetools:ProjectKey it answers "not configured", and payloadNotIncluded messages
        // and follow-ups without a stored order are quarantined for replay instead of fetched.
        services.TryAddSingleton<CommercetoolsSession>();
        services.AddHttpClient<CommercetoolsClient>((sp, http) =>
            http.Timeout = sp.GetRequiredService<IOptions<CommercetoolsOptions>>().Value.HttpTimeout);
        services.TryAddTransient<ConsentReconciler>();

        services.AddMetrics();
        services.TryAddSingleton<RelayMetrics>();
        services.TryAddSingleton(sp =>
        {
            var (rules, problems) = ConsentRulesLoader.Load(sp.GetRequiredService<IOptions<RelayOptions>>().Value);
            return rules ?? throw new OptionsValidationException(RelayOptions.Section, typeof(RelayOptions), problems);
        });
        services.TryAddSingleton(sp =>
        {
            var (rules, problems) = IdentityRulesLoader.Load(sp.GetRequiredService<IOptions<RelayOptions>>().Value);
            return rules ?? throw new OptionsValidationException(RelayOptions.Section, typeof(RelayOptions), problems);
        });
        services.TryAddSingleton<IdentityResolver>();
        services.TryAddSingleton<PushThrottle>();
        services.TryAddSingleton<BatchPacker>();
        // Ingest: the commercetools source, then the shared stages. Transient: the source holds a typed HttpClient
        // (commercetools), which must not be captured by a singleton.
        services.TryAddTransient<CommercetoolsResolver>();
        services.TryAddTransient<ISource, CommercetoolsSource>();
        services.TryAddTransient<IdentityStage>();
        services.TryAddTransient<LinkStage>();
        services.TryAddTransient<ConsentStage>();
        services.TryAddTransient<GovernStage>();
        services.TryAddTransient<StoreStage>();
        services.TryAddTransient<IngestPipeline>();
        services.TryAddSingleton<RetentionJob>();
        // The storefront collector: its own source over the same stages, and the HTTP contract both hosts serve.
        services.AddOptions<CollectorOptions>().Bind(configuration.GetSection(CollectorOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CollectorOptions>, CollectorOptionsAttributeValidator>();
        services.AddSingleton<IValidateOptions<CollectorOptions>, CollectorOptionsValidator>();
        // Transient like the commercetools source (the catalog lookup holds the typed commercetools HttpClient); what
        // must outlive a call (the catalog cache, the sources' rate buckets) are singletons of their own.
        services.TryAddSingleton<ProductCatalogCache>();
        services.TryAddTransient<ProductCatalog>();
        services.TryAddTransient<CollectorSource>();
        services.TryAddTransient(sp => new CollectorIngest(sp.GetRequiredService<CollectorSource>(), sp.GetRequiredService<ConsentStage>(),
            sp.GetRequiredService<GovernStage>(), sp.GetRequiredService<StoreStage>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IdentityStage>(),
            sp.GetRequiredService<LinkStage>(), sp.GetRequiredService<RelayMetrics>()));
        services.TryAddSingleton<CollectorRateLimits>();
        services.TryAddTransient<CollectorCalls>();
        // Transient: it holds a typed HttpClient, which must not be captured by a singleton.
        services.TryAddTransient<PushPipeline>();
        services.AddHttpClient<IEventsApi, EventsApiClient>((sp, http) =>
            http.Timeout = sp.GetRequiredService<IOptions<PushOptions>>().Value.HttpTimeout);
        return services;
    }

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

        // A Service Bus batch's messages and a collector request's calls are settled written behind (WriteBehindIngest); nothing else is.
        services.AddSingleton<TableWriteBehind>();
        services.TryAddSingleton<WriteBehindIngest>();
        services.TryAddSingleton<IBatchSettler>(sp => sp.GetRequiredService<WriteBehindIngest>());
        services.AddSingleton<IEventStore>(sp => new TableEventStore(
            Table(sp, o => o.EventsTable), sp.GetRequiredService<IOptions<RelayOptions>>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<TableWriteBehind>()));
        services.AddSingleton<IOrderContextStore>(sp => new TableOrderContextStore(
            Table(sp, o => o.OrdersTable), sp.GetRequiredService<IOptions<RelayOptions>>(), sp.GetRequiredService<TableWriteBehind>()));
        services.AddSingleton<IReadScopes>(sp => sp.GetRequiredService<TableWriteBehind>());
        services.AddSingleton(sp => new TableConsentStore(
            Table(sp, o => o.ConsentTable), Table(sp, o => o.LinksTable), sp.GetRequiredService<IOptions<RelayOptions>>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<TableWriteBehind>()));
        services.AddSingleton<IConsentStore>(sp => sp.GetRequiredService<TableConsentStore>());
        services.AddSingleton<ICheckpointStore>(sp => sp.GetRequiredService<TableConsentStore>());
        services.AddSingleton<IStoreUpgrade>(sp => sp.GetRequiredService<TableConsentStore>());
        services.AddSingleton<IIdentityLinkStore>(sp => new TableIdentityLinkStore(
            Table(sp, o => o.LinksTable), sp.GetRequiredService<IOptions<RelayOptions>>(), sp.GetRequiredService<TableWriteBehind>()));
        services.AddSingleton<IPushLease>(sp => new BlobPushLease(
            sp.GetRequiredService<BlobServiceClient>().GetBlobContainerClient(sp.GetRequiredService<IOptions<StorageOptions>>().Value.QuarantineContainer),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new BlobQuarantine(
            sp.GetRequiredService<BlobServiceClient>().GetBlobContainerClient(sp.GetRequiredService<IOptions<StorageOptions>>().Value.QuarantineContainer)));
        services.AddSingleton<IQuarantine>(sp => sp.GetRequiredService<BlobQuarantine>());
        services.AddSingleton<IQuarantineArchive>(sp => sp.GetRequiredService<BlobQuarantine>());
        return services;
    }

    private static TableClient Table(IServiceProvider services, Func<StorageOptions, string> name)
    {
        var tables = services.GetRequiredService<TableServiceClient>();
        var table = name(services.GetRequiredService<IOptions<StorageOptions>>().Value);
        try
        {
            // Not CreateTableIfNotExists: the "if not exists" calls serialize their request body by reflection, which the
            // native ctmp does not keep (docs/adr/0008); a create that finds the table is the same answer.
            tables.CreateTable(table);
        }
        catch (RequestFailedException ex) when (ex.Status == (int)HttpStatusCode.Conflict)
        {
            // It was there already: the usual case after the first start.
        }

        return tables.GetTableClient(table);
    }

    private static DefaultAzureCredential Credential(StorageOptions options) =>
        new(new DefaultAzureCredentialOptions { ManagedIdentityClientId = string.IsNullOrWhiteSpace(options.ManagedIdentityClientId) ? null : options.ManagedIdentityClientId });
}
