using System.Text.Json;
using System.Text.Json.Nodes;
using CtMparticle.Configuration;
using CtMparticle.Pipeline;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Telemetry;
using Microsoft.Extensions.Options;

namespace CtMparticle.Sources.Collector;

/// <summary>
/// The storefront source: one Segment call per input (the collector splits batches), as stored by
/// <see cref="CollectorCalls"/> → <see cref="SegmentDecoder"/> → product details from the commercetools catalog
/// (<see cref="ProductCatalog"/>) → <see cref="SegmentMapper"/>.
/// </summary>
internal sealed class CollectorSource(
    IOptions<CollectorOptions> options, IOptions<MParticleOptions> routing, IOptions<MappingOptions> mapping, ProductCatalog catalog, RelayMetrics metrics) : ISource
{
    public const string Format = "Segment";

    /// <summary>Room for the fields the collector adds to a call (messageId, receivedAt, type) beyond the client's limit.</summary>
    private const int NormalizedSlack = 160;

    public Flow<SourceItem> Decode(Inbound inbound)
    {
        var sourceName = inbound.Source ?? "";
        var (parsed, refusal) = SegmentDecoder.Parse(inbound.Body.Span);
        var info = InfoOf(parsed, sourceName);
        if (parsed is null)
        {
            return Flow<SourceItem>.Stop(info, new Reject("decode", refusal!.Reason, refusal.Detail));
        }

        if (inbound.Body.Length > options.Value.MaxEventBytes + NormalizedSlack)
        {
            return Flow<SourceItem>.Stop(info, new Reject("decode", Reason.BodyTooLarge,
                $"The call is larger than {options.Value.MaxEventBytes / 1024} KB (Collector:MaxEventBytes)."));
        }

        if (Find(sourceName) is null)
        {
            return Flow<SourceItem>.Stop(info, new Reject("decode", Reason.UnknownSource,
                $"No collector source is named '{SegmentDecoder.Safe(sourceName)}' (Collector:Sources); add it back to replay this call."));
        }

        var (call, problem) = SegmentDecoder.Decode(parsed, sourceName);
        return call is null
            ? Flow<SourceItem>.Stop(info, problem!.Reason == Reason.UnsupportedMessageType
                ? new Filter(problem.Reason, problem.Detail)
                : new Reject("decode", problem.Reason, problem.Detail))
            : Flow<SourceItem>.Go(info, call);
    }

    private static readonly HashSet<string> ProductEvents = new(StringComparer.Ordinal) { "Product Viewed", "Product Added", "Product Removed" };

    /// <summary>
    /// Resolve, where a commercetools project is configured: a product event that carries a SKU but not its name or
    /// price gets them from the published catalog, in the source store's currency, country and locale; a
    /// <c>Checkout Started</c> naming the shopper's cart (<c>cart_id</c>) takes the cart's lines. Never holds the call
    /// up past the enrichment timeout and never fails it: without an answer the event goes as sent, and the input is
    /// counted as unenriched with the reason.
    /// </summary>
    public async Task<Flow<SourceItem>> ResolveAsync(Flow<SourceItem> decoded, CancellationToken cancellationToken)
    {
        if (decoded.Value is not SegmentCall { Type: SegmentTypes.Track } call || !catalog.IsConfigured)
        {
            return decoded;
        }

        if (call.Event == "Checkout Started")
        {
            return await CartAsync(decoded, call, cancellationToken).ConfigureAwait(false);
        }

        return ProductEvents.Contains(call.Event ?? "") ? await ProductAsync(decoded, call, cancellationToken).ConfigureAwait(false) : decoded;
    }

    private async Task<Flow<SourceItem>> ProductAsync(Flow<SourceItem> decoded, SegmentCall call, CancellationToken cancellationToken)
    {
        var p = call.Properties;
        var sku = SegmentMapper.Text(p, "sku") ?? SegmentMapper.Text(p, "product_id");
        if (sku is null || (p["name"] is not null && p["price"] is not null))
        {
            return decoded;
        }

        var source = Find(call.Source)!;
        var store = routing.Value.FindStore(source.Store);
        var currency = SegmentMapper.Text(p, "currency")?.ToUpperInvariant() ?? source.Currency ?? options.Value.DefaultCurrency;
        var locale = call.Context.Locale ?? store?.Locale ?? mapping.Value.DefaultLocale;
        var answer = await catalog.FindAsync(sku, currency, store?.DefaultCountry, locale, cancellationToken).ConfigureAwait(false);
        if (answer.Product is not { } product)
        {
            return Unenriched(decoded, answer.Answered ? "product_not_found" : CartMiss.Unavailable);
        }

        var enriched = (JsonObject)p.DeepClone();
        SetIfAbsent(enriched, "name", product.Name);
        SetIfAbsent(enriched, "brand", product.Brand);
        if (enriched["price"] is null && product.Price is { } price)
        {
            enriched["price"] = price;
            enriched["currency"] = currency;
        }

        SetIfAbsent(enriched, "product_id", product.ProductId);
        metrics.Events("enriched", 1);
        return Flow<SourceItem>.Go(decoded.Info, call with { Properties = enriched });
    }

    private async Task<Flow<SourceItem>> CartAsync(Flow<SourceItem> decoded, SegmentCall call, CancellationToken cancellationToken)
    {
        if ((SegmentMapper.Text(call.Properties, "cart_id") ?? SegmentMapper.Text(call.Properties, "checkout_id")) is not { } cartId)
        {
            return decoded;
        }

        var store = routing.Value.FindStore(Find(call.Source)!.Store);
        var answer = await catalog.FindCartAsync(cartId, call.UserId, call.AnonymousId, store?.Locale, mapping.Value, cancellationToken).ConfigureAwait(false);
        if (answer.Lines is not { } lines)
        {
            return Unenriched(decoded, answer.Miss!);
        }

        metrics.Events("enriched", 1);
        return Flow<SourceItem>.Go(decoded.Info, call with { Cart = new CartLines(lines, answer.Currency!) });
    }

    private Flow<SourceItem> Unenriched(Flow<SourceItem> decoded, string reason)
    {
        metrics.Events("unenriched", 1, reason);
        return decoded with { Info = decoded.Info with { Unenriched = reason } };
    }

    private static void SetIfAbsent(JsonObject properties, string name, string? value)
    {
        if (properties[name] is null && value is not null)
        {
            properties[name] = value;
        }
    }


    public Flow<MappedEvents> Map(Flow<SourceItem> resolved)
    {
        if (resolved.Halt is not null)
        {
            return resolved.Halted<MappedEvents>();
        }

        if (resolved.Value is not SegmentCall call)
        {
            throw new InvalidOperationException("Map needs a decoded Segment call.");
        }

        return SegmentMapper.Map(call, resolved.Info, options.Value, Find(call.Source)!);
    }

    private CollectorSourceOptions? Find(string name) =>
        options.Value.Sources.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.Ordinal));

    /// <summary>Ids for logs, the ledger and quarantine: the message id, the call (the event's name for track), the source.</summary>
    private static InputInfo InfoOf(JsonObject? call, string source)
    {
        static string? Read(JsonObject? o, string name) =>
            o?[name] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? SegmentDecoder.Safe(v.GetValue<string>()) : null;

        var type = Read(call, "type");
        var messageType = type == SegmentTypes.Track && Read(call, "event") is { } name ? name : type;
        return new InputInfo(Format, Read(call, "messageId"), messageType, "collector-source", source);
    }
}
