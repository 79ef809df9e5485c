using CtMparticle.Delivery;

namespace CtMparticle.Tests.Delivery;

public sealed class EventsApiResultTests
{
    [Theory]
    [InlineData(200, "Accepted")]
    [InlineData(202, "Accepted")]
    [InlineData(400, "Rejected")]
    [InlineData(413, "Rejected")]
    [InlineData(422, "Rejected")]
    [InlineData(401, "Unauthorized")]
    [InlineData(403, "Unauthorized")]
    [InlineData(429, "Throttled")]
    [InlineData(500, "Failed")]
    [InlineData(503, "Failed")]
    [InlineData(404, "Failed")]
    public void FromStatus_ClassifiesEveryAnswer(int status, string kind)
    {
        var result = EventsApiResult.FromStatus(status);

        Assert.Equal(kind, result.GetType().Name);
        Assert.Equal(status, result.Status);
    }

    [Fact]
    public void FromStatus_KeepsWhatPushNeedsToDecide()
    {
        Assert.Equal("{\"errors\":[]}", Assert.IsType<Rejected>(EventsApiResult.FromStatus(400, "{\"errors\":[]}")).Body);
        var throttled = Assert.IsType<Throttled>(EventsApiResult.FromStatus(429, retryAfter: TimeSpan.FromSeconds(3), rateLimitExceeded: "acceleration"));
        Assert.Equal((TimeSpan.FromSeconds(3), "acceleration"), (throttled.RetryAfter, throttled.RateLimitExceeded));
        Assert.Equal(91, Assert.IsType<Accepted>(EventsApiResult.FromStatus(202, percentageUsed: 91)).PercentageUsed);
    }
}
