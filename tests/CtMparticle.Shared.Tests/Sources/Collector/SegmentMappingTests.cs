using System.Text;
using CtMparticle.Hosting;
using CtMparticle.Pipeline;
using CtMparticle.Sources.Collector;
using CtMparticle.Tracking;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CtMparticle.Tests.Sources.Collector;

/// <summary>The collector's decode and map stages (pure) on stored Segment calls, with the relay's own registration.</summary>
public sealed class SegmentMappingTests
{
    private static readonly IConfiguration Settings = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["MParticle:Inputs:0:Name"] = "acme-eu",
            ["MParticle:Inputs:0:ApiKeySetting"] = "K1",
            ["MParticle:Inputs:0:ApiSecretSetting"] = "K2",
            ["MParticle:Stores:0:Key"] = "acme-de",
            ["MParticle:Stores:0:Input"] = "acme-eu",
            ["MParticle:DefaultInput"] = "acme-eu",
            ["Collector:Sources:0:Name"] = "web",
            ["Collector:Sources:0:WriteKeySetting"] = "K",
            ["Collector:Sources:0:Store"] = "acme-de",
            ["Collector:Sources:0:Currency"] = "EUR",
        }).Build();

    /// <summary>The collector source as the relay registers it (catalog not configured: resolve passes calls through).</summary>
    internal static readonly CollectorSource Source = new ServiceCollection()
        .AddLogging()
        .AddSingleton(Settings)
        .AddCtMparticleRelay(Settings)
        .BuildServiceProvider()
        .GetRequiredService<CollectorSource>();

    private static Flow<MappedEvents> Run(string json, string source = "web") =>
        Source.Map(Source.Decode(new Inbound(Encoding.UTF8.GetBytes(json), Source: source)));

    private static TrackingEvent Single(string json)
    {
        var flow = Run(json);
        Assert.True(flow.Halt is null, flow.Halt?.Detail);
        return Assert.Single(flow.Value!.Events);
    }

    private const string Stamp = "\"messageId\":\"m-1\",\"receivedAt\":\"2026-12-02T10:00:10Z\"";

    [Fact]
    public void ClockSkew_IsCorrectedTheWaySegmentDoes()
    {
        // The device's clock is an hour fast: it stamped 11:00:00 and sent at 11:00:05; the relay received at 10:00:10.
        var e = Single($$$"""{"type":"track","event":"Signed In","userId":"c-1","timestamp":"2026-12-02T11:00:00Z","sentAt":"2026-12-02T11:00:05Z",{{{Stamp}}}}""");

        Assert.Equal(new DateTimeOffset(2026, 12, 2, 10, 0, 5, TimeSpan.Zero), e.Context.OccurredAt);
    }

    [Fact]
    public void WithoutTimestamps_TheEventHappenedWhenItWasReceived()
    {
        var e = Single($$$"""{"type":"track","event":"Signed In","userId":"c-1",{{{Stamp}}}}""");

        Assert.Equal(new DateTimeOffset(2026, 12, 2, 10, 0, 10, TimeSpan.Zero), e.Context.OccurredAt);
    }

    [Fact]
    public void ProductViewed_CarriesTheProduct_TheSourcesStoreAndCurrency_AndADedupeKeyPerSourceAndMessage()
    {
        var e = Assert.IsType<ProductViewed>(Single($$$"""{"type":"track","event":"Product Viewed","anonymousId":"a-1","properties":{"product_id":"p-9","sku":"SKU-9","name":"Mug","brand":"Acme","category":"Kitchen","variant":"blue","price":12.5},{{{Stamp}}}}"""));

        Assert.Equal(("SKU-9", "Mug", "Acme", "Kitchen", "blue", 12.5m, 1L, "p-9"),
            (e.Product.Sku, e.Product.Name, e.Product.Brand, e.Product.Category, e.Product.Variant, e.Product.UnitPrice, e.Product.Quantity, e.Product.ProductId));
        Assert.Equal("EUR", e.Currency);
        Assert.Equal("acme-de", e.Context.StoreKey);
        Assert.Equal("web/segment/m-1", e.Context.DedupeKey);
        Assert.Equal(Uuid5.ForEvent("web/segment/m-1"), e.Context.EventId);
        Assert.Equal(EventSource.Storefront, e.Context.Source);
        Assert.Equal("a-1", e.Context.User.AnonymousId);
    }

    [Fact]
    public void OrderCompleted_IsAStorefrontPurchaseWithItsAmounts()
    {
        var e = Assert.IsType<OrderCompleted>(Single($$$"""{"type":"track","event":"Order Completed","userId":"c-1","properties":{"order_id":"o-7","total":30,"tax":4.79,"shipping":5,"discount":2,"coupon":"WELCOME","currency":"usd","products":[{"sku":"A","price":10,"quantity":2},{"sku":"B","price":7}]},{{{Stamp}}}}"""));

        Assert.Equal(("o-7", 30m, 4.79m, 5m, 2m, "WELCOME", "USD", OrderOrigin.Storefront), (e.OrderId, e.Total, e.Tax, e.Shipping, e.Discount, e.CouponCode, e.Currency, e.Origin));
        Assert.Equal([("A", 2L, 20m), ("B", 1L, 7m)], e.Products.Select(p => (p.Sku, p.Quantity, p.LineTotal!.Value)));
    }

    [Theory]
    [InlineData("iOS", "idfa-1", "idfv-1", null, null)]
    [InlineData("Android", null, null, "gaid-1", "android-1")]
    public void DeviceIds_GoToTheirMParticleFieldsByOperatingSystem(string os, string? idfa, string? idfv, string? gaid, string? androidId)
    {
        var id = os == "iOS" ? "idfv-1" : "android-1";
        var ad = os == "iOS" ? "idfa-1" : "gaid-1";
        var e = Single($$$"""{"type":"screen","name":"Home","anonymousId":"a-1","context":{"app":{"name":"Shop"},"os":{"name":"{{{os}}}"},"device":{"id":"{{{id}}}","advertisingId":"{{{ad}}}"}},{{{Stamp}}}}""");

        var devices = e.Context.User.Devices!;
        Assert.Equal((idfa, idfv, gaid, androidId), (devices.IosAdvertisingId, devices.IosVendorId, devices.AndroidAdvertisingId, devices.AndroidUuid));
        Assert.Equal("app", e.Context.Channel);
        Assert.Equal("Home", Assert.IsType<ScreenViewed>(e).ScreenName);
    }

    [Theory]
    [InlineData("page", "PageView")]
    [InlineData("screen", "ScreenView")]
    public void UnnamedPagesAndScreens_GetMParticlesDefaultScreenNames_AndKeepTheirProperties(string type, string screenName)
    {
        var e = Assert.IsType<ScreenViewed>(Single($$$"""{"type":"{{{type}}}","anonymousId":"a-1","properties":{"path":"/c/shirts","title":"Shirts","url":"https://shop.example/c/shirts"},{{{Stamp}}}}"""));

        Assert.Equal(screenName, e.ScreenName);
        Assert.Equal("/c/shirts", e.Attributes["path"]);
    }

    [Fact]
    public void ProductListViewed_BecomesImpressionsOfTheNamedList()
    {
        var e = Assert.IsType<ProductListViewed>(Single($$$"""{"type":"track","event":"Product List Viewed","anonymousId":"a-1","properties":{"category":"Shirts","products":[{"sku":"S-1","price":10,"position":1},{"product_id":"p-2"}]},{{{Stamp}}}}"""));

        Assert.Equal(("Shirts", "EUR"), (e.ListName, e.Currency)); // no list_id: the category names the list; the source's currency
        Assert.Equal(["S-1", "p-2"], e.Products.Select(p => p.Sku).ToArray());
    }

    [Theory]
    [InlineData("""{"list_id":"empty"}""")]
    [InlineData("""{"list_id":"empty","products":[]}""")]
    public void ProductListViewed_WithoutProducts_IsQuarantinedAsMissingField(string properties)
    {
        var flow = Run("""{"type":"track","event":"Product List Viewed","anonymousId":"a-1","properties":""" + properties + "," + Stamp + "}");

        Assert.Equal(Reason.MissingField, Assert.IsType<Reject>(flow.Halt).Reason);
    }

    [Fact]
    public void ABatchsContextAndSentAt_ApplyToItsCalls_WhereTheCallDoesNotStateItsOwn()
    {
        // analytics-next puts sentAt on the batch; Segment's batch endpoint applies a batch-level context to every call.
        var batch = System.Text.Json.Nodes.JsonNode.Parse("""{"sentAt":"2026-12-02T11:00:05Z","context":{"consent":{"categoryPreferences":{"analytics":true}},"locale":"de-DE"},"batch":[]}""")!.AsObject();
        var call = System.Text.Json.Nodes.JsonNode.Parse("""{"type":"track","event":"Signed In","userId":"c-1","timestamp":"2026-12-02T11:00:00Z","messageId":"m-1","context":{"locale":"en-US"}}""")!.AsObject();

        var stored = CollectorCalls.Normalize(call, null, new DateTimeOffset(2026, 12, 2, 10, 0, 10, TimeSpan.Zero), batch);
        var flow = Source.Map(Source.Decode(new Inbound(stored, Source: "web")));

        var e = Assert.Single(flow.Value!.Events);
        Assert.Equal(new DateTimeOffset(2026, 12, 2, 10, 0, 5, TimeSpan.Zero), e.Context.OccurredAt); // the device's clock corrected
        Assert.True(e.Context.Consent!.Gdpr["analytics"].Consented);
        Assert.Equal("en-US", e.Context.Locale); // the call's own context wins
    }

    [Fact]
    public void ConsentCategories_BecomePurposesByConfiguration_AtTheEventsTime_UnmappedOnesIgnored()
    {
        var e = Single("""{"type":"track","event":"Signed In","userId":"c-1","context":{"consent":{"categoryPreferences":{"Analytics":true,"Advertising":false,"C0004":true}}},""" + Stamp + "}");

        var consent = e.Context.Consent!;
        Assert.True(consent.Gdpr["analytics"].Consented);
        Assert.False(consent.Gdpr["advertising"].Consented);
        Assert.Equal(2, consent.Gdpr.Count);
        Assert.Equal(e.Context.OccurredAt, consent.Gdpr["analytics"].At);
    }

    [Theory]
    [InlineData(true, "203.0.113.7", "203.0.113.7", "Mozilla/5.0")]
    [InlineData(false, "203.0.113.7", null, null)]
    [InlineData(true, "not-an-ip", null, "Mozilla/5.0")]
    public void IpAndUserAgent_AreCarriedOnlyWithConsentToTheConfiguredPurpose(bool analytics, string ip, string? expectedIp, string? expectedAgent)
    {
        var e = Single("""{"type":"track","event":"Signed In","userId":"c-1","context":{"ip":"IP","userAgent":"Mozilla/5.0","consent":{"categoryPreferences":{"analytics":CHOICE}}},"""
            .Replace("IP", ip, StringComparison.Ordinal).Replace("CHOICE", analytics ? "true" : "false", StringComparison.Ordinal) + Stamp + "}");

        Assert.Equal(expectedIp, e.Context.Network?.Ip);
        Assert.Equal(expectedAgent, e.Context.Network?.UserAgent);
    }

    [Fact]
    public void Identify_SetsAllowListedTraitsOnly_AndCarriesTheEmailAsAnIdentity()
    {
        var e = Assert.IsType<ProfileUpdated>(Single($$$"""{"type":"identify","userId":42,"traits":{"firstName":"Ann","last_name":"Lee","email":"Ann@Example.com","birthday":"1990-01-01","address":{"city":"Berlin"}},{{{Stamp}}}}"""));

        Assert.Equal(new Dictionary<string, string> { ["$FirstName"] = "Ann", ["$LastName"] = "Lee" }, e.Attributes.Set);
        Assert.Equal("42", e.Context.User.CustomerId); // a numeric userId, as trackers send them
        Assert.Equal("Ann@Example.com", e.Context.User.Email);
        Assert.Equal(["firstname", "lastname", "email"], e.ChangedFields); // what it states: the e-mail is the customer's current one
    }

    [Theory]
    [InlineData("""{"type":"track","userId":"c-1",MSG}""", "missing_field", "event is required")]
    [InlineData("""{"type":"track","event":"Signed In",MSG}""", "missing_field", "userId or anonymousId")]
    [InlineData("""{"type":"track","event":"Product Viewed","userId":"c-1","properties":{"price":1},MSG}""", "missing_field", "properties.sku")]
    [InlineData("""{"type":"track","event":"Product Added","userId":"c-1","properties":{"sku":"S","quantity":0},MSG}""", "invalid_quantity", "quantity")]
    [InlineData("""{"type":"track","event":"Product Added","userId":"c-1","properties":{"sku":"S","price":"cheap"},MSG}""", "invalid_money", "properties.price")]
    [InlineData("""{"type":"track","event":"Product Added","userId":"c-1","properties":{"sku":"S","price":-1},MSG}""", "invalid_money", "properties.price")]
    [InlineData("""{"type":"track","event":"Product Added","userId":"c-1","properties":{"sku":"S","currency":"euro"},MSG}""", "invalid_currency", "currency")]
    [InlineData("""{"type":"track","event":"Order Completed","userId":"c-1","properties":{"total":3},MSG}""", "missing_field", "order_id")]
    [InlineData("""{"type":"track","event":"Order Completed","userId":"c-1","properties":{"order_id":"o","products":{"sku":"S"}},MSG}""", "wrong_type", "properties.products")]
    [InlineData("""{"type":"track","event":"Checkout Step Viewed","userId":"c-1","properties":{"step":"two"},MSG}""", "wrong_type", "properties.step")]
    [InlineData("""{"type":"track","event":"Signed In","userId":"c-1","timestamp":"yesterday",MSG}""", "wrong_type", "timestamp")]
    [InlineData("""{"type":"track","event":"Signed In","userId":"c-1","context":{"consent":{"categoryPreferences":{"analytics":"yes"}}},MSG}""", "wrong_type", "categoryPreferences")]
    [InlineData("""{"type":"track","event":"Signed In","userId":{"id":1},MSG}""", "wrong_type", "userId")]
    [InlineData("""{"type":"track","event":"Signed In","event":"Signed Up","userId":"c-1",MSG}""", "malformed_json", "event")]
    [InlineData("""[1,2]""", "not_an_object", "not an object")]
    [InlineData("""{"type":"track","event":"Signed In","userId":"c-1",MSG""", "malformed_json", "not valid JSON")] // cut off: still open, not too deep
    [InlineData("""{"type":"track","event":"Signed \ud800In","userId":"c-1",MSG}""", "malformed_json", "half a surrogate pair")] // found by CollectorHostileInputTests
    public void BadCalls_AreRefusedAtTheRightStage_NamingTheField(string template, string reason, string named)
    {
        var flow = Run(template.Replace("MSG", Stamp, StringComparison.Ordinal));

        var halt = Assert.IsType<Reject>(flow.Halt);
        Assert.Equal(reason, halt.Reason.Code());
        Assert.Contains(named, halt.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void ACallNestedDeeperThanTheLimit_IsRefusedAsTooDeep()
    {
        var deep = string.Concat(Enumerable.Repeat("{\"a\":", 40)) + "1" + new string('}', 40);

        var flow = Run($$$"""{"type":"track","event":"Signed In","userId":"c-1","properties":{{{deep}}},{{{Stamp}}}}""");

        Assert.Equal("too_deep", Assert.IsType<Reject>(flow.Halt).Reason.Code());
    }

    [Fact]
    public void ConsentPreferenceUpdated_IsAConsentChange_WithTheCategoriesItStates_AndWithoutThemIsRefused()
    {
        var e = Assert.IsType<ConsentUpdated>(Single($$$$"""{"type":"track","event":"Segment Consent Preference Updated","userId":"c-1","context":{"consent":{"categoryPreferences":{"analytics":false,"advertising":true}}},{{{{Stamp}}}}}"""));

        Assert.Equal(["advertising", "analytics"], e.ChangedPurposes.Order(StringComparer.Ordinal).ToArray());
        Assert.False(e.Context.Consent!.Gdpr["analytics"].Consented);
        var empty = Run($$$"""{"type":"track","event":"Segment Consent Preference Updated","userId":"c-1",{{{Stamp}}}}""");
        Assert.Equal("missing_field", Assert.IsType<Reject>(empty.Halt).Reason.Code());
    }

    [Fact]
    public void AliasAndGroup_AreFilteredNotQuarantined_AndAnUnknownSourceIsQuarantined()
    {
        var alias = Assert.IsType<Filter>(Run($$$"""{"type":"alias","userId":"c-1","previousId":"a-1",{{{Stamp}}}}""").Halt);
        Assert.Equal("identity_only", alias.Reason.Code());
        Assert.Equal(new UserIds("c-1", AnonymousId: "a-1"), alias.Aliases?.User); // recorded as a link, never sent
        var sameIds = Assert.IsType<Filter>(Run($$$"""{"type":"alias","userId":"c-1","previousId":"c-1",{{{Stamp}}}}""").Halt);
        Assert.Equal(("unsupported_message_type", null), (sameIds.Reason.Code(), sameIds.Aliases));
        Assert.Equal("c-1", Assert.IsType<Filter>(Run($$$"""{"type":"alias","userId":"c-1","anonymousId":"a-2",{{{Stamp}}}}""").Halt).Aliases?.User.CustomerId);
        Assert.Equal("unsupported_message_type", Assert.IsType<Filter>(Run($$$"""{"type":"group","userId":"c-1","groupId":"g",{{{Stamp}}}}""").Halt).Reason.Code());
        Assert.Equal("unknown_source", Assert.IsType<Reject>(Run($$$"""{"type":"track","event":"Signed In","userId":"c-1",{{{Stamp}}}}""", source: "gone").Halt).Reason.Code());
    }

    [Fact]
    public void AnEventTheVocabularyDoesNotName_IsCarriedUnderItsOwnName_ForThePlanToDecide()
    {
        var e = Assert.IsType<StorefrontEvent>(Single($$$"""{"type":"track","event":"Products Searched","anonymousId":"a-1","properties":{"query":"mug","results":3,"filters":{"x":1}},{{{Stamp}}}}"""));

        Assert.Equal("Products Searched", e.Name);
        Assert.Equal(new Dictionary<string, string> { ["query"] = "mug", ["results"] = "3" }, e.Attributes);
    }
}
