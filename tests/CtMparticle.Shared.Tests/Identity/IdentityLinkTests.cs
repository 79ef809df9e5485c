using CtMparticle.Configuration;
using CtMparticle.Identity;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using CtMparticle.Tests.Support;
using CtMparticle.Tracking;
using Microsoft.Extensions.Logging.Abstractions;

namespace CtMparticle.Tests.Identity;

/// <summary>
/// Identity links as the link stage records them on the embedded store, under the shipped rules: a deleted customer
/// is forgotten, a changed e-mail ends the old one's link, a customer who gains too many ids is limited, an alias links.
/// </summary>
public sealed class IdentityLinkTests
{
    private static IdentityLink Link(string customer, string type, string value) =>
        new(customer, type, value, Guid.NewGuid(), EmbeddedRelay.Now, EmbeddedRelay.Now, LinkState.Active, "2026-12-02");

    [Fact]
    public async Task CustomerDeleted_ForgetsEveryLinkOfTheCustomer_AndOnlyTheirs()
    {
        using var relay = new EmbeddedRelay();
        var json = Samples.Json(Samples.CustomerEmailChanged);
        json["type"] = "CustomerDeleted";
        var customer = (string)json["resource"]!["id"]!;
        await relay.Store.RecordAsync(Link(customer, "anonymous_id", "a-shared"), default);
        await relay.Store.RecordAsync(Link(customer, "email_sha256", "e-1"), default);
        await relay.Store.RecordAsync(Link("c-other", "anonymous_id", "a-shared"), default);

        var outcome = await relay.Pipeline().IngestAsync(new Inbound(Samples.Bytes(json)), default);
        var again = await relay.Pipeline().IngestAsync(new Inbound(Samples.Bytes(json)), default); // a redelivery

        Assert.Equal((IngestOutcomeKind.Filtered, "customer_deletion"), (outcome.Kind, outcome.Reason));
        Assert.Equal(IngestOutcomeKind.Filtered, again.Kind);
        Assert.Empty(await relay.Store.ByCustomerAsync(customer, default));
        Assert.Equal("c-other", Assert.Single(await relay.Store.ByIdentifierAsync("anonymous_id", "a-shared", default)).CustomerId);
    }

    [Fact]
    public async Task Retention_ForgetsLinksNotSeenForTheConfiguredDays()
    {
        using var relay = new EmbeddedRelay();
        await relay.Store.RecordAsync(Link("c-1", "anonymous_id", "a-stale") with { LastSeen = EmbeddedRelay.Now.AddDays(-400), FirstSeen = EmbeddedRelay.Now.AddDays(-400) }, default);
        await relay.Store.RecordAsync(Link("c-1", "anonymous_id", "a-fresh"), default);
        var job = new RetentionJob(relay.Store, relay.Store, relay.Store, relay.Store, Microsoft.Extensions.Options.Options.Create(new RelayOptions()), relay.Time,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<RetentionJob>.Instance);

        await job.RunAsync(default); // the default: 395 days

        Assert.Equal(["a-fresh"], (await relay.Store.ByCustomerAsync("c-1", default)).Select(l => l.Value).ToArray());
    }

    private static LinkStage Stage(EmbeddedRelay relay) => new(relay.Store, EmbeddedRelay.IdentityRules, relay.Metrics, NullLogger<LinkStage>.Instance);

    private static Flow<GovernedEvents> Allowed(params TrackingEvent[] events) =>
        Flow<GovernedEvents>.Go(new InputInfo("test", "m", null, null, null),
            new GovernedEvents(events, new Dictionary<Guid, CtMparticle.Governance.GovernanceDecision>(), [], [], 0, null, null));

    private static SignedIn SignIn(string customer, string anonymousId, DateTimeOffset at) =>
        new(new EventContext(Guid.NewGuid(), "k-" + anonymousId, at, EventSource.Storefront, null, null, null, new UserIds(customer, AnonymousId: anonymousId)));

    [Fact]
    public async Task EmailChange_EndsTheOldAddressLink_AndAnOlderChangeArrivingLate_EndsNothingNewer()
    {
        using var relay = new EmbeddedRelay();
        var created = await relay.Pipeline().IngestAsync(new Inbound(Samples.Bytes(Samples.Json(Samples.CustomerCreated))), default);
        var changed = await relay.Pipeline().IngestAsync(new Inbound(Samples.Bytes(Samples.Json(Samples.CustomerEmailChanged))), default);
        var customer = (string)Samples.Json(Samples.CustomerCreated)["resource"]!["id"]!;
        // A change from before the sign-up's address was last seen, delivered late: it must not end the newer one.
        var late = Samples.Json(Samples.CustomerEmailChanged);
        late["id"] = Guid.NewGuid().ToString();
        late["email"] = "anna.old@example.org";
        late["createdAt"] = "2025-01-01T00:00:00Z";
        await relay.Pipeline().IngestAsync(new Inbound(Samples.Bytes(late)), default);

        Assert.Equal((IngestOutcomeKind.Accepted, IngestOutcomeKind.Accepted), (created.Kind, changed.Kind));
        var links = await relay.Store.ByCustomerAsync(customer, default);
        Assert.Equal(LinkState.Revoked, links.Single(l => l.Value == Emails.Sha256Hex("anna.schmidt@example.com")).State);
        Assert.Equal(LinkState.Active, links.Single(l => l.Value == Emails.Sha256Hex("anna.s@example.org")).State);
        Assert.Equal(LinkState.Active, links.Single(l => l.Type == "anonymous_id").State); // the sign-up's anonymous session stays linked
    }

    [Fact]
    public async Task ALinkSeenAgain_MovesItsLastSighting_AndIsCheckedForSharingAgainOnlyUnderNewRules()
    {
        using var relay = new EmbeddedRelay();
        // Rules that let two customers share a device id, then the shipped ones (one customer per identifier).
        var loose = EmbeddedRelay.IdentityRules with { Version = "loose-1", MaxCustomersPerIdentifier = 2 };
        var underLoose = new LinkStage(relay.Store, loose, relay.Metrics, NullLogger<LinkStage>.Instance);
        var start = EmbeddedRelay.Now;
        await underLoose.RecordAsync(Allowed(SignIn("c-parent", "a-tablet", start)), default);
        await underLoose.RecordAsync(Allowed(SignIn("c-child", "a-tablet", start.AddHours(1))), default);

        await underLoose.RecordAsync(Allowed(SignIn("c-parent", "a-tablet", start.AddDays(2))), default); // seen again, same rules
        var shared = await relay.Store.ByIdentifierAsync("anonymous_id", "a-tablet", default);
        Assert.All(shared, l => Assert.Equal(LinkState.Active, l.State));
        Assert.Equal(start.AddDays(2), shared.Single(l => l.CustomerId == "c-parent").LastSeen);
        Assert.Equal(start, shared.Single(l => l.CustomerId == "c-parent").FirstSeen);

        await Stage(relay).RecordAsync(Allowed(SignIn("c-parent", "a-tablet", start.AddDays(3))), default); // seen again under the shipped rules
        shared = await relay.Store.ByIdentifierAsync("anonymous_id", "a-tablet", default);
        Assert.All(shared, l => Assert.Equal((LinkState.Conflicted, EmbeddedRelay.IdentityRules.Version), (l.State, l.RulesVersion)));
        Assert.Equal(start.AddDays(3), shared.Single(l => l.CustomerId == "c-parent").LastSeen);
    }

    [Fact]
    public async Task ACustomerGainingMoreAnonymousIdsInAWeekThanTheRulesAllow_GetsTheExtraOnesLimited()
    {
        using var relay = new EmbeddedRelay();
        var stage = Stage(relay);
        var start = EmbeddedRelay.Now;
        for (var i = 0; i < 21; i++) // the rules: 20 anonymous ids in 7 days
        {
            await stage.RecordAsync(Allowed(SignIn("c-script", "a-" + i, start.AddHours(i))), default);
        }

        await stage.RecordAsync(Allowed(SignIn("c-script", "a-later", start.AddDays(8))), default);
        await stage.RecordAsync(Allowed(SignIn("c-script", "a-20", start.AddDays(9))), default); // seen again: still limited

        var links = (await relay.Store.ByCustomerAsync("c-script", default)).ToDictionary(l => l.Value, l => l.State);
        Assert.Equal(20, links.Count(l => l.Key != "a-later" && l.Value == LinkState.Active));
        Assert.Equal(LinkState.Limited, links["a-20"]);
        Assert.Equal(LinkState.Active, links["a-later"]); // outside the window
    }

    [Fact]
    public async Task AnAliasCall_LinksItsPreviousIdToTheCustomer_ButNotAPlaceholder()
    {
        using var relay = new EmbeddedRelay();
        var stage = Stage(relay);
        EventContext Alias(string previous) => new(Guid.NewGuid(), "web/segment/alias-" + previous, EmbeddedRelay.Now, EventSource.Storefront, "alias-" + previous, null, null,
            new UserIds("c-1", AnonymousId: previous));

        await stage.RecordAsync(Flow<GovernedEvents>.Stop(new InputInfo("segment", "alias-1", null, null, null), new Filter(Reason.IdentityOnly, "alias") { Aliases = Alias("a-before-signup") }), default);
        await stage.RecordAsync(Flow<GovernedEvents>.Stop(new InputInfo("segment", "alias-2", null, null, null), new Filter(Reason.IdentityOnly, "alias") { Aliases = Alias("undefined") }), default);

        Assert.Equal(["a-before-signup"], (await relay.Store.ByCustomerAsync("c-1", default)).Select(l => l.Value).ToArray());
    }

    [Fact]
    public async Task ADuplicateOfAPurchase_StillLinksTheIdentifiersItShows()
    {
        using var relay = new EmbeddedRelay();
        var second = Samples.Json(Samples.OrderCreatedRegistered);
        second["id"] = "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f";
        second["type"] = "OrderImported";
        second["order"]!["anonymousId"] = "a-browser"; // the copy that knows the browser: same purchase, more identifiers
        var customer = (string)second["order"]!["customerId"]!;

        await relay.Pipeline().IngestAsync(new Inbound(Samples.Bytes(Samples.Json(Samples.OrderCreatedRegistered))), default);
        var duplicate = await relay.Pipeline().IngestAsync(new Inbound(Samples.Bytes(second)), default);

        Assert.Equal(IngestOutcomeKind.Duplicate, duplicate.Kind);
        Assert.Equal(customer, Assert.Single(await relay.Store.ByIdentifierAsync("anonymous_id", "a-browser", default)).CustomerId);
    }
}
