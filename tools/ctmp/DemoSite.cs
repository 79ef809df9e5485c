using System.Text.Json;
using CtMparticle.Sources.Commercetools;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;

namespace CtMparticle.Tool;

/// <summary>
/// <c>ctmp serve --demo</c>: the demo shop (clients/web/demo, copied beside ctmp as <c>demo/</c>) at <c>/demo/</c>,
/// <c>/demo/config.json</c> with the write key its tracker sends (a write key is public by design, as Segment's is),
/// and <c>/demo/products.json</c>: the commercetools project's first published products when one is configured
/// (so the relay's enrichment finds them), else the bundled sample.
/// </summary>
internal static class DemoSite
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "demo");

    /// <summary>Products the demo lists at most.</summary>
    public const int CatalogSize = 12;

    /// <param name="catalog">The commercetools client when a project is configured, else null (the bundled sample).</param>
    public static void Map(WebApplication app, string writeKey, Func<CommercetoolsClient>? catalog)
    {
        if (!File.Exists(Path.Combine(Folder, "index.html")))
        {
            throw new InvalidOperationException($"The demo shop is missing from {Folder}; rebuild ctmp (it copies clients/web/demo and clients/web/dist/ctmp.mjs).");
        }

        var config = Config(writeKey);
        app.Use(async (http, next) =>
        {
            var path = http.Request.Path.Value ?? "";
            if (path is "/" or "/demo")
            {
                http.Response.Redirect("/demo/");
                return;
            }

            if (path == "/demo/products.json" && catalog is not null)
            {
                var fetched = await catalog().ListProductsAsync(CatalogSize, http.RequestAborted).ConfigureAwait(false);
                var products = fetched.Value?.Results.Select(Product).OfType<DemoProduct>().ToArray() ?? [];
                if (products.Length > 0)
                {
                    http.Response.ContentType = "application/json";
                    http.Response.Headers.CacheControl = "no-store";
                    http.Response.Headers["X-Demo-Catalog"] = "commercetools";
                    await http.Response.Body.WriteAsync(Products(products), http.RequestAborted).ConfigureAwait(false);
                    return;
                }

                // Unreachable, refused, or no published product with a SKU and a price: the bundled sample, and why.
                http.Response.Headers["X-Demo-Catalog"] = $"bundled ({(fetched.Value is null ? fetched.Problem : "no published product with a SKU and a price")})";
            }

            if (path == "/demo/config.json")
            {
                http.Response.ContentType = "application/json";
                http.Response.Headers.CacheControl = "no-store";
                await http.Response.Body.WriteAsync(config, http.RequestAborted).ConfigureAwait(false);
                return;
            }

            await next(http).ConfigureAwait(false);
        });
        var files = new PhysicalFileProvider(Folder);
        var types = new FileExtensionContentTypeProvider();
        types.Mappings[".mjs"] = "text/javascript";
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files, RequestPath = "/demo" });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            RequestPath = "/demo",
            ContentTypeProvider = types,
            OnPrepareResponse = context => context.Context.Response.Headers.CacheControl = "no-cache",
        });
    }

    /// <summary>One demo product from a published commercetools product: its master variant's SKU and first price (one without a country, group or channel first).</summary>
    internal static DemoProduct? Product(CtProductProjection product)
    {
        var variant = product.MasterVariant;
        var price = variant.Prices?.FirstOrDefault(p => p.Country is null && p.CustomerGroup is null && p.Channel is null) ?? variant.Prices?.FirstOrDefault();
        if (variant.Sku is not { Length: > 0 } sku || price is null)
        {
            return null;
        }

        var name = product.Name is { Count: > 0 } names ? names.GetValueOrDefault("en") ?? names.Values.First() : sku;
        var amount = price.Value.CentAmount / (decimal)Math.Pow(10, price.Value.FractionDigits);
        return new DemoProduct(product.Id, sku, name, amount, price.Value.CurrencyCode);
    }

    private static byte[] Products(IEnumerable<DemoProduct> products)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var p in products)
            {
                json.WriteStartObject();
                json.WriteString("product_id", p.ProductId);
                json.WriteString("sku", p.Sku);
                json.WriteString("name", p.Name);
                json.WriteNumber("price", p.Price);
                json.WriteString("currency", p.Currency);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        return buffer.ToArray();
    }

    private static byte[] Config(string writeKey)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("writeKey", writeKey);
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }
}

/// <summary>A product as the demo shop lists it.</summary>
internal sealed record DemoProduct(string ProductId, string Sku, string Name, decimal Price, string Currency);
