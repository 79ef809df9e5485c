using System.Globalization;
using System.Reflection;
using CtMparticle.Configuration;
using CtMparticle.Delivery;
using CtMparticle.Embedded;
using CtMparticle.Embedded.Log;
using CtMparticle.Hosting;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace CtMparticle.Tool;

/// <summary>How a command wants the relay wired.</summary>
internal sealed record RunnerOptions(
    FileInfo? SettingsFile,
    DirectoryInfo Store,
    DirectoryInfo? DryRunOutput,
    bool AzureStorage = false,
    bool Verbose = false,
    Uri? Otlp = null,
    StoreFormat NewStoreFormat = EmbeddedStore.DefaultFormat,
    TimeProvider? Time = null);

/// <summary>
/// The relay as the runner uses it: the same registration as the function app, on the embedded store (a SQLite file,
/// or the state log, and the quarantine folder under <c>--store</c>) or on Azure Tables/Blobs, sending to mParticle or, with
/// <c>--dry-run</c>, writing request bodies to a folder.
/// </summary>
internal sealed class RunnerHost : IAsyncDisposable
{
    private readonly ServiceProvider services;

    private RunnerHost(ServiceProvider services, RunnerOptions options)
    {
        this.services = services;
        Options = options;
    }

    public RunnerOptions Options { get; }

    private IngestPipeline? ingest;

    /// <summary>One pipeline for the run (the run is short; its HttpClient handlers need no rotation).</summary>
    public IngestPipeline Ingest => ingest ??= services.GetRequiredService<IngestPipeline>();

    public PushPipeline Push => services.GetRequiredService<PushPipeline>();

    public IEventStore Events => services.GetRequiredService<IEventStore>();

    public IEmbeddedStore? Embedded => services.GetService<IEmbeddedStore>();

    /// <summary>
    /// At the end of a run: compacts a log store that has doubled since its last compaction (<see cref="LogStore.ShouldCompact"/>)
    /// and closes it, or does nothing (null). Nothing may use the store after it compacted.
    /// </summary>
    public (LogCompactionResult Result, TimeSpan Took)? CompactIfGrown(TimeProvider time)
    {
        if (Embedded is not LogStore { ShouldCompact: true } log)
        {
            return null;
        }

        var started = time.GetTimestamp();
        var result = log.CompactAndClose();
        return (result, time.GetElapsedTime(started));
    }

    /// <summary>A line for the run's summary about a compaction <see cref="CompactIfGrown"/> did.</summary>
    public static string Describe((LogCompactionResult Result, TimeSpan Took) compaction) => string.Create(CultureInfo.InvariantCulture,
        $"log compacted (it had doubled since its last compaction): {compaction.Result.RecordsKept:N0} of {compaction.Result.RecordsBefore:N0} records kept, {Megabytes(compaction.Result.BytesBefore):N0} MB to {Megabytes(compaction.Result.BytesAfter):N0} MB, in {compaction.Took.TotalSeconds:N1} s");

    /// <summary>Bytes in mebibytes, for the summaries.</summary>
    public static double Megabytes(long bytes) => bytes / (1024.0 * 1024.0);

    public FolderQuarantine? Quarantine => services.GetService<FolderQuarantine>();

    /// <summary>The embedded store's quarantine as the ingest writes it: behind the run's writer while a batch is open.</summary>
    public WriteBehindQuarantine? QuarantineBehind => services.GetService<WriteBehindQuarantine>();

    public DryRunEventsApi? DryRun => services.GetService<DryRunEventsApi>();

    public IConfiguration Configuration => services.GetRequiredService<IConfiguration>();

    public T Get<T>() where T : notnull => services.GetRequiredService<T>();

    public IServiceProvider Services => services;

    public static string DatabasePath(DirectoryInfo store) => EmbeddedStore.SqlitePath(store.FullName);

    public static string QuarantinePath(DirectoryInfo store) => Path.Combine(store.FullName, "quarantine");

    /// <summary>Builds and validates everything; a bad setting throws <see cref="OptionsValidationException"/> naming it.</summary>
    public static RunnerHost Create(RunnerOptions options)
    {
        var configuration = Settings(options.SettingsFile);
        var services = new ServiceCollection()
            .AddSingleton(configuration)
            .AddLogging(logging => logging
                .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace) // logs to stderr; stdout is the summary
                .AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss "; })
                .AddFilter("CtMparticle", options.Verbose ? LogLevel.Information : LogLevel.Warning)
                .AddFilter("System.Net.Http", LogLevel.Warning)
                .AddFilter("Microsoft", LogLevel.Warning))
            .AddCtMparticleRelay(configuration);

        if (options.Time is { } time)
        {
            // Tests age a store: what it records is stamped with this clock, and retention measures against it.
            services.RemoveAll<TimeProvider>();
            services.AddSingleton(time);
        }

        if (!options.Verbose)
        {
            // Without --verbose the console leaves out the per-event warnings (the report counts them; DecisionLogFilter).
            var console = services.Single(d => d.ServiceType == typeof(ILoggerProvider) && d.ImplementationType == typeof(ConsoleLoggerProvider));
            services.Remove(console);
            services.AddSingleton<ILoggerProvider>(sp => new DecisionLogFilter(ActivatorUtilities.CreateInstance<ConsoleLoggerProvider>(sp)));
        }

        if (options.AzureStorage)
        {
            services.AddCtMparticleAzureStorage(configuration);
        }
        else
        {
            options.Store.Create();
            services.AddSingleton(sp => EmbeddedStore.Open(options.Store.FullName, sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<IOptions<RelayOptions>>().Value.Partitions, options.NewStoreFormat));
            services.AddSingleton(sp => sp.GetRequiredService<IEmbeddedStore>().Events);
            services.AddSingleton(sp => sp.GetRequiredService<IEmbeddedStore>().Orders);
            services.AddSingleton(sp => sp.GetRequiredService<IEmbeddedStore>().Consent);
            services.AddSingleton(sp => sp.GetRequiredService<IEmbeddedStore>().Checkpoints);
            services.AddSingleton(sp => sp.GetRequiredService<IEmbeddedStore>().Links);
            services.AddSingleton<IPushLease>(_ => new FilePushLease(options.Store.FullName));
            services.AddSingleton(_ => new FolderQuarantine(QuarantinePath(options.Store)));
            services.AddSingleton(sp => new WriteBehindQuarantine(sp.GetRequiredService<FolderQuarantine>()));
            services.AddSingleton<IQuarantine>(sp => sp.GetRequiredService<WriteBehindQuarantine>());
            services.AddSingleton<IQuarantineArchive>(sp => sp.GetRequiredService<FolderQuarantine>());
        }

        // The runner prepares inputs ahead of the writer; the order-context store tells it when one must be prepared again.
        var orders = services.Last(d => d.ServiceType == typeof(IOrderContextStore));
        services.Remove(orders);
        services.AddSingleton(sp => new OrderContextWatch((IOrderContextStore)(orders.ImplementationFactory?.Invoke(sp)
            ?? orders.ImplementationInstance ?? ActivatorUtilities.CreateInstance(sp, orders.ImplementationType!))));
        services.AddSingleton<IOrderContextStore>(sp => sp.GetRequiredService<OrderContextWatch>());

        if (options.Otlp is { } otlp)
        {
            // The same logs, metrics and spans the function app sends to Application Insights, to an OTLP endpoint.
            services.AddRelayTelemetry(new TelemetryExport(OtlpEndpoint: otlp));
        }

        if (options.DryRunOutput is { } output)
        {
            services.AddSingleton(new DryRunEventsApi(output));
            services.RemoveAll<IEventsApi>();
            services.AddSingleton<IEventsApi>(sp => sp.GetRequiredService<DryRunEventsApi>());
        }

        var provider = services.BuildServiceProvider();
        _ = provider.GetService<OpenTelemetry.Metrics.MeterProvider>(); // started here (no generic host starts them); disposing the provider flushes them
        _ = provider.GetService<OpenTelemetry.Trace.TracerProvider>();
        _ = provider.GetRequiredService<IOptions<MappingOptions>>().Value;
        _ = provider.GetRequiredService<IOptions<MParticleOptions>>().Value;
        _ = provider.GetRequiredService<IOptions<RelayOptions>>().Value;
        _ = provider.GetRequiredService<IOptions<PushOptions>>().Value;
        if (options.AzureStorage)
        {
            _ = provider.GetRequiredService<IOptions<StorageOptions>>().Value;
            // The layout is checked, never upgraded, here: ctmp also inspects a store an older function app still runs on
            // (the stores read both layouts until the function app's start moves what it left).
            StoreLayout.EnsureAsync(provider.GetRequiredService<ICheckpointStore>(), provider.GetRequiredService<IOptions<RelayOptions>>().Value.Partitions, CancellationToken.None)
                .GetAwaiter().GetResult();
        }
        else
        {
            _ = provider.GetRequiredService<IEmbeddedStore>(); // opening it checks the store's layout against Relay:Partitions
        }

        return new RunnerHost(provider, options);
    }

    /// <summary>The embedded default or --settings FILE, then CTMP_* environment variables (CTMP_Mapping__Environment=production).</summary>
    public static IConfiguration Settings(FileInfo? settingsFile)
    {
        var builder = new ConfigurationBuilder();
        if (settingsFile is not null)
        {
            // A settings file replaces the embedded default whole (lists such as MParticle:Stores would otherwise merge by index).
            builder.AddJsonFile(settingsFile.FullName, optional: false);
        }
        else
        {
            using var embedded = Assembly.GetExecutingAssembly().GetManifestResourceStream("ctmp.settings.json")
                ?? throw new InvalidOperationException("The embedded default settings are missing from this build.");
            var defaults = new MemoryStream();
            embedded.CopyTo(defaults);
            defaults.Position = 0;
            builder.AddJsonStream(defaults);
        }

        builder.AddEnvironmentVariables("CTMP_");
        return builder.Build();
    }

    public async ValueTask DisposeAsync() => await services.DisposeAsync().ConfigureAwait(false);
}
