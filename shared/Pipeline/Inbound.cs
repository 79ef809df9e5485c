namespace CtMparticle.Pipeline;

/// <summary>
/// One input as a transport handed it over: the exact bytes, and what the transport knows about them (the Service
/// Bus message id, delivery count and enqueue time; empty for files and replays). Every source starts from this.
/// </summary>
/// <param name="Source">The collector source (tracker installation) it came through; null for commercetools messages.</param>
internal sealed record Inbound(
    ReadOnlyMemory<byte> Body,
    string? ServiceBusMessageId = null,
    int? DeliveryCount = null,
    DateTimeOffset? EnqueuedAt = null,
    string? Source = null);

/// <summary>What a source could read of an input's envelope, even when the rest was unusable: ids only, for logs and quarantine.</summary>
/// <param name="Format">The wire format as the source names it (commercetools: <c>Platform</c> or <c>CloudEvents</c>).</param>
internal sealed record InputInfo(string Format, string? MessageId, string? MessageType, string? ResourceTypeId, string? ResourceId)
{
    /// <summary>
    /// Why the input goes without the commercetools details the relay would have added (a storefront event whose
    /// product or cart commercetools did not answer for): <c>catalog_unavailable</c>, <c>product_not_found</c>, ….
    /// Null when nothing was missing. Counted in the report and the <c>unenriched</c> metric; the input is not held up.
    /// </summary>
    public string? Unenriched { get; init; }
}
