using System.Text.Json.Nodes;
using CtMparticle.Pipeline;
using CtMparticle.Tracking;

namespace CtMparticle.Sources.Collector;

/// <summary>The Segment call types the collector accepts (the endpoint names).</summary>
internal static class SegmentTypes
{
    public const string Track = "track";
    public const string Identify = "identify";
    public const string Page = "page";
    public const string Screen = "screen";
    public const string Alias = "alias";
    public const string Group = "group";

    public static readonly IReadOnlySet<string> Endpoints = new HashSet<string>(StringComparer.Ordinal) { Track, Identify, Page, Screen, Alias, Group };
}

/// <summary>
/// One decoded Segment call (HTTP Tracking API spec), with the time it happened corrected for the client's clock.
/// Only what the mapping reads is lifted out; <see cref="Properties"/> and <see cref="Traits"/> stay JSON.
/// </summary>
/// <param name="MessageId">The client's <c>messageId</c> (or the one the collector derived from the content): the dedupe key within the source.</param>
/// <param name="OccurredAt">
/// <c>receivedAt − (sentAt − timestamp)</c> when the client sent both, as Segment corrects clock skew; else
/// <c>timestamp</c>; else <c>receivedAt</c>.
/// </param>
internal sealed record SegmentCall(
    string Source,
    string Type,
    string MessageId,
    DateTimeOffset OccurredAt,
    string? UserId,
    string? AnonymousId,
    string? Event,
    string? Name,
    JsonObject Properties,
    JsonObject Traits,
    SegmentContext Context) : SourceItem
{
    /// <summary>An <c>alias</c> call's <c>previousId</c>: the identifier the user had before <c>userId</c>.</summary>
    public string? PreviousId { get; init; }

    /// <summary>The lines of the commercetools cart a <c>Checkout Started</c> names (resolved; they replace the call's own).</summary>
    public CartLines? Cart { get; init; }
}

/// <summary>A commercetools cart's authoritative lines, in its currency.</summary>
internal sealed record CartLines(IReadOnlyList<ProductLine> Lines, string Currency);

/// <summary>What the collector reads of <c>context</c>.</summary>
/// <param name="ConsentCategories"><c>context.consent.categoryPreferences</c>: the CMP's categories and the shopper's choice.</param>
internal sealed record SegmentContext(
    string? Ip,
    string? UserAgent,
    string? Locale,
    string? Country,
    string? State,
    string? SessionId,
    string? OsName,
    string? DeviceId,
    string? AdvertisingId,
    bool IsApp,
    IReadOnlyDictionary<string, bool> ConsentCategories);
