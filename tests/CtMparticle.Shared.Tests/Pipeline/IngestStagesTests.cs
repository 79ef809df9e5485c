using System.Text;
using CtMparticle.Configuration;
using CtMparticle.Embedded;
using CtMparticle.Governance;
using CtMparticle.Pipeline;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Tests.Support;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Pipeline;

/// <summary>
/// The ingest stages without a host: the commercetools source's pure decode and map, and the whole pipeline put
/// together by hand over the embedded store (SQLite file and quarantine folder) on a fake clock.
/// </summary>
public sealed class IngestStagesTests : IDisposable
{
    private static readonly DateTimeOffset Now = EmbeddedRelay.Now;
    private readonly EmbeddedRelay relay = new();

    private string Folder => relay.Folder;

    private SqliteStore Store => relay.Store;

    public void Dispose() => relay.Dispose();

    private CommercetoolsSource Source(MappingOptions? mapping = null) => relay.Source(mapping);

    private IngestPipeline Pipeline(MappingOptions? mapping = null, PlanGovernor? governor = null) => relay.Pipeline(mapping, governor);

    [Theory]
    [InlineData(Samples.OrderCreatedRegistered)]
    [InlineData(Samples.CustomerCreated)]
    [InlineData(Samples.CloudEventsConsent)]
    [InlineData(Samples.PayloadNotIncluded)]
    [InlineData(Samples.CartChange)]
    public void Decode_EverySampleThatIsADelivery_GoesOnWithItsIds(string sample)
    {
        var decoded = Source().Decode(new Inbound(Samples.Bytes(sample)));

        Assert.Null(decoded.Halt);
        Assert.NotNull(decoded.Value);
        Assert.False(string.IsNullOrEmpty(decoded.Info.ResourceId)); // change notifications carry no message id
    }

    [Fact]
    public void Decode_NotJson_HaltsToQuarantineAtDecodeAndLaterStagesPassTheHaltOn()
    {
        var source = Source();
        var decoded = source.Decode(new Inbound(Encoding.UTF8.GetBytes("{\"notificationType\": ")));

        var reject = Assert.IsType<Reject>(decoded.Halt);
        Assert.Equal(("decode", "malformed_json"), (reject.Stage, reject.Reason.Code()));
        Assert.Same(reject, source.Map(decoded).Halt);
    }

    [Fact]
    public async Task ResolveAndMap_FollowUpWithoutItsOrder_QuarantinesAtMapWhenCommercetoolsIsNotConfigured()
    {
        var source = Source();
        var resolved = await source.ResolveAsync(source.Decode(new Inbound(Samples.Bytes(Samples.OrderStateChanged))), default);

        var mapped = source.Map(resolved);

        var reject = Assert.IsType<Reject>(mapped.Halt);
        Assert.Equal(("map", "order_context_missing"), (reject.Stage, reject.Reason.Code()));
    }

    [Fact]
    public async Task ResolveAndMap_OrderCreated_GivesThePurchaseAndTheContextItsFollowUpsNeed()
    {
        var source = Source();
        var mapped = source.Map(await source.ResolveAsync(source.Decode(new Inbound(Samples.Bytes(Samples.OrderCreatedRegistered))), default));

        var purchase = Assert.IsType<OrderCompleted>(Assert.Single(mapped.Value!.Events));
        Assert.Equal(purchase.OrderId, mapped.Value.OrderContext!.OrderId);
    }

    [Fact]
    public async Task Ingest_OrderThenItsStatusChange_BothStoredOnTheEmbeddedStore()
    {
        var pipeline = Pipeline();

        var order = await pipeline.IngestAsync(new Inbound(Samples.Bytes(Samples.OrderCreatedRegistered)), default);
        var status = await pipeline.IngestAsync(new Inbound(Samples.Bytes(Samples.OrderStateChanged)), default);
        var again = await pipeline.IngestAsync(new Inbound(Samples.Bytes(Samples.OrderCreatedRegistered)), default);

        Assert.Equal(IngestOutcomeKind.Accepted, order.Kind);
        Assert.Equal(IngestOutcomeKind.Accepted, status.Kind); // the order's context was stored first
        Assert.Equal(IngestOutcomeKind.Accepted, again.Kind);  // the same message again keeps its outcome
        Assert.Equal(2, (await Store.ReadPendingAsync(10, default)).Count);
    }

    [Fact]
    public async Task Ingest_GarbageBody_IsQuarantinedWithTheOriginalBytesAndReceivedTime()
    {
        var body = Encoding.UTF8.GetBytes("not json at all");

        var outcome = await Pipeline().IngestAsync(new Inbound(body, "sb-1", 2), default);

        Assert.Equal((IngestOutcomeKind.Quarantined, "malformed_json"), (outcome.Kind, outcome.Reason));
        var file = Directory.GetFiles(Path.Combine(Folder, "quarantine"), "*.json", SearchOption.AllDirectories).Single();
        var record = System.Text.Json.JsonSerializer.Deserialize(File.ReadAllBytes(file), CtMparticle.Storage.RelayJsonContext.Default.QuarantineRecord)!;
        Assert.Equal(body, Convert.FromBase64String(record.PayloadBase64));
        Assert.Equal(("sb-1", 2, Now), (record.Source.ServiceBusMessageId, record.Source.DeliveryCount, record.Source.ReceivedAt));
    }

    [Fact]
    public async Task Ingest_BrokenOrderInAnOptInRegionWithoutConsent_IsQuarantinedNotFilteredForConsent()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["lineItems"]![0]!["quantity"] = -2;
        json["order"]!.AsObject().Remove("custom"); // no checkout consent: a valid order here would be consent_not_given

        var outcome = await Pipeline().IngestAsync(new Inbound(Samples.Bytes(json)), default);

        Assert.Equal((IngestOutcomeKind.Quarantined, "invalid_quantity"), (outcome.Kind, outcome.Reason));
        Assert.Contains("/map-", outcome.QuarantineLocation, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Store_ASiblingBlockedByThePlan_IsQuarantinedWhileTheOthersAreStored()
    {
        var stage = new StoreStage(Store, Store, relay.Quarantine, relay.Metrics, Microsoft.Extensions.Logging.Abstractions.NullLogger<StoreStage>.Instance);
        var kept = new SignedIn(new EventContext(Uuid5.ForEvent("sibling-ok"), "sibling-ok", Now, EventSource.Commercetools, "m-1", null, null, new UserIds("c-1")), "password");
        var blocked = new GovernanceDecision(true, [], "an attribute the plan does not list");
        var info = new InputInfo("Platform", "m-1", "ReturnInfoAdded", "order", "o-1");
        var governed = Flow<GovernedEvents>.Go(info, new GovernedEvents([kept], new Dictionary<Guid, GovernanceDecision>(), [blocked], [], 0, null, null));

        var outcome = await stage.SettleAsync(new Inbound("{\"id\":\"m-1\"}"u8.ToArray()), governed, Now, default);
        var again = await stage.SettleAsync(new Inbound("{\"id\":\"m-1\"}"u8.ToArray()), governed, Now, default); // a redelivery

        Assert.Equal((IngestOutcomeKind.Accepted, 1), (outcome.Kind, outcome.EventsStored));
        Assert.Contains("quarantined at", outcome.Detail, StringComparison.Ordinal);
        Assert.Equal(IngestOutcomeKind.Accepted, again.Kind);
        var (_, record) = Assert.Single(relay.Quarantine.List()); // one record per message and stage, rewritten, not doubled
        Assert.Equal(("govern", "plan_violation"), (record.Stage, record.Reasons[0]));
    }

    [Fact]
    public async Task Ingest_UnplannedAttributeUnderABlockingPolicy_IsQuarantinedAtGovern()
    {
        var mapping = new MappingOptions { Environment = "production", DefaultLocale = "en", UserAttributeFields = ["loyaltyTier"] };
        var (governor, problems) = PlanGovernor.Load(Path.Combine(AppContext.BaseDirectory, "config", "plans", "policies.json"), mapping, TestOptions.Builder(mapping));
        Assert.Empty(problems);
        var pipeline = Pipeline(mapping, governor);
        await pipeline.IngestAsync(new Inbound(Samples.Bytes(Samples.CustomerCreated)), default);
        var change = Samples.Json(Samples.CloudEventsConsent)["data"]!.AsObject();
        change["name"] = "loyaltyTier";
        change["value"] = "gold";

        var outcome = await pipeline.IngestAsync(new Inbound(Samples.Bytes(change)), default);

        Assert.Equal((IngestOutcomeKind.Quarantined, "plan_violation"), (outcome.Kind, outcome.Reason));
        Assert.Contains("/govern-", outcome.QuarantineLocation, StringComparison.Ordinal);
    }
}
