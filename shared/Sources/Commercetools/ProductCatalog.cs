using CtMparticle.Configuration;
using Microsoft.Extensions.Options;

namespace CtMparticle.Sources.Commercetools;

/// <summary>What the catalog says about a SKU for one store: its name in the store's locale, brand, and price in the currency.</summary>
internal sealed record CatalogProduct(string? ProductId, string? Name, string? Brand, decimal? Price);

/// <summary>A catalog lookup's answer: the product (null when commercetools has none), or that it did not answer in time.</summary>
internal sealed record CatalogAnswer(CatalogProduct? Product, bool Answered);

/// <summary>
/// Recent catalog answers, bounded in entries and age (least recently used go first), shared by every lookup of
/// the process. A SKU commercetools does not know is remembered too, for a shorter time.
/// </summary>
internal sealed class ProductCatalogCache(IOptions<CollectorOptions> options, TimeProvider time)
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, LinkedListNode<(string Key, CatalogProduct? Product, DateTimeOffset Expires)>> entries = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Key, CatalogProduct? Product, DateTimeOffset Expires)> order = new();

    public bool TryGet(string key, out CatalogProduct? product)
    {
        lock (gate)
        {
            product = null;
            if (!entries.TryGetValue(key, out var node))
            {
                return false;
            }

            if (node.Value.Expires <= time.GetUtcNow())
            {
                order.Remove(node);
                entries.Remove(key);
                return false;
            }

            order.Remove(node);
            order.AddFirst(node);
            product = node.Value.Product;
            return true;
        }
    }

    public void Put(string key, CatalogProduct? product)
    {
        var o = options.Value.Enrichment;
        var expires = time.GetUtcNow() + (product is null ? o.MissingTtl : o.Ttl);
        lock (gate)
        {
            if (entries.Remove(key, out var old))
            {
                order.Remove(old);
            }

            entries[key] = order.AddFirst((key, product, expires));
            while (entries.Count > o.CacheSize && order.Last is { } last)
            {
                order.RemoveLast();
                entries.Remove(last.Value.Key);
            }
        }
    }
}

/// <summary>
/// Product details from commercetools' published catalog, for storefront events that carry only a SKU: never holding
/// ingest up longer than <c>Collector:Enrichment:Timeout</c>, and answering "did not answer" rather than failing.
/// </summary>
internal sealed class ProductCatalog(CommercetoolsClient client, ProductCatalogCache cache, IOptions<CollectorOptions> options, TimeProvider time)
{
    public bool IsConfigured => client.IsConfigured && options.Value.Enrichment.Enabled;

    public async Task<CatalogAnswer> FindAsync(string sku, string currency, string? country, string locale, CancellationToken cancellationToken)
    {
        var key = $"{sku}|{currency}|{country}|{locale}";
        if (cache.TryGet(key, out var cached))
        {
            return new CatalogAnswer(cached, true);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.Enrichment.Timeout);
        CtFetch<CtProductProjection> found;
        try
        {
            found = await client.FindProductBySkuAsync(sku, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new CatalogAnswer(null, false); // slow: the event goes as sent
        }

        if (found.Value is not { } product)
        {
            if (found.Status == 404)
            {
                cache.Put(key, null);
                return new CatalogAnswer(null, true);
            }

            return new CatalogAnswer(null, false); // down, throttled, credentials refused: the event goes as sent
        }

        var variant = new[] { product.MasterVariant }.Concat(product.Variants ?? []).FirstOrDefault(v => v.Sku == sku) ?? product.MasterVariant;
        var entry = new CatalogProduct(
            product.Id,
            LocalizedNames.Pick(product.Name, locale, null, locale),
            variant.Attributes?.FirstOrDefault(a => a.Name == "brand" && a.Value.ValueKind == System.Text.Json.JsonValueKind.String)?.Value.GetString(),
            Price(variant.Prices, currency, country, time.GetUtcNow()));
        cache.Put(key, entry);
        return new CatalogAnswer(entry, true);
    }

    /// <summary>
    /// The price a shopper without a customer group or channel sees: in the currency, valid now, the country's own
    /// before a price for any country; the discounted value when a product discount applies. Amounts exact (MoneyMath).
    /// </summary>
    public static decimal? Price(IReadOnlyList<CtCatalogPrice>? prices, string currency, string? country, DateTimeOffset now)
    {
        var candidates = (prices ?? [])
            .Where(p => p.Value.CurrencyCode == currency && p.CustomerGroup is null && p.Channel is null
                && (p.ValidFrom is null || p.ValidFrom <= now) && (p.ValidUntil is null || p.ValidUntil > now)
                && (p.Country is null || p.Country == country))
            .OrderBy(p => p.Country is null ? 1 : 0)
            .ToList();
        if (candidates.Count == 0)
        {
            return null;
        }

        var chosen = candidates[0];
        return MoneyMath.ToDecimal(chosen.Discounted?.Value ?? chosen.Value);
    }
}
