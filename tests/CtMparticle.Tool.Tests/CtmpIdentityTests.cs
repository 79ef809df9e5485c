using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// Identity as stories, from outside: storefront calls to the real <c>ctmp serve</c> over HTTP and commercetools
/// messages to <c>ctmp relay</c>, on one store; the assertions read the batches written (what mParticle would merge)
/// and <c>ctmp identity show</c> / <c>explain</c>, never the relay's own view.
/// </summary>
public sealed class CtmpIdentityTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-identity-").FullName;

    private readonly string samples = Path.Combine(AppContext.BaseDirectory, "Fixtures", "commercetools");

    public void Dispose() => Directory.Delete(work, recursive: true);

    private string Store => Path.Combine(work, "store");

    /// <summary>A storefront call from Germany (an opt-in region) with analytics consent, and advertising consent only when given.</summary>
    private static JsonObject Storefront(string messageId, string type, string? evt, string? userId, string anonymousId, string at,
        string? idfv = null, string? idfa = null, bool advertising = false, string? previousId = null)
    {
        var context = new JsonObject
        {
            ["consent"] = new JsonObject { ["categoryPreferences"] = new JsonObject { ["analytics"] = true, ["advertising"] = advertising } },
            ["location"] = new JsonObject { ["country"] = "DE" },
        };
        if (idfv is not null)
        {
            context["os"] = new JsonObject { ["name"] = "iOS" };
            context["device"] = new JsonObject { ["id"] = idfv, ["advertisingId"] = idfa };
            context["app"] = new JsonObject { ["name"] = "Acme" };
        }

        var call = new JsonObject { ["type"] = type, ["messageId"] = messageId, ["anonymousId"] = anonymousId, ["timestamp"] = at, ["context"] = context };
        if (evt is not null)
        {
            call[type == "track" ? "event" : "name"] = evt;
            call["properties"] = type == "track" && evt.StartsWith("Product", StringComparison.Ordinal) ? new JsonObject { ["sku"] = "SKU-1", ["price"] = 10 } : new JsonObject();
        }

        if (userId is not null)
        {
            call["userId"] = userId;
        }

        if (previousId is not null)
        {
            call["previousId"] = previousId;
        }

        return call;
    }

    /// <summary>Every batch written to a dry-run folder: its identities, device ids, and its events' (name, id).</summary>
    private static List<(Dictionary<string, string> Ids, JsonNode? Device, (string Name, string Id)[] Events)> Batches(params string[] folders) =>
        [.. folders.Where(Directory.Exists).SelectMany(f => Directory.GetFiles(f).Order(StringComparer.Ordinal))
            .SelectMany(file => JsonNode.Parse(File.ReadAllText(file))!.AsArray())
            .Select(b => (
                b!["user_identities"]!.AsObject().ToDictionary(p => p.Key, p => (string)p.Value!, StringComparer.Ordinal),
                b["device_info"],
                b["events"]!.AsArray().Select(e => (
                    (string?)e!["data"]!["event_name"] ?? (string?)e["data"]!["screen_name"] ?? (string)e["data"]!["product_action"]!["action"]!,
                    (string)e["data"]!["source_message_id"]!)).ToArray()))];

    private JsonNode Order(string file, string messageId, string orderId, string? customerId, string? anonymousId, string at)
    {
        var message = JsonNode.Parse(File.ReadAllText(Path.Combine(samples, file)))!;
        message["id"] = messageId;
        message["resource"]!["id"] = orderId;
        message["createdAt"] = at;
        message["order"]!["id"] = orderId;
        message["order"]!["customerId"] = customerId;
        message["order"]!["anonymousId"] = anonymousId;
        return message;
    }

    private static string Call(string messageId, string evt, string userId, string anonymousId, string? idfv = null, string? email = null, string at = "2026-12-02T09:00:00Z")
    {
        var call = new JsonObject
        {
            ["type"] = evt == "identify" ? "identify" : "track",
            ["messageId"] = messageId,
            ["userId"] = userId,
            ["anonymousId"] = anonymousId,
            ["timestamp"] = at,
            ["context"] = new JsonObject { ["consent"] = new JsonObject { ["categoryPreferences"] = new JsonObject { ["analytics"] = true } } },
        };
        if (evt != "identify")
        {
            call["event"] = evt;
        }

        if (idfv is not null)
        {
            call["context"]!["os"] = new JsonObject { ["name"] = "iOS" };
            call["context"]!["device"] = new JsonObject { ["id"] = idfv };
        }

        if (email is not null)
        {
            call["traits"] = new JsonObject { ["email"] = email };
        }

        return call.ToJsonString();
    }

    private async Task<string> ShowAsync(string id) =>
        (await CtmpCommandTests.RunAsync("identity", "show", id, "--store", Path.Combine(work, "store"))).Stdout;

    [Fact]
    public async Task OneShopperOnTwoDevices_IsLinked_AndAFamilyTablet_IsConflictedForBothCustomers()
    {
        var calls = Path.Combine(work, "journey.ndjson");
        await File.WriteAllLinesAsync(calls,
        [
            """{"type":"track","event":"Product Viewed","anonymousId":"a-phone","messageId":"id-1","timestamp":"2026-12-02T09:00:00Z","properties":{"sku":"S-1"},"context":{"consent":{"categoryPreferences":{"analytics":true}}}}""",
            Call("id-2", "Signed In", "c-parent", "a-phone", at: "2026-12-02T09:01:00Z"),
            Call("id-3", "identify", "c-parent", "a-phone", email: "Parent@Shop.Example", at: "2026-12-02T09:02:00Z"),
            Call("id-4", "Signed In", "c-parent", "a-tablet", idfv: "TABLET-1", at: "2026-12-02T18:00:00Z"),
            Call("id-5", "Signed In", "c-child", "a-tablet", idfv: "TABLET-1", at: "2026-12-02T19:00:00Z"),
        ]);

        var (exit, _, _) = await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", Path.Combine(work, "out"), "--store", Path.Combine(work, "store"), calls);

        Assert.Equal(0, exit);
        var parent = await ShowAsync("c-parent");
        Assert.Contains("customer c-parent  anonymous_id a-phone  active", parent, StringComparison.Ordinal);
        Assert.Contains("customer c-parent  anonymous_id a-tablet  conflicted", parent, StringComparison.Ordinal);
        Assert.Contains("customer c-parent  ios_idfv TABLET-1  conflicted", parent, StringComparison.Ordinal);
        var tablet = (await ShowAsync("TABLET-1")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["c-child", "c-parent"], tablet.Select(l => l.Split("  ")[0]["customer ".Length..]).Order(StringComparer.Ordinal).ToArray());
        Assert.All(tablet, l => Assert.Contains("conflicted", l, StringComparison.Ordinal));
        Assert.Contains("customer c-parent  email_sha256 ", await ShowAsync(" parent@shop.example "), StringComparison.Ordinal); // found by the address's hash
        Assert.DoesNotContain("parent@shop.example", parent, StringComparison.OrdinalIgnoreCase); // e-mails are kept only as hashes
        Assert.Equal("No identity links for this identifier.", (await ShowAsync("a-nobody")).Trim());

        // Unlinked by hand: kept as revoked, and signing in again on that phone does not bring the link back.
        var (unlinked, said, _) = await CtmpCommandTests.RunAsync("identity", "unlink", "c-parent", "a-phone", "--store", Path.Combine(work, "store"));
        var again = Path.Combine(work, "again.ndjson");
        await File.WriteAllLinesAsync(again, [Call("id-6", "Signed In", "c-parent", "a-phone", at: "2026-12-03T09:00:00Z")]);
        await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", Path.Combine(work, "out2"), "--store", Path.Combine(work, "store"), again);

        Assert.Equal(0, unlinked);
        Assert.Contains("revoked: customer c-parent  anonymous_id a-phone", said, StringComparison.Ordinal);
        Assert.Contains("customer c-parent  anonymous_id a-phone  revoked", await ShowAsync("a-phone"), StringComparison.Ordinal);
        Assert.NotEqual(0, (await CtmpCommandTests.RunAsync("identity", "unlink", "c-parent", "a-nobody", "--store", Path.Combine(work, "store"))).Exit);
    }

    [Fact]
    public async Task MultiDeviceJourney_ThroughServeAndRelay_MergesWhatTheRulesAllow_AndNothingTheyForbid()
    {
        // 1. The storefront, over HTTP to ctmp serve (nothing pushed until it stops, so every link is known by then).
        var serveOut = Path.Combine(work, "serve-out");
        await using var server = await ServeProcess.StartAsync(
            ["--store", Store, "--dry-run", "--out", serveOut, "--push-every", "01:00:00"], new Dictionary<string, string> { ["CTMP_COLLECTOR_WRITE_KEY"] = "journey-key" });
        var journey = new JsonArray
        {
            // Parent's phone: browses anonymously, signs in, and the tracker keeps sending only the anonymous id.
            Storefront("j-01", "page", "Home", null, "a-phone", "2026-12-02T09:00:00Z"),
            Storefront("j-02", "track", "Product Viewed", null, "a-phone", "2026-12-02T09:01:00Z"),
            Storefront("j-03", "track", "Product Added", null, "a-phone", "2026-12-02T09:02:00Z"),
            Storefront("j-04", "track", "Signed In", "c-parent", "a-phone", "2026-12-02T09:03:00Z"),
            Storefront("j-05", "track", "Product Viewed", null, "a-phone", "2026-12-02T09:04:00Z"),
            // The family tablet: the parent, then the child, sign in on the same browser.
            Storefront("j-06", "track", "Signed In", "c-parent", "a-tablet", "2026-12-02T18:00:00Z"),
            Storefront("j-07", "track", "Product Viewed", null, "a-tablet", "2026-12-02T18:05:00Z"),
            Storefront("j-08", "track", "Signed In", "c-child", "a-tablet", "2026-12-02T19:00:00Z"),
            Storefront("j-09", "track", "Product Viewed", null, "a-tablet", "2026-12-02T19:05:00Z"),
            // The child's own iPhone app, without advertising consent.
            Storefront("j-10", "track", "Signed In", "c-child", "a-app", "2026-12-02T20:00:00Z", idfv: "IDFV-CHILD", idfa: "IDFA-CHILD"),
            Storefront("j-11", "screen", "Product", null, "a-app", "2026-12-02T20:01:00Z", idfv: "IDFV-CHILD", idfa: "IDFA-CHILD"),
            // The parent signs up on the laptop app's web view: alias says the laptop's anonymous id is theirs.
            Storefront("j-12", "alias", null, "c-parent", "a-laptop", "2026-12-02T21:00:00Z", previousId: "a-laptop"),
        };
        using var http = new HttpClient(new SocketsHttpHandler()) { BaseAddress = new Uri(server.BaseUrl) };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/batch") { Content = new StringContent(new JsonObject { ["batch"] = journey }.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("journey-key:")));
        var answer = await http.SendAsync(request);
        Assert.Equal(200, (int)answer.StatusCode);
        Assert.Equal(0, (await server.StopAsync()).Exit);

        // 2. commercetools and the laptop, to ctmp relay on the same store: the parent's purchase of the phone's cart,
        // the parent's order from the laptop, then a later visit on the laptop.
        var inputs = Directory.CreateDirectory(Path.Combine(work, "relay-in")).FullName;
        File.WriteAllText(Path.Combine(inputs, "0-order.json"),
            Order("01-order-created-registered-with-discount.json", "5a0e0c1e-0000-4000-8000-000000000003", "5a0e0c1e-0000-4000-8000-0000000000cc", "c-parent", "a-phone", "2026-12-02T09:10:00Z").ToJsonString());
        File.WriteAllText(Path.Combine(inputs, "1-order.json"),
            Order("01-order-created-registered-with-discount.json", "5a0e0c1e-0000-4000-8000-000000000001", "5a0e0c1e-0000-4000-8000-0000000000aa", "c-parent", "a-laptop", "2026-12-02T21:10:00Z").ToJsonString());
        File.WriteAllText(Path.Combine(inputs, "2-visit.ndjson"), Storefront("j-13", "track", "Product Viewed", null, "a-laptop", "2026-12-03T08:00:00Z").ToJsonString());
        var relayOut = Path.Combine(work, "relay-out");
        var (exit, _, stderr) = await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", relayOut, "--store", Store, inputs);
        Assert.True(exit == 0, stderr);

        var batches = Batches(serveOut, relayOut);
        var byMessage = batches.SelectMany(b => b.Events.Select(e => (e.Id, Batch: b))).ToList();
        (Dictionary<string, string> Ids, JsonNode? Device, (string Name, string Id)[] Events) Of(string messageId) =>
            Assert.Single(batches, b => b.Events.Any(e => e.Id == EventId(messageId)));

        // The merges the rules allow: the phone's anonymous events go with the parent (before and after signing in),
        // the child's app screen with the child, the laptop's order and later visit with the parent (the alias's link).
        foreach (var id in new[] { "j-01", "j-02", "j-03", "j-04", "j-05" })
        {
            Assert.Equal(new Dictionary<string, string> { ["customer_id"] = "c-parent", ["other"] = "a-phone" }, Of(id).Ids);
        }

        Assert.Equal(new Dictionary<string, string> { ["customer_id"] = "c-child", ["other"] = "a-app" }, Of("j-11").Ids);
        Assert.Equal("IDFV-CHILD", (string?)Of("j-11").Device?["ios_idfv"]);
        Assert.Equal(new Dictionary<string, string> { ["customer_id"] = "c-parent", ["other"] = "a-laptop" }, Of("j-13").Ids);
        var purchases = batches.Where(b => b.Events.Any(e => e.Name == "purchase")).ToArray();
        Assert.Equal([("c-parent", "a-laptop"), ("c-parent", "a-phone")],
            purchases.Select(b => (b.Ids["customer_id"], b.Ids["other"])).Order().ToArray()); // browse → cart → sign in → purchase, one person

        // None they forbid: the shared tablet's id never beside a customer; each sign-in there goes alone, and its
        // anonymous browsing joins nobody; no advertising id travels without advertising consent.
        Assert.Equal(new Dictionary<string, string> { ["customer_id"] = "c-parent" }, Of("j-06").Ids);
        Assert.Equal(new Dictionary<string, string> { ["customer_id"] = "c-child" }, Of("j-08").Ids);
        Assert.Equal(new Dictionary<string, string> { ["other"] = "a-tablet" }, Of("j-07").Ids);
        Assert.Equal(new Dictionary<string, string> { ["other"] = "a-tablet" }, Of("j-09").Ids);
        Assert.DoesNotContain(batches, b => b.Ids.ContainsValue("a-tablet") && b.Ids.ContainsKey("customer_id"));
        Assert.DoesNotContain(batches, b => b.Device?["ios_advertising_id"] is not null);
        Assert.DoesNotContain(batches, b => b.Ids.GetValueOrDefault("customer_id") == "c-parent" && (b.Ids.ContainsValue("a-app") || b.Device?["ios_idfv"] is not null));
        Assert.Equal(14, byMessage.Count); // 11 storefront events, the laptop visit and the two purchases; the alias is not an event

        // Explained: why the parent's tablet sign-in went alone, and why the phone's first page view carries the parent.
        var tablet = (await CtmpCommandTests.RunAsync("identity", "explain", EventId("j-06"), "--store", Store)).Stdout;
        Assert.Contains("withheld  anonymous_id a-tablet  shared: seen with 2 customers", tablet, StringComparison.Ordinal);
        var phone = (await CtmpCommandTests.RunAsync("identity", "explain", EventId("j-01"), "--store", Store)).Stdout;
        Assert.Contains("sent      customer_id c-parent  joined by its anonymous_id link", phone, StringComparison.Ordinal);
        var app = (await CtmpCommandTests.RunAsync("identity", "explain", EventId("j-10"), "--store", Store)).Stdout;
        Assert.Contains("withheld  ios_idfa IDFA-CHILD  pairing rule advertising-ids-need-advertising-consent", app, StringComparison.Ordinal);
    }

    /// <summary>The relay's event id of a storefront call of the embedded default's source ("local").</summary>
    private static string EventId(string messageId) => CtMparticle.Tracking.Uuid5.ForEvent("local/segment/" + messageId).ToString("D");

    [Fact]
    public async Task SignInArrivingAfterThePurchase_ItsBatchCarriesBothSides_AndLaterAnonymousEventsTheCustomer()
    {
        var first = Directory.CreateDirectory(Path.Combine(work, "first")).FullName;
        File.WriteAllLines(Path.Combine(first, "browse.ndjson"),
        [
            Storefront("o-01", "track", "Product Viewed", null, "a-ooo", "2026-12-02T10:00:00Z").ToJsonString(),
            Storefront("o-02", "track", "Product Added", null, "a-ooo", "2026-12-02T10:01:00Z").ToJsonString(),
        ]);
        File.WriteAllText(Path.Combine(first, "order.json"),
            Order("01-order-created-registered-with-discount.json", "5a0e0c1e-0000-4000-8000-000000000002", "5a0e0c1e-0000-4000-8000-0000000000bb", "c-late", null, "2026-12-02T10:05:00Z").ToJsonString());
        var late = Directory.CreateDirectory(Path.Combine(work, "late")).FullName;
        File.WriteAllLines(Path.Combine(late, "signin.ndjson"),
        [
            Storefront("o-03", "track", "Signed In", "c-late", "a-ooo", "2026-12-02T10:02:00Z").ToJsonString(), // before the purchase, delivered after it
            Storefront("o-04", "track", "Product Viewed", null, "a-ooo", "2026-12-02T11:00:00Z").ToJsonString(),
        ]);

        await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", Path.Combine(work, "out-1"), "--store", Store, first);
        await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", Path.Combine(work, "out-2"), "--store", Store, late);

        var before = Batches(Path.Combine(work, "out-1"));
        var after = Batches(Path.Combine(work, "out-2"));
        Assert.All(before.Where(b => b.Ids.ContainsValue("a-ooo")), b => Assert.False(b.Ids.ContainsKey("customer_id"))); // nothing known yet
        var signIn = Assert.Single(after, b => b.Events.Any(e => e.Id == EventId("o-03")));
        Assert.Equal(new Dictionary<string, string> { ["customer_id"] = "c-late", ["other"] = "a-ooo" }, signIn.Ids); // mParticle merges the two profiles here
        Assert.Contains(after, b => b.Events.Any(e => e.Id == EventId("o-04")) && b.Ids.GetValueOrDefault("customer_id") == "c-late");
    }

    [Fact]
    public async Task GuestCheckoutThenAccountWithTheSameEmail_TheAccountsSignUpCarriesTheGuestsIds_AndLaterVisitsTheCustomer()
    {
        // The guest's order (anonymous cart c0f7…, e-mail tom.baker@…), then the account created from that cart.
        var guest = Directory.CreateDirectory(Path.Combine(work, "guest")).FullName;
        var guestOrder = JsonNode.Parse(File.ReadAllText(Path.Combine(samples, "02-order-created-anonymous-checkout.json")))!;
        guestOrder["order"]!["custom"] = JsonNode.Parse("""{"type":{"typeId":"type","id":"7c1e5a93-4b8d-4f26-a0e7-3d9b2c6f8a15"},"fields":{"checkoutConsentSnapshot":"{\"analytics\":true}"}}""");
        File.WriteAllText(Path.Combine(guest, "order.json"), guestOrder.ToJsonString());
        var account = Directory.CreateDirectory(Path.Combine(work, "account")).FullName;
        var created = JsonNode.Parse(File.ReadAllText(Path.Combine(samples, "05-customer-created.json")))!;
        var cartAnonymousId = (string)guestOrder["order"]!["anonymousId"]!;
        created["customer"]!["email"] = guestOrder["order"]!["customerEmail"]!.GetValue<string>();
        created["customer"]!["createdBy"]!["anonymousId"] = cartAnonymousId;
        created["createdBy"]!["anonymousId"] = cartAnonymousId;
        File.WriteAllText(Path.Combine(account, "created.json"), created.ToJsonString());
        File.WriteAllText(Path.Combine(account, "visit.ndjson"), Storefront("g-01", "track", "Product Viewed", null, cartAnonymousId, "2025-02-03T10:00:00Z").ToJsonString());

        await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", Path.Combine(work, "out-guest"), "--store", Store, guest);
        await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", Path.Combine(work, "out-account"), "--store", Store, account);

        var customer = (string)created["resource"]!["id"]!;
        var order = Assert.Single(Batches(Path.Combine(work, "out-guest")), b => b.Events.Any(e => e.Name == "purchase"));
        Assert.False(order.Ids.ContainsKey("customer_id")); // a guest: nobody to join yet
        var later = Batches(Path.Combine(work, "out-account"));
        var signUp = Assert.Single(later, b => b.Events.Any(e => e.Name == "Signed Up"));
        Assert.Equal((customer, cartAnonymousId, order.Ids["email"]), (signUp.Ids["customer_id"], signUp.Ids["other"], signUp.Ids["email"]));
        Assert.Equal(customer, Assert.Single(later, b => b.Events.Any(e => e.Id == EventId("g-01"))).Ids["customer_id"]);
    }

    [Fact]
    public async Task ACustomerWhoWithdrewConsent_IsNotJoinedToTheBrowsersLaterEvents_ThoughTheBrowserConsents()
    {
        var first = Directory.CreateDirectory(Path.Combine(work, "signin")).FullName;
        File.WriteAllText(Path.Combine(first, "signin.ndjson"), Storefront("w-01", "track", "Signed In", "c-withdrawn", "a-shop", "2026-12-02T10:00:00Z").ToJsonString());
        var later = Directory.CreateDirectory(Path.Combine(work, "later")).FullName;
        var withdrawal = Storefront("w-02", "track", "Segment Consent Preference Updated", "c-withdrawn", "a-other", "2026-12-02T11:00:00Z");
        withdrawal["context"]!["consent"]!["categoryPreferences"]!["analytics"] = false;
        File.WriteAllLines(Path.Combine(later, "calls.ndjson"),
        [
            withdrawal.ToJsonString(),
            Storefront("w-03", "track", "Product Viewed", null, "a-shop", "2026-12-02T12:00:00Z").ToJsonString(), // the browser still consents
        ]);

        await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", Path.Combine(work, "out-signin"), "--store", Store, first);
        await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", Path.Combine(work, "out-later"), "--store", Store, later);

        Assert.Equal("c-withdrawn", Assert.Single(Batches(Path.Combine(work, "out-signin"))).Ids["customer_id"]); // linked while consenting
        var view = Assert.Single(Batches(Path.Combine(work, "out-later")), b => b.Events.Any(e => e.Id == EventId("w-03")));
        Assert.Equal(new Dictionary<string, string> { ["other"] = "a-shop" }, view.Ids);
        var explained = (await CtmpCommandTests.RunAsync("identity", "explain", EventId("w-03"), "--store", Store)).Stdout;
        Assert.Contains("withheld  customer_id c-withdrawn  not joined by its anonymous_id link: the customer's own consent refuses it", explained, StringComparison.Ordinal);
    }

    /// <summary>
    /// A storefront <c>identify</c> states the customer's current e-mail (Segment: traits are the user's current traits):
    /// a later one with another address ends the old address's link, as commercetools' <c>CustomerEmailChanged</c>
    /// does, and an older one delivered late ends nothing newer.
    /// </summary>
    [Fact]
    public async Task IdentifyWithAnotherEmail_EndsTheOldAddressLink_AndAnOlderOneDeliveredLateEndsNothingNewer()
    {
        var inputs = Path.Combine(work, "identify.ndjson");
        await File.WriteAllLinesAsync(inputs,
        [
            Call("i-01", "identify", "c-mail", "a-mail", email: "Old@Shop.Example", at: "2026-12-02T09:00:00Z"),
            Call("i-02", "identify", "c-mail", "a-mail", email: "old@shop.example", at: "2026-12-02T09:30:00Z"), // the same address again
            Call("i-03", "identify", "c-mail", "a-mail", email: "new@shop.example", at: "2026-12-02T10:00:00Z"),
            Call("i-04", "identify", "c-mail", "a-mail", email: "older@shop.example", at: "2026-12-02T08:00:00Z"), // delivered late
        ]);

        var (exit, _, _) = await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", Path.Combine(work, "out"), "--store", Store, inputs);
        var shown = await ShowAsync("c-mail");

        Assert.Equal(0, exit);
        string Line(string email) => Assert.Single(shown.Split('\n'), l => l.Contains(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(email))), StringComparison.Ordinal));
        Assert.Contains("revoked", Line("old@shop.example"), StringComparison.Ordinal);
        Assert.Contains("active", Line("new@shop.example"), StringComparison.Ordinal);
        Assert.Contains("anonymous_id a-mail", shown, StringComparison.Ordinal); // the browser stays linked
    }

    [Fact]
    public async Task IdentityDecisionLogs_NameTheTypeAndTheCustomer_NeverTheIdentifiersValue()
    {
        // commercetools: a customer signs up, then changes their e-mail (the old address's link revoked, 1018).
        var inputs = Directory.CreateDirectory(Path.Combine(work, "decisions")).FullName;
        File.Copy(Path.Combine(samples, "05-customer-created.json"), Path.Combine(inputs, "0-created.json"));
        File.Copy(Path.Combine(samples, "06-customer-email-changed.json"), Path.Combine(inputs, "1-changed.json"));
        var customer = (string)JsonNode.Parse(File.ReadAllText(Path.Combine(samples, "05-customer-created.json")))!["resource"]!["id"]!;
        await File.WriteAllLinesAsync(Path.Combine(inputs, "2-calls.ndjson"),
        [
            Call("d-01", "Signed In", "c-parent", "a-phone", at: "2026-12-02T09:00:00Z"), // linked (1014)
            Call("d-02", "identify", "c-parent", "a-phone", email: "Parent@Shop.Example", at: "2026-12-02T09:01:00Z"),
            Call("d-04", "Signed In", "c-parent", "a-tablet", idfv: "TABLET-1", at: "2026-12-02T18:00:00Z"),
            Call("d-05", "Signed In", "c-child", "a-tablet", idfv: "TABLET-1", at: "2026-12-02T19:00:00Z"), // the tablet shared: conflicted (1015)
            .. Enumerable.Range(1, 6).Select(n => Call($"d-s{n}", "Signed In", "c-script", $"a-script-{n}", idfv: $"IDFV-SCRIPT-{n}", at: $"2026-12-02T1{n}:30:00Z")), // the sixth limited (1017)
            Storefront("d-07", "alias", null, "c-laptop", "a-laptop", "2026-12-02T21:00:00Z", previousId: "a-laptop").ToJsonString(), // alias (1019)
        ]);

        var (exit, _, stderr) = await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--verbose", "--out", Path.Combine(work, "out"), "--store", Store, inputs);

        Assert.Equal(0, exit);
        foreach (var logged in new[]
                 {
                     "[1014] Linked an identifier of type anonymous_id to customer c-parent",
                     "[1018] Revoked a link of type email_sha256 to customer " + customer,
                     "[1015] Shared identifier: an identifier of type ios_idfv was seen with 2 customers; its link to customer",
                     "[1017] Limited: customer c-script gained another identifier of type ios_idfv",
                     "[1019] Alias ",
                 })
        {
            Assert.Contains(logged, stderr, StringComparison.Ordinal);
        }

        var emails = new[] { "parent@shop.example", "anna.schmidt@example.com", "anna.s@example.org" };
        var values = new[] { "0e4b8d2f-7c1a-4e95-b6d3-2a9f5c8e1b70", "a-phone", "a-tablet", "TABLET-1", "a-script-", "IDFV-SCRIPT-", "a-laptop" }.Concat(emails)
            .Concat(emails.Select(e => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(e)))));
        Assert.All(values, value => Assert.DoesNotContain(value, stderr, StringComparison.OrdinalIgnoreCase));
        Assert.Contains("email_sha256", await ShowAsync("c-parent"), StringComparison.Ordinal); // the values are in the store, for whoever may read it
    }

    [Fact]
    public async Task AnAliasWhosePreviousIdIsAPlaceholder_IsQuarantinedSayingSo_AndLinksNothing()
    {
        var calls = Path.Combine(work, "aliases.ndjson");
        var withZeroIdfa = Storefront("al-2", "alias", null, "c-real", "a-real", "2026-12-02T10:00:00Z", idfv: "IDFV-REAL", idfa: "00000000-0000-0000-0000-000000000000", previousId: "a-real");
        await File.WriteAllLinesAsync(calls,
        [
            Storefront("al-1", "alias", null, "c-placeholder", "undefined", "2026-12-02T10:00:00Z", previousId: "undefined").ToJsonString(),
            withZeroIdfa.ToJsonString(),
        ]);

        var (exit, stdout, _) = await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--json", "--out", Path.Combine(work, "out"), "--store", Store, calls);

        Assert.Equal(0, exit);
        var record = Directory.GetFiles(Path.Combine(Store, "quarantine"), "*.json", SearchOption.AllDirectories).Select(f => JsonNode.Parse(File.ReadAllText(f))!).Single();
        Assert.Equal(("no_identity", "identity"), ((string?)record["reasons"]![0], (string?)record["stage"]));
        Assert.Contains("its previousId is a placeholder the identity rules", record.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal("No identity links for this identifier.", (await ShowAsync("c-placeholder")).Trim());
        var real = await ShowAsync("c-real");
        Assert.Contains("customer c-real  anonymous_id a-real  active", real, StringComparison.Ordinal); // a blocked device id beside the pair is only dropped
        Assert.Contains("customer c-real  ios_idfv IDFV-REAL  active", real, StringComparison.Ordinal);
        Assert.DoesNotContain("ios_idfa", real, StringComparison.Ordinal);
        Assert.NotNull(JsonNode.Parse(stdout));
    }
}
