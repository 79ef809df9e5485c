using CtMparticle.Configuration;
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

    private static readonly MParticleOptions NoFallback = new();

    private static SignedIn Event(Region? region, ConsentSnapshot? consent = null, string? store = null) =>
        new(new EventContext(Guid.NewGuid(), "k", T0, EventSource.Storefront, null, store, region, new UserIds("c-1"), consent), "password");

    private static ConsentSnapshot Gdpr(string purpose, bool consented, DateTimeOffset at) =>
        new(new Dictionary<string, ConsentPurpose> { [purpose] = new(consented, at) });

    [Fact]
    public void Decide_OptInRegionWithoutConsent_IsUnknownNotRefused()
    {
        var decision = ConsentGate.Decide(Event(new Region("DE")), null, Rules, NoFallback);

        Assert.False(decision.Allowed);
        Assert.Equal(ConsentVerdict.Unknown, decision.Verdict); // held for Relay:ConsentWait, not dropped
        Assert.Equal("gdpr", decision.Regime);
        Assert.Contains("analytics", decision.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_OptInRegionWithExplicitRefusal_Refuses()
    {
        var decision = ConsentGate.Decide(Event(new Region("DE"), Gdpr("analytics", false, T0)), null, Rules, NoFallback);

        Assert.Equal(ConsentVerdict.Refuse, decision.Verdict);
    }

    [Fact]
    public void Decide_RegionPrecedence_AddressThenStoredThenStoreCountryThenDefault()
    {
        var routing = new MParticleOptions { DefaultCountry = "BR", Stores = [new StoreOptions { Key = "uk", DefaultCountry = "GB" }] };
        var storedUs = new UserConsent(ConsentSnapshot.Empty, new Region("US", "NY"), T0);

        Assert.Equal("DE", ConsentGate.RegionOf(Event(new Region("DE"), store: "uk"), storedUs, routing)!.Code);
        Assert.Equal("US-NY", ConsentGate.RegionOf(Event(null, store: "uk"), storedUs, routing)!.Code);
        Assert.Equal("GB", ConsentGate.RegionOf(Event(null, store: "uk"), null, routing)!.Code);
        Assert.Equal("BR", ConsentGate.RegionOf(Event(null, store: "unknown-store"), null, routing)!.Code);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void Decide_BlankDefaultCountry_IsAbsentAndFailsClosed(string blank)
    {
        var decision = ConsentGate.Decide(Event(null), null, Rules, new MParticleOptions { DefaultCountry = blank });

        Assert.Null(decision.RegionCode);
        Assert.Equal("gdpr", decision.Regime); // the unknown-region regime, never the permissive default
    }

    [Theory]
    [InlineData("California", "US-CA")]
    [InlineData("california", "US-CA")]
    [InlineData(" CA ", "US-CA")]
    [InlineData("US-CA", "US-CA")]
    [InlineData("New York", "US-NY")]
    [InlineData("District of Columbia", "US-DC")]
    [InlineData("Puerto Rico", "US-PR")]
    public void Subdivisions_UsStateNamesAndPostalCodes_NormalizeToIso(string state, string expected)
    {
        Assert.Equal(expected, Subdivisions.Normalize("us", state)!.Code);
    }

    [Fact]
    public void Decide_CaliforniaByFullName_IsGatedAsCalifornia()
    {
        var optedOut = new ConsentSnapshot(new Dictionary<string, ConsentPurpose>(), new ConsentPurpose(true, T0));

        var decision = ConsentGate.Decide(Event(Subdivisions.Normalize("US", "California"), optedOut), null, Rules, NoFallback);

        Assert.Equal("ccpa", decision.Regime);
        Assert.Equal(ConsentVerdict.Refuse, decision.Verdict);
    }

    [Fact]
    public void RegimeFor_SubdivisionThatCannotBeNormalized_TakesTheStrictestOfTheCountry()
    {
        var region = Subdivisions.Normalize("US", "Kalifornien")!;

        Assert.True(region.SubdivisionUnknown);
        Assert.Equal("ccpa", Rules.RegimeFor(region).Name); // not "none": the unknown state might be California
        Assert.Equal("gdpr", Rules.RegimeFor(Subdivisions.Normalize("DE", "Bayern-Nord-Ost")).Name); // DE is not split
    }

    [Fact]
    public void Subdivisions_BlankCountry_IsNoRegion()
    {
        Assert.Null(Subdivisions.Normalize(" ", "CA"));
        Assert.Null(Subdivisions.Normalize(null, null));
        Assert.Equal("DE", Subdivisions.Normalize("de", " ")!.Code);
    }

    [Fact]
    public void Decide_OptInRegionWithStoredConsent_Allows()
    {
        var stored = new UserConsent(Gdpr("analytics", true, T0), new Region("DE"), T0);

        var decision = ConsentGate.Decide(Event(null), stored, Rules, NoFallback);

        Assert.True(decision.Allowed);
        Assert.Equal("DE", decision.RegionCode); // the stored region, since the event has none
    }

    [Fact]
    public void Decide_NewerRefusalOnTheEvent_WinsOverOlderStoredConsent()
    {
        var stored = new UserConsent(Gdpr("analytics", true, T0), new Region("DE"), T0);

        var decision = ConsentGate.Decide(Event(new Region("DE"), Gdpr("analytics", false, T0.AddMinutes(1))), stored, Rules, NoFallback);

        Assert.False(decision.Allowed);
        Assert.False(decision.Consent!.Gdpr["analytics"].Consented);
    }

    [Fact]
    public void Decide_UnknownRegion_FailsClosedUnderTheUnknownRegionRegime()
    {
        Assert.False(ConsentGate.Decide(Event(null), null, Rules, NoFallback).Allowed);
    }

    [Fact]
    public void Decide_DefaultCountry_AppliesOnlyWhenNeitherEventNorStoreKnowsTheRegion()
    {
        Assert.True(ConsentGate.Decide(Event(null), null, Rules, new MParticleOptions { DefaultCountry = "US" }).Allowed);
        Assert.False(ConsentGate.Decide(Event(new Region("GB")), null, Rules, new MParticleOptions { DefaultCountry = "US" }).Allowed);
    }

    [Fact]
    public void Decide_CaliforniaOptedOutOfSale_Blocks()
    {
        var optedOut = new ConsentSnapshot(new Dictionary<string, ConsentPurpose>(), new ConsentPurpose(true, T0));

        Assert.False(ConsentGate.Decide(Event(new Region("US", "CA"), optedOut), null, Rules, NoFallback).Allowed);
        Assert.True(ConsentGate.Decide(Event(new Region("US", "CA")), null, Rules, NoFallback).Allowed); // opt-out: silence allows
    }

    [Fact]
    public void Decide_ConsentUpdate_IsAlwaysForwardedSoMParticleLearnsAWithdrawal()
    {
        var update = new ConsentUpdated(
            new EventContext(Guid.NewGuid(), "k", T0, EventSource.Commercetools, null, null, new Region("DE"), new UserIds("c-1"), Gdpr("analytics", false, T0)),
            ["analytics"]);

        Assert.True(ConsentGate.Decide(update, null, Rules, NoFallback).Allowed);
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
