using CsCheck;
using CtMparticle.Configuration;
using CtMparticle.Identity;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Identity;

public sealed class UserKeysTests
{
    [Theory]
    [InlineData(" c-1 ", "a-1", "x@example.com", "customer:c-1")]
    [InlineData(null, " a-1 ", "x@example.com", "anonymous:a-1")]
    [InlineData("  ", "", null, null)]
    public void Of_CustomerThenAnonymousThenEmail(string? customer, string? anonymous, string? email, string? expected)
    {
        Assert.Equal(expected, UserKeys.Of(new UserIds(customer, email, anonymous)));
    }

    /// <summary>
    /// The hash every e-mail identity and link is keyed by: SHA-256's own test vectors (FIPS 180-2: "abc", the empty
    /// string), and for any string, long or not, with lone surrogates (which UTF-8 writes as U+FFFD), the hash of its
    /// UTF-8 bytes as .NET's encoder writes them.
    /// </summary>
    [Fact]
    public void Sha256Hex_IsTheLowerCaseHexOfTheStandardHash_OfAnyStringsUtf8()
    {
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Emails.Sha256Hex("abc"));
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Emails.Sha256Hex(""));
        Gen.OneOf(Gen.String, Gen.String[300, 2000], Gen.Const("a\ud800b\udfff")).Sample(value =>
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(value))), Emails.Sha256Hex(value)),
            iter: 300);
    }

    [Fact]
    public void Of_EmailOnly_IsTheHashOfTheNormalizedAddressNeverTheAddress()
    {
        var key = UserKeys.Of(new UserIds(Email: "  Jane.Doe@Example.COM "));

        Assert.Equal("email:" + Emails.Sha256Hex("jane.doe@example.com"), key);
        Assert.DoesNotContain("example", key, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Customer_IsTheSameKeyTheGateUses()
    {
        Assert.Equal(UserKeys.Of(new UserIds("c-9")), UserKeys.Customer("c-9"));
    }

    [Fact]
    public void Sha256Hex_MatchesAKnownDigest()
    {
        // SHA-256 of "abc" (FIPS 180-2 test vector).
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Emails.Sha256Hex("abc"));
    }

    [Theory]
    [InlineData("Plain", "email", "jane@example.com")]
    [InlineData("Sha256", "other_id_2", null)]
    public void IdentityMapper_EmailByMode(string mode, string identity, string? plain)
    {
        var mapper = new IdentityMapper(new IdentityOptions { EmailMode = Enum.Parse<EmailIdentityMode>(mode), EmailHashIdentity = "other_id_2" });

        var identities = mapper.For(new UserIds("c-1", " Jane@Example.com"));

        Assert.Equal("c-1", identities["customer_id"]);
        Assert.Equal(plain ?? Emails.Sha256Hex("jane@example.com"), identities[identity]);
    }
}
