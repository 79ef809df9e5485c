using CsCheck;
using CtMparticle.Consent;
using CtMparticle.Delivery;
using CtMparticle.Identity;
using CtMparticle.Storage;
using CtMparticle.Tests.Support;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Identity;

/// <summary>
/// Applying links at push, on the shipped identity rules (config/identity-rules.json): which identities an event
/// travels with, given the links its identifiers have. Each case states a rule of the file and what it forbids.
/// </summary>
public sealed class IdentityResolverTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private static readonly ConsentDecision OptIn = Decision("gdpr-opt-in", ("analytics", true));

    private readonly List<IdentityLink> links = [];

    private static ConsentDecision Decision(string regime, params (string Purpose, bool Consented)[] purposes) =>
        new(ConsentVerdict.Allow, regime, null,
            new ConsentSnapshot(purposes.Where(p => p.Purpose != ConsentSnapshot.CcpaPurpose).ToDictionary(p => p.Purpose, p => new ConsentPurpose(p.Consented, At)),
                purposes.Where(p => p.Purpose == ConsentSnapshot.CcpaPurpose).Select(p => new ConsentPurpose(p.Consented, At)).FirstOrDefault()),
            "test");

    private void Link(string customer, string type, string value, LinkState state = LinkState.Active, int daysAgo = 1) =>
        links.Add(new IdentityLink(customer, type, value, Guid.NewGuid(), At.AddDays(-daysAgo), At.AddDays(-daysAgo), state, "2026-12-02.2"));

    private ResolvedIdentity Resolve(UserIds user, ConsentDecision? consent = null, IdentityRules? rules = null) =>
        new IdentityResolver(rules ?? EmbeddedRelay.IdentityRules).Resolve(user, At, consent ?? OptIn,
            (type, value) => links.Where(l => l.Type == type && l.Value == value).OrderBy(l => l.FirstSeen).ToArray());

    private static string[] Sent(ResolvedIdentity resolved) => [.. resolved.Choices.Where(c => c.Sent).Select(c => $"{c.Type}={c.Value}")];

    private static string[] Withheld(ResolvedIdentity resolved) => [.. resolved.Choices.Where(c => !c.Sent).Select(c => $"{c.Type}={c.Value}")];

    /// <summary>
    /// The push reads each customer's own links and only the identifiers whose link to the event's customer does not
    /// decide alone (<see cref="IdentityResolver.NeedingEveryLink"/>): over random links (shared identifiers, every
    /// state, old and recent, duplicates) and random users, that gives the same identities and the same reasons as
    /// reading every identifier's links.
    /// </summary>
    [Fact]
    public void ResolvingFromTheCustomersOwnLinks_DecidesAsReadingEveryIdentifiersLinks()
    {
        string[] customers = ["c-1", "c-2", "c-3"];
        string[] values = ["v-1", "v-2", "v-3"];
        string[] emails = ["a@example.com", "b@example.com"];
        (string Type, string[] Values)[] kinds =
        [
            (IdentifierTypes.AnonymousId, values), (IdentifierTypes.IosIdfv, values), (IdentifierTypes.EmailSha256, [.. emails.Select(Emails.Sha256Hex)]),
        ];
        var linkGen = Gen.Select(Gen.Int[0, 2], Gen.Int[0, 2], Gen.Int[0, 2], Gen.Enum<LinkState>(), Gen.Int[0, 400])
            .Select(p => new IdentityLink(customers[p.Item1], kinds[p.Item2].Type, kinds[p.Item2].Values[p.Item3 % kinds[p.Item2].Values.Length],
                Guid.Empty, At.AddDays(-p.Item5), At.AddDays(-p.Item5 / 2), p.Item4, "2026-12-02.2"));
        var userGen = Gen.Select(Gen.Int[0, 3], Gen.Int[0, 3], Gen.Int[0, 2], Gen.Int[0, 3])
            .Select(p => new UserIds(
                p.Item1 < 3 ? customers[p.Item1] : null,
                p.Item2 < 2 ? emails[p.Item2] : null,
                p.Item3 < 3 ? values[p.Item3] : null,
                Devices: p.Item4 < 3 ? new DeviceIds(IosVendorId: values[p.Item4]) : null));
        ConsentDecision[] consents = [OptIn, Decision("gdpr-opt-in", ("analytics", false)), Decision("ccpa", (ConsentSnapshot.CcpaPurpose, true))];
        var resolver = new IdentityResolver(EmbeddedRelay.IdentityRules);

        Gen.Select(linkGen.Array[0, 14], userGen, Gen.Int[0, 2]).Sample(p =>
        {
            var (generated, user, c) = p;
            var stored = generated.DistinctBy(l => (l.CustomerId, l.Type, l.Value)).OrderBy(l => l.FirstSeen).ThenBy(l => l.CustomerId, StringComparer.Ordinal).ToArray();
            IReadOnlyList<IdentityLink> Every(string type, string value) => [.. stored.Where(l => l.Type == type && l.Value == value)];
            var own = stored.Where(l => l.CustomerId == UserKeys.CustomerIdOf(user)).ToArray();
            var read = IdentityResolver.NeedingEveryLink(user, own).ToHashSet();

            var expected = resolver.Resolve(user, At, consents[c], Every);
            var candidate = resolver.Candidate(user, At, consents[c], Every); // an anonymous event's identifiers are all read
            var actual = resolver.Resolve(user, consents[c], IdentityResolver.LinksFor(user, own, (t, v) => read.Contains((t, v)) ? Every(t, v) : null), candidate, null);

            Assert.Equal(expected.User, actual.User);
            Assert.Equal(expected.JoinedBy, actual.JoinedBy);
            Assert.Equal(expected.Choices, actual.Choices);
        }, iter: 20_000);
    }

    [Fact]
    public void AnonymousEventAfterSignIn_CarriesTheCustomerId_BesideItsAnonymousId()
    {
        Link("c-1", "anonymous_id", "a-phone");

        var resolved = Resolve(new UserIds(AnonymousId: "a-phone"));

        Assert.Equal(new UserIds("c-1", AnonymousId: "a-phone"), resolved.User);
        Assert.Equal("anonymous_id", resolved.JoinedBy);
        Assert.Contains("joined by its anonymous_id link", resolved.Choices[0].Rule, StringComparison.Ordinal);
        Assert.Equal(["customer_id=c-1", "anonymous_id=a-phone"], Sent(resolved));
    }

    [Fact]
    public void ACustomerWhoseOwnConsentRefuses_IsNotJoinedToTheBrowsersEvents_AndExplainSaysWhy()
    {
        Link("c-1", "anonymous_id", "a-phone");

        var resolved = new IdentityResolver(EmbeddedRelay.IdentityRules).Resolve(new UserIds(AnonymousId: "a-phone"), At, OptIn,
            (type, value) => links.Where(l => l.Type == type && l.Value == value).ToArray(), customer => customer == "c-1" ? "analytics refused" : null);

        Assert.Equal(new UserIds(AnonymousId: "a-phone"), resolved.User);
        Assert.Null(resolved.JoinedBy);
        Assert.Equal(new IdentityChoice("customer_id", "c-1", false, "not joined by its anonymous_id link: analytics refused"), resolved.Choices[0]);
    }

    [Fact]
    public void AnonymousEventWithoutLinks_TravelsAsItCame()
    {
        var user = new UserIds(AnonymousId: "a-new", SessionId: "s-1");

        var resolved = Resolve(user);

        Assert.Same(user, resolved.User);
        Assert.Null(resolved.JoinedBy);
        Assert.Empty(Withheld(resolved));
    }

    [Fact]
    public void FamilyTablet_ConflictedId_IsNeverSentBesideEitherCustomer_AndItsAnonymousEventsTravelAlone()
    {
        Link("c-parent", "anonymous_id", "a-tablet", LinkState.Conflicted, daysAgo: 2);
        Link("c-child", "anonymous_id", "a-tablet", LinkState.Conflicted);

        var parent = Resolve(new UserIds("c-parent", AnonymousId: "a-tablet"));
        var child = Resolve(new UserIds("c-child", AnonymousId: "a-tablet"));
        var anonymous = Resolve(new UserIds(AnonymousId: "a-tablet"));

        Assert.Equal(new UserIds("c-parent"), parent.User);
        Assert.Equal(new UserIds("c-child"), child.User);
        Assert.Contains("shared: seen with 2 customers", parent.Choices.Single(c => !c.Sent).Rule, StringComparison.Ordinal);
        Assert.Equal(new UserIds(AnonymousId: "a-tablet"), anonymous.User);
    }

    [Fact]
    public void AThirdCustomerOnASharedDevice_BeforeTheLinkStageMarksIt_IsAlreadyKeptApart()
    {
        Link("c-1", "ios_idfv", "TABLET-1");

        var resolved = Resolve(new UserIds("c-2", Devices: new DeviceIds(IosVendorId: "TABLET-1")));

        Assert.Equal(new UserIds("c-2"), resolved.User);
        Assert.Contains("also seen with 1 other customer", resolved.Choices.Single(c => !c.Sent).Rule, StringComparison.Ordinal);
    }

    [Fact]
    public void KeepFirstLinkOnConflict_TheFirstCustomerKeepsTheDevice_TheSecondGoesAlone()
    {
        var rules = EmbeddedRelay.IdentityRules with { KeepFirstLinkOnConflict = true };
        Link("c-first", "anonymous_id", "a-tablet", daysAgo: 3);
        Link("c-second", "anonymous_id", "a-tablet", LinkState.Conflicted);

        Assert.Equal(new UserIds("c-first", AnonymousId: "a-tablet"), Resolve(new UserIds("c-first", AnonymousId: "a-tablet"), rules: rules).User);
        Assert.Equal(new UserIds("c-second"), Resolve(new UserIds("c-second", AnonymousId: "a-tablet"), rules: rules).User);
        Assert.Equal("c-first", Resolve(new UserIds(AnonymousId: "a-tablet"), rules: rules).User.CustomerId);
    }

    [Theory]
    [InlineData("Revoked", "revoked")]
    [InlineData("Limited", "limited")]
    public void RevokedOrLimitedLink_NeitherJoinsNorTravelsBesideTheCustomer(string state, string said)
    {
        Link("c-1", "anonymous_id", "a-1", Enum.Parse<LinkState>(state));

        var beside = Resolve(new UserIds("c-1", AnonymousId: "a-1"));
        var alone = Resolve(new UserIds(AnonymousId: "a-1"));

        Assert.Equal(new UserIds("c-1"), beside.User);
        Assert.Contains(said, beside.Choices.Single(c => !c.Sent).Rule, StringComparison.Ordinal);
        Assert.Equal(new UserIds(AnonymousId: "a-1"), alone.User);
    }

    [Fact]
    public void ALinkLastSeenBeyondItsTypesLifetime_NoLongerJoins()
    {
        Link("c-1", "anonymous_id", "a-old", daysAgo: 91); // anonymous ids: 90 days

        Assert.Null(Resolve(new UserIds(AnonymousId: "a-old")).User.CustomerId);
    }

    [Fact]
    public void GuestOrderByEmail_JoinsTheAccountOnlyWhenTheRulesSaySo()
    {
        Link("c-1", "email_sha256", Emails.Sha256Hex("anna@shop.example"));
        var guest = new UserIds(Email: " Anna@Shop.Example ");

        var byDefault = Resolve(guest);
        var allowed = Resolve(guest, rules: EmbeddedRelay.IdentityRules with { LinkGuestOrdersByEmail = true });

        Assert.Null(byDefault.User.CustomerId);
        Assert.Equal("c-1", allowed.User.CustomerId);
        Assert.Equal(" Anna@Shop.Example ", allowed.User.Email);
        Assert.DoesNotContain(allowed.Choices, c => c.Value.Contains('@', StringComparison.Ordinal)); // e-mails only as their hash
    }

    [Fact]
    public void AdvertisingId_BesideACustomerId_NeedsAdvertisingConsentWhereTheRegimeIsOptIn()
    {
        var user = new UserIds("c-1", Devices: new DeviceIds(IosAdvertisingId: "IDFA-1", IosVendorId: "IDFV-1"));

        var without = Resolve(user);
        var with = Resolve(user, Decision("gdpr-opt-in", ("analytics", true), ("advertising", true)));
        var elsewhere = Resolve(user, Decision("none"));

        Assert.Equal(new DeviceIds(IosVendorId: "IDFV-1"), without.User.Devices);
        Assert.Contains("advertising-ids-need-advertising-consent", without.Choices.Single(c => !c.Sent).Rule, StringComparison.Ordinal);
        Assert.Equal(user, with.User);
        Assert.Equal(user, elsewhere.User);
    }

    [Fact]
    public void AdvertisingId_AfterASaleOptOut_NeverTravelsWithTheCustomerId_NorJoinsAnAnonymousEvent()
    {
        Link("c-1", "ios_idfa", "IDFA-1");
        var optedOut = Decision("ccpa-opt-out", (ConsentSnapshot.CcpaPurpose, true));

        Assert.Equal(new UserIds("c-1"), Resolve(new UserIds("c-1", Devices: new DeviceIds(IosAdvertisingId: "IDFA-1")), optedOut).User);
        Assert.Null(Resolve(new UserIds(Devices: new DeviceIds(IosAdvertisingId: "IDFA-1")), optedOut).User.CustomerId);
        Assert.Equal("c-1", Resolve(new UserIds(Devices: new DeviceIds(IosAdvertisingId: "IDFA-1")), Decision("ccpa-opt-out")).User.CustomerId);
    }

    [Fact]
    public void IdentifiersPointingAtDifferentCustomers_ThePriorityDecides_AndTheOtherIsWithheld()
    {
        Link("c-app", "ios_idfv", "IDFV-1");      // priority 2
        Link("c-web", "anonymous_id", "a-web");   // priority 4

        var resolved = Resolve(new UserIds(AnonymousId: "a-web", Devices: new DeviceIds(IosVendorId: "IDFV-1")));

        Assert.Equal(new UserIds("c-app", Devices: new DeviceIds(IosVendorId: "IDFV-1")), resolved.User);
        Assert.Equal(["anonymous_id=a-web"], Withheld(resolved));
    }

    [Fact]
    public void SameEventAndLinks_SameDecision_AndTheSameBatchBytes()
    {
        Link("c-1", "anonymous_id", "a-1");
        Link("c-2", "ios_idfv", "IDFV-2", LinkState.Conflicted);
        var user = new UserIds(AnonymousId: "a-1", Devices: new DeviceIds(IosVendorId: "IDFV-2"));
        var builder = new BatchBuilder(TestOptions.Mapping(), TestOptions.Routing());
        var context = new EventContext(Guid.Parse("6f1c7c1e-0d3a-4b6e-9a51-0c1b2d3e4f50"), "web/segment/m-1", At, EventSource.Storefront, "m-1", "acme-de", new Region("DE"), user);
        byte[] Bytes(ResolvedIdentity r) => ((BuiltBatch)builder.Build(new SignedIn(context with { User = r.User }, "password"))).Json;

        var first = Resolve(user);
        var second = Resolve(user);

        Assert.Equal(first.Choices, second.Choices);
        Assert.Equal(Bytes(first), Bytes(second));
        Assert.Equal(new UserIds("c-1", AnonymousId: "a-1"), first.User); // the shared device's id stays out
    }
}
