using System.Diagnostics.Metrics;
using CtMparticle.Configuration;
using CtMparticle.Consent;
using CtMparticle.Embedded;
using CtMparticle.Governance;
using CtMparticle.Identity;
using CtMparticle.Pipeline;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace CtMparticle.Tests.Support;

/// <summary>
/// The ingest pipeline put together by hand, without a host: the commercetools source (API not configured, so it
/// never opens a connection), the bundled consent rules, over the embedded store (a SQLite file and a quarantine
/// folder in a temporary directory) on a fake clock.
/// </summary>
internal sealed class EmbeddedRelay : IDisposable
{
    public static readonly DateTimeOffset Now = new(2026, 11, 27, 10, 0, 0, TimeSpan.Zero);

    private readonly TestMeterFactory meters = new();
    private readonly SocketsHttpHandler handler = new();
    private readonly CommercetoolsSession session = new();

    public EmbeddedRelay()
    {
        Folder = Directory.CreateTempSubdirectory("ctmp-stages-").FullName;
        Store = SqliteStore.Open(Path.Combine(Folder, "state.db"), Time);
        Quarantine = new FolderQuarantine(Path.Combine(Folder, "quarantine"));
    }

    public FakeTimeProvider Time { get; } = new(Now);

    public string Folder { get; }

    public SqliteStore Store { get; }

    public FolderQuarantine Quarantine { get; }

    /// <summary>The relay's metrics on this harness's own meters.</summary>
    public RelayMetrics Metrics => metrics ??= new RelayMetrics(meters);

    private RelayMetrics? metrics;

    public static ConsentRules Rules { get; } =
        ConsentRules.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "config", "consent-rules.json")), "consent-rules.json").Rules!;

    public static IdentityRules IdentityRules { get; } =
        IdentityRules.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "config", "identity-rules.json")), "identity-rules.json").Rules!;

    public CommercetoolsSource Source(MappingOptions? mapping = null)
    {
        var mapper = TestOptions.Mapper(mapping);
        var client = new CommercetoolsClient(new HttpClient(handler, disposeHandler: false), session, Options.Create(new CommercetoolsOptions()),
            new ConfigurationBuilder().Build(), Time, NullLogger<CommercetoolsClient>.Instance);
        return new CommercetoolsSource(mapper, new CommercetoolsResolver(mapper, Store, client, Time));
    }

    public IngestPipeline Pipeline(MappingOptions? mapping = null, PlanGovernor? governor = null)
    {
        return new IngestPipeline(
            Source(mapping),
            new ConsentStage(Store, Rules, Options.Create(TestOptions.Routing()), NullLogger<ConsentStage>.Instance),
            new GovernStage(governor ?? PlanGovernor.Disabled(TestOptions.Builder(mapping)), Metrics, NullLogger<GovernStage>.Instance),
            new StoreStage(Store, Store, Quarantine, Metrics, NullLogger<StoreStage>.Instance),
            Time,
            new IdentityStage(IdentityRules, Metrics, NullLogger<IdentityStage>.Instance),
            new LinkStage(Store, IdentityRules, Metrics, NullLogger<LinkStage>.Instance),
            Metrics);
    }

    public void Dispose()
    {
        Store.Dispose();
        meters.Dispose();
        handler.Dispose();
        session.Dispose();
        Directory.Delete(Folder, recursive: true);
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> created = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options);
            created.Add(meter);
            return meter;
        }

        public void Dispose() => created.ForEach(m => m.Dispose());
    }
}
