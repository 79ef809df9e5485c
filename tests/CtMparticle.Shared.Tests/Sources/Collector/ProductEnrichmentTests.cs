using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CtMparticle.Pipeline;
using CtMparticle.Sources.Collector;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Storage;
using CtMparticle.Tests.Infrastructure;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Sources.Collector;

/// <summary>
/// Storefront product events that carry only a SKU, enriched from a real commercetools-shaped catalog (the mock on
/// 127.0.0.1, with authentication), on Azurite; and left as sent, quickly, when the catalog does not answer.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class ProductEnrichmentTests(AzuriteFixture azurite, CommercetoolsMockFixture commercetools) : IClassFixture<CommercetoolsMockFixture>, IAsyncLifetime
{
    private readonly string tag = Guid.NewGuid().ToString("N")[..8];
    private EventsApiServer server = null!;

    public Task InitializeAsync()
    {
        server = new EventsApiServer();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    /// <summary>
    /// A relay on the mock's project. Lookups that should answer get seconds (a loaded CI machine can take longer than
    /// half a second for a token and a cart); the test of an unreachable catalog passes a short timeout.
    /// </summary>
    private RelayHarness Relay(string apiUrl, string timeout = "00:00:05") => RelayHarness.Create(azurite, server, s =>
    {
        commercetools.Connect(s, apiUrl);
        s["Collector:Sources:0:Name"] = "web";
        s["Collector:Sources:0:WriteKeySetting"] = "WebKey";
        s["Collector:Sources:0:Store"] = "acme-de";
        s["Collector:Sources:0:Currency"] = "EUR";
        s["Collector:Enrichment:Timeout"] = timeout;
    });

    private async Task<string> CreateProductAsync()
    {
        var type = await commercetools.SendAsync(HttpMethod.Post, "product-types", new JsonObject
        {
            ["name"] = "apparel-" + tag,
            ["description"] = "Apparel",
            ["attributes"] = new JsonArray(new JsonObject
            {
                ["name"] = "brand", ["label"] = new JsonObject { ["en"] = "Brand" }, ["isRequired"] = false,
                ["type"] = new JsonObject { ["name"] = "text" }, ["attributeConstraint"] = "None", ["isSearchable"] = false,
            }),
        });
        var sku = "SHIRT-" + tag;
        await commercetools.SendAsync(HttpMethod.Post, "products", new JsonObject
        {
            ["productType"] = new JsonObject { ["typeId"] = "product-type", ["id"] = (string)type["id"]! },
            ["name"] = new JsonObject { ["en"] = "Linen shirt", ["de-DE"] = "Leinenhemd" },
            ["slug"] = new JsonObject { ["en"] = "linen-shirt-" + tag },
            ["publish"] = true,
            ["masterVariant"] = new JsonObject
            {
                ["sku"] = sku,
                ["prices"] = new JsonArray(
                    new JsonObject { ["value"] = new JsonObject { ["currencyCode"] = "EUR", ["centAmount"] = 6100 } },
                    new JsonObject { ["value"] = new JsonObject { ["currencyCode"] = "EUR", ["centAmount"] = 5900 }, ["country"] = "DE" },
                    new JsonObject { ["value"] = new JsonObject { ["currencyCode"] = "USD", ["centAmount"] = 6500 } }),
                ["attributes"] = new JsonArray(new JsonObject { ["name"] = "brand", ["value"] = "Acme" }),
            },
        });
        return sku;
    }

    private static Inbound Call(string sku, string messageId) => new(Encoding.UTF8.GetBytes(
        "{\"type\":\"track\",\"event\":\"Product Viewed\",\"anonymousId\":\"a-1\",\"messageId\":\"" + messageId + "\",\"receivedAt\":\"2026-12-02T10:00:00Z\"," +
        "\"properties\":{\"sku\":\"" + sku + "\"},\"context\":{\"locale\":\"de-DE\",\"consent\":{\"categoryPreferences\":{\"analytics\":true}}}}"), Source: "web");

    /// <summary>The event a call stored in the outbox, as push will read it.</summary>
    private static async Task<T> StoredAsync<T>(RelayHarness relay, string messageId)
        where T : TrackingEvent =>
        (await relay.Events.ReadPendingAsync(1_000, default))
            .Select(p => JsonSerializer.Deserialize(p.Json, RelayJsonContext.Default.TrackingEvent))
            .OfType<T>()
            .Single(e => e.Context.SourceMessageId == messageId);

    [Fact]
    public async Task ProductViewedWithOnlyASku_GetsNameBrandAndTheStoresPrice_FromTheCatalog()
    {
        var sku = await CreateProductAsync();
        await using var relay = Relay(commercetools.BaseUrl.ToString());

        var outcome = await relay.Get<CollectorIngest>().IngestAsync(Call(sku, "enrich-" + tag), default);

        Assert.Equal(IngestOutcomeKind.Accepted, outcome.Kind);
        var product = (await StoredAsync<ProductViewed>(relay, "enrich-" + tag)).Product;
        Assert.Equal(("Leinenhemd", "Acme", 59.00m, sku), (product.Name, product.Brand, product.UnitPrice, product.Sku)); // the DE price before the any-country one
        Assert.NotNull(product.ProductId);
    }

    [Fact]
    public async Task CatalogUnreachable_TheEventGoesAsSent_WithoutWaitingLongerThanTheTimeout()
    {
        await using var relay = Relay("http://127.0.0.1:1/", timeout: "00:00:00.500");
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var outcome = await relay.Get<CollectorIngest>().IngestAsync(Call("SKU-NOWHERE", "down-" + tag), default);

        Assert.Equal((IngestOutcomeKind.Accepted, "catalog_unavailable"), (outcome.Kind, outcome.Info!.Unenriched));
        Assert.Null((await StoredAsync<ProductViewed>(relay, "down-" + tag)).Product.Name);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}"); // bounded by the timeout, not the API's retries
    }

    private static Inbound CheckoutStarted(string cartId, string messageId, string anonymousId = "a-1") => new(Encoding.UTF8.GetBytes(
        "{\"type\":\"track\",\"event\":\"Checkout Started\",\"anonymousId\":\"" + anonymousId + "\",\"messageId\":\"" + messageId + "\"," +
        "\"receivedAt\":\"2026-12-02T10:00:00Z\",\"properties\":{\"cart_id\":\"" + cartId + "\",\"currency\":\"USD\"," +
        "\"products\":[{\"sku\":\"WHAT-THE-BROWSER-SAID\",\"price\":1,\"quantity\":9}]}," +
        "\"context\":{\"locale\":\"de-DE\",\"consent\":{\"categoryPreferences\":{\"analytics\":true}}}}"), Source: "web");

    private Task<JsonNode> CreateCartAsync(string sku, string anonymousId) => commercetools.SendAsync(HttpMethod.Post, "carts", new JsonObject
    {
        ["currency"] = "EUR",
        ["country"] = "DE",
        ["locale"] = "de-DE",
        ["anonymousId"] = anonymousId,
        ["lineItems"] = new JsonArray(new JsonObject { ["sku"] = sku, ["quantity"] = 2 }),
    });

    [Fact]
    public async Task CheckoutStarted_NamingTheShoppersCart_TakesTheCartsLinesAndCurrency()
    {
        var sku = await CreateProductAsync();
        var cart = await CreateCartAsync(sku, "a-1");
        var cartId = (string)cart["id"]!;
        var unit = (long)cart["lineItems"]![0]!["price"]!["value"]!["centAmount"]! / 100m; // the price commercetools chose for the cart
        await using var relay = Relay(commercetools.BaseUrl.ToString());

        var outcome = await relay.Get<CollectorIngest>().IngestAsync(CheckoutStarted(cartId, "cart-" + tag), default);

        Assert.Equal(IngestOutcomeKind.Accepted, outcome.Kind);
        Assert.Null(outcome.Info!.Unenriched);
        var checkout = await StoredAsync<CheckoutStepViewed>(relay, "cart-" + tag);
        var line = Assert.Single(checkout.Products); // the cart's line, not what the browser listed
        Assert.Equal((sku, "Leinenhemd", 2L, unit, unit * 2), (line.Sku, line.Name, line.Quantity, line.UnitPrice, line.LineTotal));
        Assert.Equal(("EUR", 1, cartId), (checkout.Currency, checkout.Step, checkout.CartId));
    }

    [Fact]
    public async Task CheckoutStarted_NamingSomeoneElsesCart_GoesAsSent_AndIsCountedUnenriched()
    {
        var sku = await CreateProductAsync();
        var cartId = (string)(await CreateCartAsync(sku, "a-other"))["id"]!;
        await using var relay = Relay(commercetools.BaseUrl.ToString());

        var theirs = await relay.Get<CollectorIngest>().IngestAsync(CheckoutStarted(cartId, "foreign-" + tag), default);
        var missing = await relay.Get<CollectorIngest>().IngestAsync(CheckoutStarted(Guid.NewGuid().ToString(), "missing-" + tag), default);

        Assert.Equal((IngestOutcomeKind.Accepted, "cart_not_theirs"), (theirs.Kind, theirs.Info!.Unenriched));
        Assert.Equal((IngestOutcomeKind.Accepted, "cart_not_found"), (missing.Kind, missing.Info!.Unenriched));
        var checkout = await StoredAsync<CheckoutStepViewed>(relay, "foreign-" + tag);
        Assert.Equal(("WHAT-THE-BROWSER-SAID", 9L, "USD"), (Assert.Single(checkout.Products).Sku, checkout.Products[0].Quantity, checkout.Currency));
    }

    [Fact]
    public async Task CheckoutStarted_CommercetoolsUnreachable_GoesAsSent_AsCatalogUnavailable()
    {
        await using var relay = Relay("http://127.0.0.1:1/", timeout: "00:00:00.500");

        var outcome = await relay.Get<CollectorIngest>().IngestAsync(CheckoutStarted("cart-x", "cart-down-" + tag), default);

        Assert.Equal((IngestOutcomeKind.Accepted, "catalog_unavailable"), (outcome.Kind, outcome.Info!.Unenriched));
        Assert.Equal("WHAT-THE-BROWSER-SAID", Assert.Single((await StoredAsync<CheckoutStepViewed>(relay, "cart-down-" + tag)).Products).Sku);
    }

    [Fact]
    public void Price_PrefersTheCountrysPrice_ValidNow_InTheCurrency_AndTheDiscountedValue()
    {
        var now = new DateTimeOffset(2026, 12, 2, 0, 0, 0, TimeSpan.Zero);
        static CtMoney Eur(long cents) => new() { CurrencyCode = "EUR", CentAmount = cents, FractionDigits = 2 };
        CtCatalogPrice[] prices =
        [
            new() { Value = Eur(6100) },
            new() { Value = Eur(5900), Country = "DE", ValidUntil = now.AddDays(-1) },                       // expired
            new() { Value = Eur(5800), Country = "DE", Discounted = new CtDiscountedPrice { Value = Eur(4900) } },
            new() { Value = Eur(1000), Country = "DE", CustomerGroup = new CtReference { TypeId = "customer-group", Id = "b2b" } },
            new() { Value = new CtMoney { CurrencyCode = "USD", CentAmount = 7000, FractionDigits = 2 } },
        ];

        Assert.Equal(49.00m, ProductCatalog.Price(prices, "EUR", "DE", now));
        Assert.Equal(61.00m, ProductCatalog.Price(prices, "EUR", "AT", now));
        Assert.Equal(70.00m, ProductCatalog.Price(prices, "USD", "DE", now));
        Assert.Null(ProductCatalog.Price(prices, "GBP", "GB", now));
    }
}
