using CtMparticle.Configuration;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using CtMparticle.Tests.Support;

namespace CtMparticle.Tests.Identity;

/// <summary>Identity links through the commercetools source on the embedded store: a deleted customer is forgotten.</summary>
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
        var job = new RetentionJob(relay.Store, relay.Store, Microsoft.Extensions.Options.Options.Create(new RelayOptions()), relay.Time,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<RetentionJob>.Instance);

        await job.RunAsync(default); // the default: 395 days

        Assert.Equal(["a-fresh"], (await relay.Store.ByCustomerAsync("c-1", default)).Select(l => l.Value).ToArray());
    }
}
