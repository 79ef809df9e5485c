using CtMparticle.Pipeline;
using CtMparticle.Tracking;

namespace CtMparticle.Sources.Commercetools;

/// <summary>A decoded commercetools message or change notification.</summary>
internal sealed record CtDecoded(CtDelivery Delivery) : SourceItem;

/// <summary>A <c>payloadNotIncluded</c> message: the resource must be fetched before anything else.</summary>
internal sealed record CtToFetch(FetchRequired Fetch) : SourceItem;

/// <summary>A delivery with everything mapping needs: the order context it refers to, when it has one.</summary>
internal sealed record CtResolved(CtDelivery Delivery, OrderContext? Context) : SourceItem;

/// <summary>
/// The commercetools source: Service Bus bodies (Platform or CloudEvents) → <see cref="DeliveryDecoder"/> →
/// <see cref="CommercetoolsResolver"/> (payloads left out, order context) → <see cref="CommercetoolsMapper"/>.
/// </summary>
internal sealed class CommercetoolsSource(CommercetoolsMapper mapper, CommercetoolsResolver resolver) : ISource
{
    public Flow<SourceItem> Decode(Inbound inbound)
    {
        var result = DeliveryDecoder.Decode(inbound.Body.Span);
        var info = InfoOf(result.Info);
        return result switch
        {
            Decoded decoded => Flow<SourceItem>.Go(info, new CtDecoded(decoded.Delivery)),
            FetchRequired fetch => Flow<SourceItem>.Go(info, new CtToFetch(fetch)),
            DecodeFiltered filtered => Flow<SourceItem>.Stop(info, new Filter(filtered.Reason, filtered.Detail)),
            DecodeRejected rejected => Flow<SourceItem>.Stop(info, new Reject("decode", rejected.Reason, rejected.Detail)),
            _ => throw new InvalidOperationException("Unknown decode result."),
        };
    }

    public Task<Flow<SourceItem>> ResolveAsync(Flow<SourceItem> decoded, CancellationToken cancellationToken) =>
        resolver.ResolveAsync(decoded, cancellationToken);

    public Flow<MappedEvents> Map(Flow<SourceItem> resolved)
    {
        if (resolved.Halt is not null)
        {
            return resolved.Halted<MappedEvents>();
        }

        if (resolved.Value is not CtResolved item)
        {
            throw new InvalidOperationException("Map needs a delivery the resolve stage resolved.");
        }

        return mapper.Map(item.Delivery, item.Context) switch
        {
            Mapped mapped => Flow<MappedEvents>.Go(resolved.Info, new MappedEvents(mapped.Events, mapped.OrderContext)),
            MappingFiltered filtered => Flow<MappedEvents>.Stop(resolved.Info, new Filter(filtered.Reason, filtered.Detail) { OrderContext = filtered.OrderContext }),
            MappingNeedsContext missing => Flow<MappedEvents>.Stop(resolved.Info, new Reject("map", missing.Reason, missing.Detail)),
            MappingInvalid invalid => Flow<MappedEvents>.Stop(resolved.Info, new Reject("map", invalid.Reason, invalid.Detail)),
            _ => throw new InvalidOperationException("Unknown mapping result."),
        };
    }

    private static InputInfo InfoOf(DeliveryInfo info) =>
        new(info.Format.ToString(), info.MessageId, info.MessageType, info.ResourceTypeId, info.ResourceId);
}
