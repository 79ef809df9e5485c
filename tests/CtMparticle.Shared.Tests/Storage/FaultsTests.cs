using System.Net.Sockets;
using Azure;
using CtMparticle.Storage;

namespace CtMparticle.Tests.Storage;

/// <summary>Which failures retry the input (transient) and which quarantine it, and with what reason.</summary>
public sealed class FaultsTests
{
    public static TheoryData<Exception, bool> Failures => new()
    {
        { new TimeoutException(), true },
        { new HttpRequestException("reset"), true },
        { new SocketException(), true },
        { new IOException("disk"), true },
        { new TransientFailureException("commercetools paused"), true },
        { new RequestFailedException(503, "busy"), true },
        { new RequestFailedException(429, "throttled"), true },
        { new RequestFailedException(408, "timeout"), true },
        { new RequestFailedException(0, "no response"), true },
        { new TaskCanceledException("HttpClient.Timeout"), true },
        { new AggregateException(new TimeoutException(), new IOException()), true },
        { new RequestFailedException(400, "bad", "PropertyValueTooLarge", null), false },
        { new RequestFailedException(409, "conflict"), false },
        { new NullReferenceException(), false },
        { new InvalidOperationException(), false },
        { new OverflowException(), false },
        { new ValueTooLargeException("2 MB"), false },
        { new AggregateException(new TimeoutException(), new NullReferenceException()), false },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void IsTransient_SortsFailuresIntoRetryOrQuarantine(Exception failure, bool transient)
    {
        Assert.Equal(transient, Faults.IsTransient(failure, CancellationToken.None));
    }

    [Fact]
    public void IsTransient_CancellationOfTheRunItself_IsNotTheInputsFault()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.True(Faults.IsTransient(new OperationCanceledException(cancelled.Token), cancelled.Token));
    }

    [Fact]
    public void Describe_ValuesBeyondTheStorageLimit_AreTooLargeToStore()
    {
        Assert.Equal(Reason.TooLargeToStore, Faults.Describe(new ValueTooLargeException("x"), "store").Reason);
        Assert.Equal(Reason.TooLargeToStore, Faults.Describe(new RequestFailedException(413, "too large", "RequestBodyTooLarge", null), "store").Reason);
    }

    [Fact]
    public void Describe_AnythingElse_IsAnInternalErrorNamingOnlyTheTypeAndStage()
    {
        var (reason, detail) = Faults.Describe(new InvalidOperationException("customer anna@example.com broke it"), "map");

        Assert.Equal(Reason.InternalError, reason);
        Assert.Contains("System.InvalidOperationException", detail, StringComparison.Ordinal);
        Assert.Contains("at map", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("anna", detail, StringComparison.Ordinal);
    }
}
