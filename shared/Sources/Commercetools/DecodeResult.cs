namespace CtMparticle.Sources.Commercetools;

internal enum DeliveryFormat
{
    Platform,
    CloudEvents,
}

/// <summary>What could be read of a delivery's envelope, even when the rest was unusable: ids only, for logs and quarantine.</summary>
internal sealed record DeliveryInfo(
    DeliveryFormat Format,
    string? NotificationType,
    string? MessageId,
    string? MessageType,
    string? ResourceTypeId,
    string? ResourceId)
{
    public static readonly DeliveryInfo Unknown = new(DeliveryFormat.Platform, null, null, null, null, null);
}

/// <summary>The closed set of results of decoding one delivery body. Decoding never throws.</summary>
internal abstract record DecodeResult(DeliveryInfo Info);

/// <summary>A typed Message or change notification.</summary>
internal sealed record Decoded(CtDelivery Delivery, DeliveryInfo Info) : DecodeResult(Info);

/// <summary>
/// commercetools left the payload out (<c>payloadNotIncluded</c>): the resource must be fetched before mapping.
/// </summary>
/// <param name="ProjectKey">The message's project: part of every dedupe key, so the fetched message keeps it.</param>
internal sealed record FetchRequired(
    string MessageId,
    string ResourceTypeId,
    string ResourceId,
    string PayloadType,
    string CommercetoolsReason,
    DeliveryInfo Info,
    string? ProjectKey = null) : DecodeResult(Info)
{
    public Reason Reason => Reason.PayloadNotIncluded;

    public string Detail =>
        $"commercetools left out the {PayloadType} payload ({CommercetoolsReason}); fetch {ResourceTypeId} {ResourceId} and map the current state.";
}

/// <summary>A valid delivery the relay does not forward, with the reason.</summary>
internal sealed record DecodeFiltered(Reason Reason, string Detail, DeliveryInfo Info) : DecodeResult(Info);

/// <summary>An unusable body, with a reason a person can act on. The caller quarantines the original bytes.</summary>
internal sealed record DecodeRejected(Reason Reason, string Detail, DeliveryInfo Info) : DecodeResult(Info);
