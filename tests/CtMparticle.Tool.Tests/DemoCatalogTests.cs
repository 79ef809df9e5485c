using System.Text.Json.Nodes;
using CtMparticle.Tests.Infrastructure;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// <c>ctmp serve --demo</c>'s catalogue: the configured commercetools project's published products (the real
/// commercetools mock on loopback), and the bundled sample when there is none or it cannot be reached, with why.
/// </summary>
public sealed class DemoCatalogTests(CommercetoolsMockFixture commercetools) : IClassFixture<CommercetoolsMockFixture>, IAsyncLifetime
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-catalog-").FullName;
    private readonly HttpClient http = new(new SocketsHttpHandler()) { Timeout = TimeSpan.FromSeconds(30) };
    private ServeProcess? server;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (server is not null)
        {
            await server.DisposeAsync();
        }

        http.Dispose();
        Directory.Delete(work, recursive: true);
    }

    /// <summary>Starts ctmp serve --demo with these settings and returns its base URL.</summary>
    private async Task<string> StartAsync(Dictionary<string, string?> settings)
    {
        var environment = settings.ToDictionary(s => "CTMP_" + s.Key.Replace(":", "__", StringComparison.Ordinal), s => s.Value ?? "");
        environment["CTMP_COLLECTOR_WRITE_KEY"] = "catalog-key";
        server = await ServeProcess.StartAsync(["--demo", "--store", Path.Combine(work, "store"), "--dry-run", "--out", Path.Combine(work, "out")], environment);
        return server.BaseUrl;
    }

    [Fact]
    public async Task WithAProjectConfigured_TheDemoListsItsPublishedProducts_ByMasterSkuAndFirstPrice()
    {
        var tag = Guid.NewGuid().ToString("N")[..8];
        var type = await commercetools.SendAsync(HttpMethod.Post, "product-types", new JsonObject { ["name"] = "demo-" + tag, ["description"] = "Demo" });
        await commercetools.SendAsync(HttpMethod.Post, "products", new JsonObject
        {
            ["productType"] = new JsonObject { ["typeId"] = "product-type", ["id"] = (string)type["id"]! },
            ["name"] = new JsonObject { ["de-DE"] = "Leinenhemd", ["en"] = "Linen shirt " + tag },
            ["slug"] = new JsonObject { ["en"] = "linen-shirt-" + tag },
            ["publish"] = true,
            ["masterVariant"] = new JsonObject
            {
                ["sku"] = "CT-" + tag,
                ["prices"] = new JsonArray(
                    new JsonObject { ["value"] = new JsonObject { ["currencyCode"] = "EUR", ["centAmount"] = 5900 }, ["country"] = "DE" },
                    new JsonObject { ["value"] = new JsonObject { ["currencyCode"] = "EUR", ["centAmount"] = 6100 } }),
            },
        });
        var settings = new Dictionary<string, string?>();
        commercetools.Connect(settings);
        var baseUrl = await StartAsync(settings);

        using var response = await http.GetAsync(new Uri($"{baseUrl}/demo/products.json"));
        var products = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();

        Assert.Equal("commercetools", response.Headers.GetValues("X-Demo-Catalog").Single());
        var shirt = Assert.Single(products, p => (string?)p!["sku"] == "CT-" + tag)!;
        Assert.Equal(("Linen shirt " + tag, 61.0m, "EUR"), ((string?)shirt["name"], shirt["price"]!.GetValue<decimal>(), (string?)shirt["currency"]));
    }

    [Fact]
    public async Task WithTheProjectUnreachable_TheDemoListsTheBundledSample_AndSaysWhy()
    {
        var settings = new Dictionary<string, string?>();
        commercetools.Connect(settings, apiUrl: "http://127.0.0.1:9/");
        var baseUrl = await StartAsync(settings);

        using var response = await http.GetAsync(new Uri($"{baseUrl}/demo/products.json"));
        var products = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();

        Assert.StartsWith("bundled (", response.Headers.GetValues("X-Demo-Catalog").Single(), StringComparison.Ordinal);
        Assert.Contains(products, p => (string?)p!["sku"] == "SHIRT-LIN-M");
    }
}
