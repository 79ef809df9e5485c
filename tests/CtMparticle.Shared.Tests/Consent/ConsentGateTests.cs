using CtMparticle.Consent;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Consent;

/// <summary>The consent gate and the rules behind it, without a host or storage: pure decisions over records.</summary>
public sealed class ConsentGateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 9, 0, 0, TimeSpan.Zero);

    private static readonly ConsentRules Rules = new(
        "test",
        [
            new ConsentRegime("gdpr", ConsentMode.OptIn, ["DE", "GB"], ["analytics"]),
            new ConsentRegime("ccpa", ConsentMode.OptOut, ["US-CA"], [ConsentSnapshot.CcpaPurpose]),
            new ConsentRegime("none", ConsentMode.None, [], []),
        ],
        DefaultRegime: "none",
        UnknownRegionRegime: "gdpr");

    private static SignedIn Event(Region? region, ConsentSnapshot? consent = null) =>
        new(new EventContext(Guid.NewGuid(), "k", T0, EventSource.Storefront, null, null, region, new UserIds("c-1"), consent), "password");

    private static ConsentSnapshot Gdpr(string purpose, bool consented, DateTimeOffset at) =>
        new(new Dictionary<string, ConsentPurpose> { [purpose] = new(consented, at) });

    [Fact]
    public void Decide_OptInRegionWithoutConsent_Blocks()
    {
        var decision = ConsentGate.Decide(Event(new Region("DE")), null, Rules, null);

        Assert.False(decision.Allowed);
        Assert.Equal("gdpr", decision.Regime);
        Assert.Contains("analytics", decision.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_OptInRegionWithStoredConsent_Allows()
    {
        var stored = new UserConsent(Gdpr("analytics", true, T0), new Region("DE"), T0);

        var decision = ConsentGate.Decide(Event(null), stored, Rules, null);

        Assert.True(decision.Allowed);
        Assert.Equal("DE", decision.RegionCode); // the stored region, since the event has none
    }

    [Fact]
    public void Decide_NewerRefusalOnTheEvent_WinsOverOlderStoredConsent()
    {
        var stored = new UserConsent(Gdpr("analytics", true, T0), new Region("DE"), T0);

        var decision = ConsentGate.Decide(Event(new Region("DE"), Gdpr("analytics", false, T0.AddMinutes(1))), stored, Rules, null);

        Assert.False(decision.Allowed);
        Assert.False(decision.Consent!.Gdpr["analytics"].Consented);
    }

    [Fact]
    public void Decide_UnknownRegion_FailsClosedUnderTheUnknownRegionRegime()
    {
        Assert.False(ConsentGate.Decide(Event(null), null, Rules, null).Allowed);
    }

    [Fact]
    public void Decide_DefaultCountry_AppliesOnlyWhenNeitherEventNorStoreKnowsTheRegion()
    {
        Assert.True(ConsentGate.Decide(Event(null), null, Rules, "US").Allowed);
        Assert.False(ConsentGate.Decide(Event(new Region("GB")), null, Rules, "US").Allowed);
    }

    [Fact]
    public void Decide_CaliforniaOptedOutOfSale_Blocks()
    {
        var optedOut = new ConsentSnapshot(new Dictionary<string, ConsentPurpose>(), new ConsentPurpose(true, T0));

        Assert.False(ConsentGate.Decide(Event(new Region("US", "CA"), optedOut), null, Rules, null).Allowed);
        Assert.True(ConsentGate.Decide(Event(new Region("US", "CA")), null, Rules, null).Allowed); // opt-out: silence allows
    }

    [Fact]
    public void Decide_ConsentUpdate_IsAlwaysForwardedSoMParticleLearnsAWithdrawal()
    {
        var update = new ConsentUpdated(
            new EventContext(Guid.NewGuid(), "k", T0, EventSource.Commercetools, null, null, new Region("DE"), new UserIds("c-1"), Gdpr("analytics", false, T0)),
            ["analytics"]);

        Assert.True(ConsentGate.Decide(update, null, Rules, null).Allowed);
    }

    [Theory]
    [InlineData("US-CA", "ccpa")]
    [InlineData("US-NY", "none")]
    [InlineData("DE", "gdpr")]
    [InlineData("de", "gdpr")]
    [InlineData("BR", "none")]
    public void RegimeFor_SubdivisionThenCountryThenDefault(string region, string expected)
    {
        Assert.Equal(expected, Rules.RegimeFor(region).Name);
    }

    [Fact]
    public void Problems_OptInRegimeRequiringTheCcpaPurpose_IsReported()
    {
        var rules = Rules with { Regimes = [.. Rules.Regimes, new ConsentRegime("bad", ConsentMode.OptIn, ["FR"], [ConsentSnapshot.CcpaPurpose])] };

        Assert.Contains(rules.Problems(), p => p.Contains("opt-out signal", StringComparison.Ordinal));
    }
}
