using CtMparticle.Configuration;
using CtMparticle.Delivery;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace CtMparticle.Tests.Delivery;

/// <summary>Rate-limit awareness on a fake clock: every wait is a clock advance, not a sleep.</summary>
public sealed class PushThrottleTests
{
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero));

    private PushThrottle Throttle(int maxRequestsPerRun = 8) => new(
        Options.Create(new PushOptions { MaxRequestsPerRun = maxRequestsPerRun, InitialBackoff = TimeSpan.FromSeconds(2), MaxBackoff = TimeSpan.FromSeconds(30), AuthFailurePause = TimeSpan.FromMinutes(5) }),
        time,
        new Random(7));

    [Fact]
    public void RateLimited_WithRetryAfter_WaitsExactlyThatLong()
    {
        var throttle = Throttle();

        var wait = throttle.RateLimited("eu", TimeSpan.FromSeconds(10), "workspace");

        Assert.Equal(TimeSpan.FromSeconds(10), wait);
        Assert.False(throttle.MayCall("eu"));
        time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.False(throttle.MayCall("eu"));
        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(throttle.MayCall("eu"));
        Assert.True(throttle.MayCall("us")); // other inputs are not held back
    }

    [Fact]
    public void Failed_BacksOffExponentiallyWithJitterUpToTheMaximum()
    {
        var throttle = Throttle();
        var waits = Enumerable.Range(0, 8).Select(_ => throttle.Failed("eu")).ToArray();

        Assert.All(waits, w => Assert.InRange(w, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30)));
        Assert.InRange(waits[0], TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)); // first ceiling: the initial backoff
    }

    [Fact]
    public void Succeeded_ResetsTheBackoff()
    {
        var throttle = Throttle();
        for (var i = 0; i < 6; i++)
        {
            throttle.Failed("eu");
        }

        throttle.Succeeded("eu", null);

        Assert.InRange(throttle.Failed("eu"), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void AccelerationLimit_HalvesTheAllowance_ThenItGrowsBackRunByRun()
    {
        var throttle = Throttle(maxRequestsPerRun: 8);

        throttle.RateLimited("eu", TimeSpan.Zero, "acceleration");
        throttle.RunCompleted("eu"); // a throttled run does not grow the allowance
        Assert.Equal(4, throttle.Allowance("eu"));

        throttle.RunCompleted("eu");
        Assert.Equal(5, throttle.Allowance("eu"));
        throttle.RunCompleted("eu");
        throttle.RunCompleted("eu");
        throttle.RunCompleted("eu");
        Assert.Equal(8, throttle.Allowance("eu")); // never above the setting
    }

    [Fact]
    public void Succeeded_CloseToTheLimit_SendsOneRequestFewerNextRun()
    {
        var throttle = Throttle(maxRequestsPerRun: 8);

        throttle.Succeeded("eu", percentageUsed: 95);
        throttle.RunCompleted("eu");

        Assert.Equal(7, throttle.Allowance("eu"));
    }

    [Fact]
    public void Pause_HoldsTheInputForTheAuthFailurePause()
    {
        var throttle = Throttle();

        throttle.Pause("eu");
        time.Advance(TimeSpan.FromMinutes(4));
        Assert.False(throttle.MayCall("eu"));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.True(throttle.MayCall("eu"));
    }
}
