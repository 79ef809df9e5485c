using System.Data.Common;
using System.Net.Sockets;
using Azure;

namespace CtMparticle.Storage;

/// <summary>
/// A dependency (storage, commercetools, mParticle) cannot serve now but may later: the input must be retried as it
/// is (Service Bus redelivers it; the runner stops and a rerun continues), never quarantined for it.
/// </summary>
internal sealed class TransientFailureException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A value beyond what the store can hold in one entity (Azure Tables: 1 MB); never transient.</summary>
internal sealed class ValueTooLargeException(string message) : Exception(message);

/// <summary>
/// Sorts the failures an input can meet into the two kinds the relay treats differently: transient infrastructure
/// (retry the input later) and everything else (quarantine this input with a reason, go on with the next).
/// </summary>
internal static class Faults
{
    /// <summary>Azure Storage error codes for a value beyond the service's entity or request limits.</summary>
    private static readonly HashSet<string> TooLarge = new(StringComparer.Ordinal)
    {
        "EntityTooLarge", "PropertyValueTooLarge", "RequestBodyTooLarge", "RequestEntityTooLarge",
    };

    /// <summary>Whether retrying the same input later may succeed: timeouts, network, throttling, 5xx, a busy database, shutdown.</summary>
    public static bool IsTransient(Exception exception, CancellationToken cancellationToken) => exception switch
    {
        OperationCanceledException => cancellationToken.IsCancellationRequested || exception is TaskCanceledException,
        TransientFailureException or TimeoutException or HttpRequestException or SocketException or IOException => true,
        RequestFailedException failed => failed.Status is 0 or 408 or 429 or >= 500,
        DbException database => database.IsTransient,
        AggregateException aggregate => aggregate.InnerExceptions.Count > 0 && aggregate.InnerExceptions.All(e => IsTransient(e, cancellationToken)),
        _ => false,
    };

    /// <summary>The reason and a PII-free sentence for a failure that is not transient (types and codes only, never values).</summary>
    public static (Reason Reason, string Detail) Describe(Exception exception, string stage) => exception switch
    {
        ValueTooLargeException => (Reason.TooLargeToStore,
            $"What this input needs stored at {stage} is larger than one storage entity holds; no real commercetools message produces it."),
        RequestFailedException { ErrorCode: { } code } when TooLarge.Contains(code) => (Reason.TooLargeToStore,
            $"Storage refused to keep what this input needs at {stage} ({code}); it is beyond the service's entity limit, so no real commercetools message produces it."),
        _ => (Reason.InternalError,
            $"The relay failed on this input at {stage} ({exception.GetType().FullName}). It is kept here with its bytes; the rest of the batch went on. Report it with this record."),
    };
}
