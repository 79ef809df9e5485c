using System.Security.Cryptography;
using System.Text.Json;

namespace CtMparticle.Storage;

/// <summary>Where a quarantined item came from: ids only.</summary>
internal sealed record QuarantineSource(
    string? MessageId,
    string? MessageType,
    string? ResourceTypeId,
    string? ResourceId,
    string? ServiceBusMessageId,
    int? DeliveryCount,
    DateTimeOffset? EnqueuedAt,
    DateTimeOffset ReceivedAt,
    string? Format);

/// <summary>
/// One quarantined item: why (codes and a sentence), the errors behind it (validation or mParticle's body), where
/// it came from, and the original payload exactly as received (base64, so any bytes survive), plus the relay version.
/// </summary>
internal sealed record QuarantineRecord(
    IReadOnlyList<string> Reasons,
    string Message,
    IReadOnlyList<string> Errors,
    QuarantineSource Source,
    string PayloadBase64,
    string RelayVersion,
    string Stage)
{
    /// <summary>For a record written at push: the events it parked, which a replay puts back into the outbox.</summary>
    public IReadOnlyList<Guid>? EventIds { get; init; }

    /// <summary>
    /// The trace the record was written in (32 hex digits), when traced: the same id as the log lines and spans of
    /// that ingest or push (App Insights' <c>operation_Id</c>), so a record leads to them and they to it.
    /// </summary>
    public string? TraceId { get; init; }

    /// <summary>The current trace's id, for <see cref="TraceId"/>.</summary>
    public static string? CurrentTraceId() => System.Diagnostics.Activity.Current is { } activity ? activity.TraceId.ToHexString() : null;

    /// <summary>Stable id: the message id when known, else the payload's SHA-256, so a redelivery overwrites rather than duplicates.</summary>
    public string Id => Source.MessageId is { Length: > 0 } id && IsSafe(id)
        ? id
        : Convert.ToHexStringLower(SHA256.HashData(Convert.FromBase64String(PayloadBase64)))[..32];

    /// <summary><c>yyyy/MM/dd/{reason}/{id}.json</c> by the time it was received.</summary>
    public string Path => $"{Source.ReceivedAt:yyyy'/'MM'/'dd}/{Reasons[0]}/{Stage}-{Id}.json";

    private static bool IsSafe(string id) => id.Length <= 128 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>Whether the record stored at <paramref name="path"/> is the one an operator named: by path, by id, or by the end of its file name.</summary>
    public static bool IsNamed(string path, QuarantineRecord record, string pathOrId) =>
        path == pathOrId || record.Id == pathOrId || System.IO.Path.GetFileNameWithoutExtension(path).EndsWith(pathOrId, StringComparison.Ordinal);

    /// <summary>
    /// A stored record, or null when the bytes are not one (edited or damaged by hand): required members can still come
    /// back null from such a file, and such a record is not usable.
    /// </summary>
    public static QuarantineRecord? TryRead(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, RelayJsonContext.Default.QuarantineRecord) is
            { Reasons.Count: > 0, Message: not null, Errors: not null, Source: not null, PayloadBase64: not null, Stage: not null } record
                ? record
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static string RelayVersionOf(Type type) =>
        type.Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
