using CtMparticle.Configuration;
using CtMparticle.Tracking;
using Microsoft.Extensions.Options;

namespace CtMparticle.Sources.Commercetools;

/// <summary>What the catalog says about a SKU for one store: its name in the store's locale, brand, and price in the currency.</summary>
internal sealed record CatalogProduct(string? ProductId, string? Name, string? Brand, decimal? Price);

/// <summary>A catalog lookup's answer: the product (null when commercetools has none), or that it did not answer in time.</summary>
internal sealed record CatalogAnswer(CatalogProduct? Product, bool Answered);

/// <summary>Why a checkout event goes without its cart's lines: the <c>unenriched</c> reasons.</summary>
internal static class CartMiss
{
    public const string Unavailable = "catalog_unavailable";
    public const string NotFound = "cart_not_found";
    public const string NotTheirs = "cart_not_theirs";
    public const string Unusable = "cart_unusable";
}

/// <summary>A cart's lines and currency, or why the event goes without them (an <c>unenriched</c> reason).</summary>
internal sealed record CartAnswer(IReadOnlyList<ProductLine>? Lines, string? Currency, string? Miss);

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

        if (await WithinTimeoutAsync(token => client.FindProductBySkuAsync(sku, token), cancellationToken).ConfigureAwait(false) is not { } found)
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
    /// The cart's lines as a purchase of it would carry them, when the cart belongs to the shopper who sent the event
    /// (its customer id is the call's <c>userId</c> or its anonymous id the call's <c>anonymousId</c>): a cart id from
    /// a browser is not proof enough to read someone else's cart into their profile. Never cached (carts change).
    /// </summary>
    public async Task<CartAnswer> FindCartAsync(string cartId, string? userId, string? anonymousId, string? storeLocale, MappingOptions mapping, CancellationToken cancellationToken)
    {
        if (await WithinTimeoutAsync(token => client.GetCartAsync(cartId, token), cancellationToken).ConfigureAwait(false) is not { } found)
        {
            return new CartAnswer(null, null, CartMiss.Unavailable);
        }

        if (found.Value is not { } cart)
        {
            return new CartAnswer(null, null, found.Status == 404 ? CartMiss.NotFound : CartMiss.Unavailable);
        }

        var theirs = (cart.CustomerId is not null && string.Equals(cart.CustomerId, userId, StringComparison.Ordinal))
            || (cart.AnonymousId is not null && string.Equals(cart.AnonymousId, anonymousId, StringComparison.Ordinal));
        if (!theirs)
        {
            return new CartAnswer(null, null, CartMiss.NotTheirs);
        }

        return PurchaseMapper.CartLines(cart, storeLocale, mapping) is { } lines
            ? new CartAnswer(lines.Lines, lines.Currency, null)
            : new CartAnswer(null, null, CartMiss.Unusable);
    }

    /// <summary>The fetch's answer, or null when commercetools did not answer within <c>Collector:Enrichment:Timeout</c>.</summary>
    private async Task<CtFetch<T>?> WithinTimeoutAsync<T>(Func<CancellationToken, Task<CtFetch<T>>> fetch, CancellationToken cancellationToken)
        where T : class
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.Enrichment.Timeout);
        try
        {
            return await fetch(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
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
