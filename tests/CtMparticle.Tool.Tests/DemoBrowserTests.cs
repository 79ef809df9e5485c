using System.Text.Json.Nodes;
using Microsoft.Playwright;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// The demo shop and the first-party tracker in a real browser: Debian's headless Chromium driven by Playwright,
/// against the real <c>ctmp serve --demo</c> on loopback. Assertions read what the relay recorded (the dry-run request
/// bodies, the server's closing summary), never the page's own state. Screenshots of each step are kept under
/// <c>screenshots/</c> in the test output folder.
/// </summary>
public sealed class DemoBrowserTests : IAsyncLifetime
{
    private const string Key = "demo-browser-key";

    private readonly string work = Directory.CreateTempSubdirectory("ctmp-demo-").FullName;
    private ServeProcess? server;
    private IPlaywright? playwright;
    private IBrowser? browser;
    private string baseUrl = "";
    private readonly List<string> pageErrors = [];

    private string Out => Path.Combine(work, "requests");

    /// <summary>Debian's chromium (apt-get install chromium), or the one CTMP_CHROMIUM names.</summary>
    private static string ChromiumPath
    {
        get
        {
#pragma warning disable RS0030 // a test machine's setting, not the relay's
            var path = Environment.GetEnvironmentVariable("CTMP_CHROMIUM") ?? "/usr/bin/chromium";
#pragma warning restore RS0030
            return File.Exists(path)
                ? path
                : throw new InvalidOperationException($"No Chromium at {path}: install Debian's package (apt-get install chromium), as .ci/run does, or set CTMP_CHROMIUM.");
        }
    }

    public async Task InitializeAsync()
    {
        // Before anything starts: xUnit does not dispose a class whose InitializeAsync failed, so a missing browser found
        // after the server started left that ctmp serve process running.
        var chromium = ChromiumPath;
        server = await ServeProcess.StartAsync(
            ["--demo", "--store", Path.Combine(work, "store"), "--dry-run", "--out", Out, "--push-every", "00:00:00.300"],
            new Dictionary<string, string> { ["CTMP_COLLECTOR_WRITE_KEY"] = Key });
        baseUrl = server.BaseUrl;
        var demo = await server.Output.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith($"demo shop: {baseUrl}/demo/", demo, StringComparison.Ordinal);

        playwright = await Playwright.CreateAsync();
        browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = chromium, Headless = true, Args = ["--no-sandbox"] });
    }

    public async Task DisposeAsync()
    {
        if (browser is not null)
        {
            await browser.DisposeAsync();
        }

        playwright?.Dispose();
        if (server is not null)
        {
            await server.DisposeAsync();
        }

        Directory.Delete(work, recursive: true);
        Assert.True(pageErrors.Count == 0, "The page threw: " + string.Join(" | ", pageErrors));
    }

    /// <summary>A fresh browser profile (no cookies, no storage) on the demo's first page.</summary>
    private async Task<(IBrowserContext Context, IPage Page)> OpenAsync()
    {
        var context = await browser!.NewContextAsync(new() { ViewportSize = new() { Width = 1100, Height = 800 } });
        var page = await context.NewPageAsync();
        page.PageError += (_, error) => pageErrors.Add(error); // an error in the demo or the tracker fails the test
        await page.GotoAsync($"{baseUrl}/demo/");
        await page.WaitForSelectorAsync("#consent-accept");
        return (context, page);
    }

    private static async Task ShotAsync(IPage page, string test, string step)
    {
        var folder = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "screenshots", test)).FullName;
        await page.ScreenshotAsync(new() { Path = Path.Combine(folder, step + ".png"), FullPage = true });
    }

    /// <summary>Every event the relay sent (the dry-run bodies): its name or product action, identities and id.</summary>
    private List<(string Name, Dictionary<string, string> Ids, string Id, JsonNode Data)> Sent() =>
        !Directory.Exists(Out) ? [] :
        [.. Directory.GetFiles(Out).Order(StringComparer.Ordinal)
            .SelectMany(f => JsonNode.Parse(File.ReadAllText(f))!.AsArray())
            .SelectMany(b => b!["events"]!.AsArray().Select(e => (
                Name: (string?)e!["data"]!["event_name"] ?? (string?)e["data"]!["screen_name"]
                    ?? (string?)e["data"]!["product_action"]?["action"] ?? (e["data"]!["product_impressions"] is not null ? "product_impressions" : "?"),
                Ids: b["user_identities"]!.AsObject().ToDictionary(p => p.Key, p => (string)p.Value!, StringComparer.Ordinal),
                Id: (string)e["data"]!["source_message_id"]!,
                Data: e["data"]!)))];

    /// <summary>What the relay quarantined (reason folders and files), for failure messages.</summary>
    private string Quarantined()
    {
        var folder = Path.Combine(work, "store", "quarantine");
        return Directory.Exists(folder)
            ? string.Join("; ", Directory.GetFiles(folder, "*.json", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(folder, f) + " " + File.ReadAllText(f)[..Math.Min(400, (int)new FileInfo(f).Length)]))
            : "nothing";
    }

    /// <summary>Waits (bounded) until the relay has sent what <paramref name="done"/> asks for.</summary>
    private async Task<List<(string Name, Dictionary<string, string> Ids, string Id, JsonNode Data)>> WaitForAsync(
        Func<List<(string Name, Dictionary<string, string> Ids, string Id, JsonNode Data)>, bool> done, string what)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (true)
        {
            var sent = Sent();
            if (done(sent))
            {
                return sent;
            }

            Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(30), $"The relay did not send {what} within 30 s; it sent: {string.Join(", ", sent.Select(s => s.Name))}");
            await Task.Delay(200);
        }
    }

    /// <summary>Stops the server (SIGTERM: it drains) and returns its closing summary line.</summary>
    private async Task<string> StopAsync()
    {
        var (exit, rest) = await server!.StopAsync();
        Assert.Equal(0, exit);
        return rest;
    }

    [Fact]
    public async Task ConsentRefused_NothingIsSent()
    {
        var (context, page) = await OpenAsync();
        await ShotAsync(page, nameof(ConsentRefused_NothingIsSent), "1-banner");
        await page.ClickAsync("#consent-refuse");
        await page.ClickAsync("[data-sku='SNK-WHT-42']");
        await page.ClickAsync("#add");
        await page.ClickAsync("#nav-cart");
        await page.WaitForSelectorAsync("#checkout");
        await ShotAsync(page, nameof(ConsentRefused_NothingIsSent), "2-cart");
        await page.WaitForTimeoutAsync(2000); // several of the tracker's flush intervals and the relay's push intervals
        await context.CloseAsync();

        var summary = await StopAsync();

        Assert.Empty(Sent());
        Assert.Contains("ctmp serve: 0 call(s)", summary, StringComparison.Ordinal); // nothing even reached the collector
    }

    [Fact]
    public async Task ConsentGiven_BrowseCartCheckoutSignInPurchase_ArriveAsTheirMParticleEvents()
    {
        const string test = nameof(ConsentGiven_BrowseCartCheckoutSignInPurchase_ArriveAsTheirMParticleEvents);
        var (context, page) = await OpenAsync();
        await page.ClickAsync("#consent-accept");
        await ShotAsync(page, test, "1-products");
        await page.ClickAsync("[data-sku='SHIRT-LIN-M']");
        await page.ClickAsync("#add");
        await ShotAsync(page, test, "2-product");
        await page.GotoAsync($"{baseUrl}/demo/#/product/MUG-ACME");
        await page.ClickAsync("#add");
        await page.ClickAsync("#nav-cart");
        await page.ClickAsync("[data-remove='MUG-ACME']");
        await ShotAsync(page, test, "3-cart");
        await page.ClickAsync("#nav-signin");
        await page.ClickAsync("#signin");
        await page.WaitForSelectorAsync("#signout:not([hidden])");
        await page.ClickAsync("#nav-cart");
        await page.ClickAsync("#checkout");
        await page.ClickAsync("#next");
        await page.CheckAsync("input[value=express]");
        await page.ClickAsync("#next");
        await ShotAsync(page, test, "4-payment");
        await page.ClickAsync("#place");
        await page.WaitForSelectorAsync("#order-id");
        await ShotAsync(page, test, "5-confirmation");

        var sent = await WaitForAsync(s => s.Any(e => e.Name == "purchase"), "the purchase");
        await context.CloseAsync();
        await StopAsync();
        var report = (await CtmpCommandTests.RunAsync("report", "--store", Path.Combine(work, "store"))).Stdout;

        var names = sent.Select(e => e.Name).ToList();
        foreach (var expected in new[] { "Consent Updated", "Product List", "product_impressions", "view_detail", "add_to_cart", "remove_from_cart", "Cart", "Signed In", "checkout", "purchase", "Order Confirmation" })
        {
            Assert.True(names.Contains(expected), $"{expected} was not sent; the relay sent {string.Join(", ", names)}; quarantined: {Quarantined()}");
        }

        Assert.Equal(3, sent.Count(e => e.Name == "checkout")); // address, shipping, payment
        Assert.Equal("express", (string?)sent.Single(e => e.Name == "checkout" && (int?)e.Data["product_action"]?["checkout_step"] == 2).Data["product_action"]?["checkout_options"]);
        var purchase = sent.Single(e => e.Name == "purchase");
        Assert.StartsWith("demo-customer-", purchase.Ids["customer_id"], StringComparison.Ordinal);
        Assert.Equal("SHIRT-LIN-M", Assert.Single(purchase.Data["product_action"]!["products"]!.AsArray())!["id"]!.GetValue<string>());
        Assert.Single(sent.Select(e => e.Ids["other"]).Distinct()); // one browser: one anonymous id throughout
        Assert.Equal(sent.Count, sent.Select(e => e.Id).Distinct().Count()); // nothing twice
        Assert.Contains("Reconciles: yes", report, StringComparison.Ordinal); // the relay's own accounting of the same calls
        Assert.Matches(@"quarantined\s+0\b", report);
        Assert.Matches($@"Events stored\s+{sent.Count}: delivered {sent.Count}, pending 0", report); // every stored event went out
    }

    [Fact]
    public async Task OfflineForAWhile_QueuedCallsArriveOnceWhenBackOnline()
    {
        const string test = nameof(OfflineForAWhile_QueuedCallsArriveOnceWhenBackOnline);
        var (context, page) = await OpenAsync();
        await page.ClickAsync("#consent-accept");
        await WaitForAsync(s => s.Any(e => e.Name == "product_impressions"), "the product list");
        await context.SetOfflineAsync(true);
        await page.ClickAsync("[data-sku='CAP-NVY']");
        await page.ClickAsync("#add");
        await ShotAsync(page, test, "1-offline");
        await page.WaitForTimeoutAsync(2500); // the tracker tries, fails, backs off
        Assert.DoesNotContain(Sent(), e => e.Name == "add_to_cart");

        await context.SetOfflineAsync(false);
        var sent = await WaitForAsync(s => s.Any(e => e.Name == "add_to_cart"), "the cart add made offline");
        await page.WaitForTimeoutAsync(1500); // any second copy would have arrived by now
        sent = Sent();
        await context.CloseAsync();

        Assert.Single(sent, e => e.Name == "add_to_cart");
        Assert.Single(sent, e => e.Name == "view_detail");
        Assert.Equal(sent.Count, sent.Select(e => e.Id).Distinct().Count());
    }

    [Fact]
    public async Task PageClosedRightAfterAClick_TheCallStillArrives()
    {
        var (context, page) = await OpenAsync();
        await page.ClickAsync("#consent-accept");
        await page.ClickAsync("[data-sku='SCARF-RED']");
        await page.WaitForSelectorAsync("#add");
        await page.ClickAsync("#add");
        await page.CloseAsync(new() { RunBeforeUnload = true }); // before the tracker's own flush interval is over

        var sent = await WaitForAsync(s => s.Any(e => e.Name == "add_to_cart"), "the cart add of the closed page");
        await context.CloseAsync();

        Assert.Equal("SCARF-RED", sent.Single(e => e.Name == "add_to_cart").Data["product_action"]!["products"]![0]!["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task AReloadKeepsTheAnonymousId_AndSignOutStartsANewOne()
    {
        const string test = nameof(AReloadKeepsTheAnonymousId_AndSignOutStartsANewOne);
        var (context, page) = await OpenAsync();
        await page.ClickAsync("#consent-accept");
        await page.ClickAsync("[data-sku='CHINO-BEI-32']");
        await page.ReloadAsync();
        await page.WaitForSelectorAsync("#add");
        await page.ClickAsync("#nav-signin");
        await page.ClickAsync("#signin");
        await page.WaitForSelectorAsync("#signout:not([hidden])");
        await ShotAsync(page, test, "1-signed-in");
        await page.ClickAsync("#signout");
        await page.GotoAsync($"{baseUrl}/demo/#/product/CAP-NVY");
        await page.WaitForSelectorAsync("#add");
        await ShotAsync(page, test, "2-signed-out");

        var sent = await WaitForAsync(s => s.Count(e => e.Name == "view_detail") >= 3, "three product views");
        await context.CloseAsync();

        var views = sent.Where(e => e.Name == "view_detail").ToList();
        Assert.Equal(views[0].Ids["other"], views[1].Ids["other"]); // before and after the reload
        var after = views.Single(v => (string?)v.Data["product_action"]!["products"]![0]!["id"] == "CAP-NVY");
        Assert.NotEqual(views[0].Ids["other"], after.Ids["other"]);
        Assert.False(after.Ids.ContainsKey("customer_id")); // the next shopper on this browser is nobody known
        Assert.Contains(sent, e => e.Name == "Signed Out" && e.Ids.GetValueOrDefault("other") == views[0].Ids["other"]);
    }
}
