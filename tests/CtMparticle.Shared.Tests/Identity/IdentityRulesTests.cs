using CtMparticle.Identity;
using CtMparticle.Tests.Support;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Identity;

/// <summary>The shipped identity rules: the placeholders trackers, forms and devices really send never travel as identities.</summary>
public sealed class IdentityRulesTests
{
    private static IdentityRules Rules => EmbeddedRelay.IdentityRules;

    [Theory]
    [InlineData("undefined")]        // an unset JavaScript variable
    [InlineData(" NULL ")]           // a null written out by a template, with stray spaces
    [InlineData("[object Object]")]  // an object passed where a string was expected
    [InlineData("anonymous")]
    [InlineData("0")]
    [InlineData("")]
    [InlineData("00000000-0000-0000-0000-000000000000")] // the IDFA of an iPhone that refused tracking
    [InlineData("00000000000000000000000000000000")]
    [InlineData("9774d56d682e549c")]                     // the Android id many early devices share
    [InlineData("{{customer.id}}")]                      // an unrendered template
    [InlineData("${userId}")]
    public void Placeholders_AreBlocked(string value) => Assert.True(Rules.IsBlocked(value));

    [Theory]
    [InlineData("c-4711")]
    [InlineData("anon-7f3c2a")]
    [InlineData("3f1c9a2e-6b7d-4c1e-9a0b-2d4e6f8a1c3e")]
    [InlineData("10")]
    [InlineData("nullable-user")]
    public void RealIdentifiers_AreNot(string value) => Assert.False(Rules.IsBlocked(value));

    [Theory]
    [InlineData("test@test.com", true)]
    [InlineData(" Test@Example.COM ", true)]
    [InlineData("undefined", true)]
    [InlineData("jo.rivera@example.com", false)]
    [InlineData("ann@shop.example", false)]
    public void Emails_TestAddressesAreBlocked(string email, bool blocked) => Assert.Equal(blocked, Rules.IsBlockedEmail(email));

    [Fact]
    public void Clean_DropsEachBlockedIdentifier_AndNamesItsType_NeverItsValue()
    {
        var user = new UserIds("c-1", "test@test.com", "undefined", "s-1", new DeviceIds(IosAdvertisingId: "00000000-0000-0000-0000-000000000000", IosVendorId: "idfv-1"));

        var (clean, dropped) = Rules.Clean(user);

        Assert.Equal(new UserIds("c-1", null, null, "s-1", new DeviceIds(IosVendorId: "idfv-1")), clean);
        Assert.Equal(["anonymous_id", "email", "ios_idfa"], dropped.Order(StringComparer.Ordinal).ToArray());
        var (same, none) = Rules.Clean(clean);
        Assert.Same(clean, same); // nothing blocked: the user as it was
        Assert.Empty(none);
    }

    [Theory]
    [InlineData("""{"version":"","blockedValues":[],"blockedPatterns":[],"blockedEmails":[]}""", "'version' is empty")]
    [InlineData("""{"version":"1","blockedValues":[],"blockedPatterns":["(unclosed"],"blockedEmails":[]}""", "not a regular expression")]
    [InlineData("""{"version":"1","blockedValues":[],"blockedPatterns":[],"blockedEmails":["nobody"]}""", "not an e-mail address")]
    [InlineData("""{"version":"1","blockedValues":"null"}""", "not valid identity rules")]
    [InlineData("""{"version":"1","blockedValues":[],"blockedPatterns":[],"blockedEmails":[],"identifiers":[{"type":"customer_id","priority":1}]}""", "'customer_id' is not an identifier type a customer can be linked to")]
    [InlineData("""{"version":"1","blockedValues":[],"blockedPatterns":[],"blockedEmails":[],"identifiers":[{"type":"anonymous_id","priority":1},{"type":"ios_idfv","priority":1}]}""", "share priority 1")]
    [InlineData("""{"version":"1","blockedValues":[],"blockedPatterns":[],"blockedEmails":[],"identifiers":[{"type":"anonymous_id","priority":1,"maxPerCustomer":5}]}""", "needs both maxPerCustomer and windowDays")]
    [InlineData("""{"version":"1","blockedValues":[],"blockedPatterns":[],"blockedEmails":[],"identifiers":[{"type":"anonymous_id","priority":1,"lifetimeDays":0}]}""", "below 1")]
    [InlineData("""{"version":"1","blockedValues":[],"blockedPatterns":[],"blockedEmails":[],"pairing":[{"name":"p","regimes":["*"],"types":["ios_idfa"]}]}""", "exactly one of requiresPurpose")]
    [InlineData("""{"version":"1","blockedValues":[],"blockedPatterns":[],"blockedEmails":[],"pairing":[{"name":"p","regimes":["*"],"types":["idfa"],"requiresPurpose":"advertising"}]}""", "names 'idfa'")]
    [InlineData("""{"version":"1",""", "not valid identity rules")]
    public void BrokenRules_AreRefusedWithWhatToFix(string json, string expected)
    {
        var (rules, problems) = IdentityRules.Parse(json, "identity-rules.json");

        Assert.Null(rules);
        Assert.Contains(problems, p => p.Contains(expected, StringComparison.Ordinal) && p.StartsWith("identity-rules.json", StringComparison.Ordinal));
    }
}
