using CtMparticle.Governance;

namespace CtMparticle.Tests.Governance;

/// <summary>
/// The <c>format</c> keyword's checks, as mParticle's validator (ajv 6 in "fast" mode) makes them: lax on ranges (a
/// month of 13 passes), strict on shape, case-insensitive where ajv's patterns are. The reference validator the other
/// tests compare with calls the same checks, so these hold them to ajv's definitions directly.
/// </summary>
public sealed class PlanFormatsTests
{
    [Theory]
    [InlineData("date", "2026-12-06", true)]
    [InlineData("date", "2026-13-39", true)] // fast mode checks the shape, not the calendar
    [InlineData("date", "2026-12-6", false)]
    [InlineData("date", "2026/12/06", false)]
    [InlineData("date", " 2026-12-06", false)]
    [InlineData("time", "18:29:47", true)]
    [InlineData("time", "18:29:47.123z", true)]
    [InlineData("time", "18:29:47+01:00", true)]
    [InlineData("time", "18:29", false)]
    [InlineData("time", "38:29:47", false)]
    [InlineData("date-time", "2026-12-06T18:29:47Z", true)]
    [InlineData("date-time", "2026-12-06t18:29:47.055+0100", true)]
    [InlineData("date-time", "2026-12-06 23:59:60z", true)]
    [InlineData("date-time", "2026-12-06T18:29:47", false)] // no zone
    [InlineData("date-time", "2026-12-06", false)]
    [InlineData("email", "customer8178118@example.com", true)]
    [InlineData("email", "First.Last+tag@Example.CO.UK", true)]
    [InlineData("email", "no-at-sign.example.com", false)]
    [InlineData("email", "trailing@example-.com", false)]
    [InlineData("email", "two@@example.com", false)]
    [InlineData("uri", "https://shop.example.com/p?id=1", true)]
    [InlineData("uri", "URN:isbn:0451450523", true)]
    [InlineData("uri", "/relative/path", false)]
    [InlineData("uri", "https://has space", false)]
    [InlineData("uuid", "0b6a1c9e-2f4d-4c8a-9e1f-3a5b7c9d1e2f", true)]
    [InlineData("uuid", "URN:UUID:0B6A1C9E-2F4D-4C8A-9E1F-3A5B7C9D1E2F", true)]
    [InlineData("uuid", "0b6a1c9e2f4d4c8a9e1f3a5b7c9d1e2f", false)]
    [InlineData("uuid", "not-a-uuid", false)]
    [InlineData("hostname", "shop.example.com", true)]
    [InlineData("hostname", "EXAMPLE", true)]
    [InlineData("hostname", "-starts-with-a-dash.com", false)]
    [InlineData("hostname", "under_score.com", false)]
    [InlineData("ipv4", "192.168.0.1", true)]
    [InlineData("ipv4", "255.255.255.255", true)]
    [InlineData("ipv4", "256.1.1.1", false)]
    [InlineData("ipv4", "1.2.3", false)]
    public void Format_JudgesAValue_AsMParticlesValidatorDoes(string format, string value, bool valid) =>
        Assert.Equal(valid, SchemaValidator.KnownFormats[format](value));

    [Fact]
    public void KnownFormats_AreTheEightAjvFastModeFormatsThePlansMayName() =>
        Assert.Equal(["date", "date-time", "email", "hostname", "ipv4", "time", "uri", "uuid"], SchemaValidator.KnownFormats.Keys.Order(StringComparer.Ordinal));
}
