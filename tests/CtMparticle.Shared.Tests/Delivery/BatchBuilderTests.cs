using CsCheck;
using System.Text.Json;
using System.Text.Json.Nodes;
using CtMparticle.Configuration;
using CtMparticle.Delivery;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Storage;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Delivery;

public sealed class BatchBuilderTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 27, 10, 0, 0, TimeSpan.Zero);

    private static EventContext Context(string key, UserIds user, string? store = "acme-de", ConsentSnapshot? consent = null, DateTimeOffset? at = null) =>
        new(Uuid5.ForEvent(key), key, at ?? At, EventSource.Storefront, key, store, new Region("DE"), user, consent);

    private static ProductLine Tee => new("MTS-NAVY-M", "Merino T-shirt", "mts-navy-m", "Acme Outdoor", "Tops", 39.99m, 1, 39.99m);

    [Fact]
    public void Build_RoutesEachStoreToItsInputAndEnvironment()
    {
        var builder = TestOptions.Builder();

        var eu = TestOptions.Built(new SignedIn(Context("a", new UserIds("c-1")), "password"), builder);
        var fallback = TestOptions.Built(new SignedIn(Context("b", new UserIds("c-1"), store: "unknown-store"), "password"), builder);

        Assert.Equal("acme-eu", eu.Route.InputName);
        Assert.Equal(new Uri("https://s2s.eu1.mparticle.com/v2"), eu.Route.BaseUrl);
        Assert.Equal("MParticle_AcmeEu_ApiKey", eu.Route.ApiKeySetting);
        Assert.Equal("production", eu.Batch.Environment);
        Assert.Equal("default", fallback.Route.InputName);
        Assert.Equal("development", fallback.Batch.Environment); // the input overrides the environment
    }

    [Fact]
    public void Build_UnknownStoreWithoutDefaultInput_IsRejectedNamingTheSetting()
    {
        var builder = TestOptions.Builder(routing: TestOptions.Routing(defaultInput: null));

        var result = Assert.IsType<BatchRejected>(builder.Build(new SignedIn(Context("a", new UserIds("c-1"), store: "acme-fr"))));

        Assert.Equal(Reason.NoInputForStore, result.Reason);
        Assert.Contains("acme-fr", result.Detail, StringComparison.Ordinal);
        Assert.Contains("MParticle:DefaultInput", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_EmailIsTrimmedAndLowercased()
    {
        var built = TestOptions.Built(new SignedIn(Context("a", new UserIds(null, "  Anna.Schmidt@Example.COM ")), "password"));

        Assert.Equal("anna.schmidt@example.com", built.Batch.UserIdentities!["email"]);
    }

    [Fact]
    public void Build_Sha256EmailMode_PutsTheHashInTheConfiguredOtherIdentity()
    {
        var options = TestOptions.Mapping(i => { i.EmailMode = EmailIdentityMode.Sha256; i.EmailHashIdentity = "other_id_3"; });

        var built = TestOptions.Built(new SignedIn(Context("a", new UserIds("c-1", " Anna.Schmidt@example.com")), "password"), TestOptions.Builder(options));

        // sha256("anna.schmidt@example.com"), computed independently with Python's hashlib.
        Assert.Equal("97f63aac346999c85faa46576e304ccbbe8afef6382cccfa95ce5200f8d0bfd3", built.Batch.UserIdentities!["other_id_3"]);
        Assert.False(built.Batch.UserIdentities.ContainsKey("email"));
    }

    [Fact]
    public void Build_OmitEmailAndNoAnonymousIdentity_SendsOnlyTheCustomerId()
    {
        var options = TestOptions.Mapping(i => { i.EmailMode = EmailIdentityMode.Omit; i.AnonymousIdIdentity = null; });

        var built = TestOptions.Built(new SignedIn(Context("a", new UserIds("c-1", "a@example.com", "anon-1")), "password"), TestOptions.Builder(options));

        Assert.Equal(["customer_id"], built.Batch.UserIdentities!.Keys);
    }

    [Fact]
    public void Build_DeviceIdsGoToDeviceInfoAndSessionToTheEvent()
    {
        var user = new UserIds(null, null, "anon-1", "0b5c6a2e-1111-4222-8333-944455556666", new DeviceIds(IosAdvertisingId: "IDFA-1"));

        var built = TestOptions.Built(new ProductViewed(Context("a", user), Tee, "EUR"));
        var json = JsonNode.Parse(built.Json)!;

        Assert.Equal("IDFA-1", (string?)json["device_info"]!["ios_advertising_id"]);
        Assert.DoesNotContain("IDFA-1", json["user_identities"]!.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal("0b5c6a2e-1111-4222-8333-944455556666", (string?)json["events"]![0]!["data"]!["session_uuid"]);
        Assert.Empty(EventsApiRules.Check(built.Batch, built.Json.Length));
    }

    [Fact]
    public void Build_StorefrontCommerceEvents_UseMParticleProductActions()
    {
        var user = new UserIds(null, null, "anon-1");
        TrackingEvent[] events =
        [
            new ProductViewed(Context("v", user), Tee, "EUR"),
            new ProductAdded(Context("a", user), Tee, "EUR", "cart-1"),
            new ProductRemoved(Context("r", user), Tee, "EUR", "cart-1"),
            new CheckoutStepViewed(Context("c", user), 2, "express", [Tee], "EUR", "cart-1"),
        ];

        var actions = events.Select(e => TestOptions.Built(e).Batch.Events[0].Data.ProductAction!.Action).ToArray();
        var together = Assert.IsType<BuiltBatch>(TestOptions.Builder().Build(events));

        Assert.Equal(["view_detail", "add_to_cart", "remove_from_cart", "checkout"], actions);
        Assert.Equal(2, together.Batch.Events.Single(e => e.Data.ProductAction!.Action == "checkout").Data.ProductAction!.CheckoutStep);
        Assert.All(together.Batch.Events, e => Assert.Equal("EUR", e.Data.CurrencyCode));
        Assert.Empty(EventsApiRules.Check(together.Batch, together.Json.Length));
    }

    [Fact]
    public void Build_SeveralEventsOfOneUser_ShareABatchInTimeOrderWithTheNewestConsent()
    {
        var user = new UserIds("c-1");
        var older = new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(true, At) });
        var newer = new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(false, At.AddMinutes(5)) });
        var second = new ConsentUpdated(Context("second", user, consent: newer, at: At.AddMinutes(5)), ["analytics"]);
        var first = new SignedIn(Context("first", user, consent: older, at: At), "password");

        var built = Assert.IsType<BuiltBatch>(TestOptions.Builder().Build([second, first]));

        Assert.Equal(["Signed In", "Consent Updated"], built.Batch.Events.Select(e => e.Data.EventName));
        Assert.False(built.Batch.ConsentState!.Gdpr!["analytics"].Consented);
    }

    [Fact]
    public void Build_EventsOfDifferentUsers_AreRefused()
    {
        TrackingEvent[] events = [new SignedIn(Context("a", new UserIds("c-1"))), new SignedIn(Context("b", new UserIds("c-2")))];

        Assert.Throws<ArgumentException>(() => TestOptions.Builder().Build(events));
    }

    /// <summary>
    /// The request id is written from the ids' bytes now, but must stay the id every batch sent so far carried (a batch
    /// retried across an upgrade keeps it): the v5 UUID of "request/" and the ids' N forms, ordinal order, comma-joined.
    /// </summary>
    [Fact]
    public void RequestId_IsTheUuidOfTheSortedIdsAsItAlwaysWas_ForAnySetOfEvents()
    {
        var user = new UserIds("c-1");
        Gen.Guid.Array[1, 90].Sample(ids =>
        {
            var withRepeats = ids.Length > 3 ? [.. ids, ids[1]] : ids; // an id twice counts twice, as it did
            var events = withRepeats.Select(id => (TrackingEvent)new SignedIn(Context("k", user) with { EventId = id })).ToArray();
            var formula = Uuid5.Create(Uuid5.RelayNamespace, "request/" + string.Join(',', withRepeats.Select(id => id.ToString("N")).Order(StringComparer.Ordinal)));
            Assert.Equal(formula.ToString("D"), BatchBuilder.RequestId(events));
        }, iter: 500);
    }

    [Fact]
    public void Build_RequestIdIsDeterministicAndIndependentOfEventOrder()
    {
        var user = new UserIds("c-1");
        TrackingEvent a = new SignedIn(Context("a", user));
        TrackingEvent b = new SignedIn(Context("b", user, at: At.AddSeconds(1)));

        var ab = Assert.IsType<BuiltBatch>(TestOptions.Builder().Build([a, b]));
        var ba = Assert.IsType<BuiltBatch>(TestOptions.Builder().Build([b, a]));
        var onlyA = Assert.IsType<BuiltBatch>(TestOptions.Builder().Build([a]));

        Assert.Equal(ab.Batch.SourceRequestId, ba.Batch.SourceRequestId);
        Assert.Equal(ab.Json, ba.Json);
        Assert.NotEqual(ab.Batch.SourceRequestId, onlyA.Batch.SourceRequestId);
    }

    [Fact]
    public void Build_ProfileAttributesMergeInTimeOrder()
    {
        var user = new UserIds("c-1");
        var set = new ProfileUpdated(Context("a", user), new ProfileAttributes(new Dictionary<string, string> { ["customer_group"] = "gold" }, []), ["customer_group"]);
        var removed = new ProfileUpdated(Context("b", user, at: At.AddSeconds(1)), new ProfileAttributes(new Dictionary<string, string>(), ["customer_group"]), ["customer_group"]);

        var built = Assert.IsType<BuiltBatch>(TestOptions.Builder().Build([removed, set]));

        Assert.Null(built.Batch.UserAttributes);
        Assert.Equal(["customer_group"], built.Batch.DeletedUserAttributes);
    }

    [Fact]
    public void Build_OrderTooLargeForOneBatch_IsRejected()
    {
        var lines = Enumerable.Range(0, 2_000)
            .Select(i => new ProductLine($"SKU-{i:D5}", new string('n', 60), "variant", "brand", null, 1.00m, 1, 1.00m, 1.00m, Guid.NewGuid().ToString()))
            .ToArray();
        var order = new OrderCompleted(Context("big", new UserIds("c-1")), "o-1", "B2B-1", "EUR", 2000m, null, null, null, lines, OrderOrigin.Created);

        var result = Assert.IsType<BatchRejected>(TestOptions.Builder().Build(order));

        Assert.Equal(Reason.BatchTooLarge, result.Reason);
        Assert.Contains("131,072", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_EventWithoutIdentityTheConfigurationSends_IsRejected()
    {
        var options = TestOptions.Mapping(i => { i.EmailMode = EmailIdentityMode.Omit; i.AnonymousIdIdentity = null; });

        var result = Assert.IsType<BatchRejected>(TestOptions.Builder(options).Build(new SignedIn(Context("a", new UserIds(null, "a@example.com", "anon")))));

        Assert.Equal(Reason.NoIdentity, result.Reason);
    }

    [Fact]
    public void Build_WithoutDataPlan_SendsNoContext()
    {
        var options = new MappingOptions { Environment = "production", DataPlan = new DataPlanOptions { PlanId = "" } };

        var built = TestOptions.Built(new SignedIn(Context("a", new UserIds("c-1"))), TestOptions.Builder(options));

        Assert.Null(JsonNode.Parse(built.Json)!["context"]);
    }

    /// <summary>
    /// The embedded store hands a push the event object the ingest stored instead of its JSON read back
    /// (<c>LogEventStore</c>): the batch built from either must be the same, byte for byte, whatever the strings hold
    /// (escapes, controls, lone surrogates the serializer replaces, non-ASCII, spaces an identity mapping trims) and
    /// whatever the amounts' scale.
    /// </summary>
    [Fact]
    public void Build_OfAnEventReadBackFromItsStoredJson_IsTheBatchOfTheEventItself()
    {
        var text = Gen.OneOf(Gen.String, Gen.String[Gen.Char[(char)0, (char)0x7f], 1, 30], Gen.Const(" <b>&'\"\\\u2028\ud800x\udfff é 日本 🛒 "), Gen.Const("Anna.Schmidt@Example.COM "));
        var amount = Gen.OneOf(Gen.Decimal[0m, 10_000m], Gen.Const(1.50m), Gen.Const(0.000m), Gen.Const(19.990m));
        var builder = TestOptions.Builder();
        Gen.Select(text, text, text, text, amount, amount, Gen.Int[0, 2]).Sample((customer, email, name, sku, price, total, kind) =>
        {
            var context = Context("round-trip", new UserIds(customer, email, AnonymousId: name), consent: new ConsentSnapshot(
                new Dictionary<string, ConsentPurpose> { [sku] = new(true, At, "de"), ["marketing"] = new(false, At) }));
            TrackingEvent e = kind switch
            {
                0 => new SignedIn(context, name),
                1 => new ProductAdded(context, new ProductLine(sku, name, email, customer, name, price, 2, total), "EUR"),
                _ => new OrderCompleted(context, "o-1", sku, "EUR", total, price, null, 0.00m,
                    [new ProductLine(sku, name, null, null, null, price, 1, total, price), Tee], OrderOrigin.Created, name),
            };
            var readBack = JsonSerializer.Deserialize(JsonSerializer.SerializeToUtf8Bytes(e, RelayJsonContext.Default.TrackingEvent), RelayJsonContext.Default.TrackingEvent)!;
            var (own, stored) = (builder.Build(e), builder.Build(readBack));
            Assert.Equal(own.GetType(), stored.GetType());
            if (own is BuiltBatch ownBatch)
            {
                Assert.Equal(Convert.ToBase64String(ownBatch.Json), Convert.ToBase64String(((BuiltBatch)stored).Json));
            }
            else
            {
                Assert.Equal(own, stored);
            }
        }, iter: 2_000);
    }

    [Fact]
    public void Build_EverySampleThatMaps_PassesTheEventsApiRules()
    {
        var mapper = TestOptions.Mapper();
        var builder = TestOptions.Builder();
        var order = TestOptions.Order01Context();
        var built = 0;
        foreach (var sample in Samples.All)
        {
            if (DeliveryDecoder.Decode(Samples.Bytes(sample)) is not Decoded decoded)
            {
                continue;
            }

            if (mapper.Map(decoded.Delivery, order) is not Mapped mapped)
            {
                continue;
            }

            foreach (var e in mapped.Events)
            {
                var batch = Assert.IsType<BuiltBatch>(builder.Build(e));
                Assert.Empty(EventsApiRules.Check(batch.Batch, batch.Json.Length));
                Assert.InRange(batch.Json.Length, 1, BatchBuilder.MaxBatchBytes);
                built++;
            }
        }

        Assert.Equal(8, built); // every sample but payloadNotIncluded (fetch) and the cart change (filtered)
    }

    [Fact]
    public void EventsApiRules_CatchSecondsTimestampsDeviceIdentitiesAndBadActions()
    {
        var batch = new MpBatch
        {
            Environment = "staging",
            SourceRequestId = "r",
            UserIdentities = new Dictionary<string, string> { ["customerid"] = "c-1", ["ios_idfa"] = "x" },
            Events =
            [
                new MpEvent
                {
                    EventType = "commerce_event",
                    Data = new MpEventData
                    {
                        TimestampUnixtimeMs = 1_741_945_287, SourceMessageId = "not-a-uuid", CurrencyCode = "eur",
                        ProductAction = new MpProductAction { Action = "remove_from_wishlist" },
                    },
                },
            ],
        };

        var problems = EventsApiRules.Check(batch, 1000);

        Assert.Contains(problems, p => p.Contains("environment", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("user_identities.customerid", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("device_info", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Unix milliseconds", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("not a UUID", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("remove_from_wishlist", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("currency_code 'eur'", StringComparison.Ordinal));
    }
}
