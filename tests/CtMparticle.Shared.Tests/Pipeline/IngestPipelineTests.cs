using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using CtMparticle.Tests.Infrastructure;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Pipeline;

/// <summary>Ingest over real Azurite storage: each delivery gets exactly one outcome, nothing is lost.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class IngestPipelineTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private EventsApiServer server = null!;
    private RelayHarness relay = null!;

    public Task InitializeAsync()
    {
        server = new EventsApiServer();
        relay = RelayHarness.Create(azurite, server);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await relay.DisposeAsync();
        await server.DisposeAsync();
    }

    private Task<IngestOutcome> Ingest(string sample) => Ingest(Samples.Bytes(sample));

    private Task<IngestOutcome> Ingest(byte[] body, int deliveryCount = 1) =>
        relay.Ingest.IngestAsync(new Inbound(body, "sb-" + Guid.NewGuid().ToString("N")[..8], deliveryCount, new DateTimeOffset(2026, 11, 27, 8, 0, 0, TimeSpan.Zero)), default);

    [Fact]
    public async Task Ingest_AllSamplesInOrder_EachHasExactlyOneExpectedOutcome()
    {
        var outcomes = new Dictionary<string, IngestOutcome>();
        foreach (var sample in Samples.All)
        {
            outcomes[sample] = await Ingest(sample);
        }

        Assert.Equal(IngestOutcomeKind.Accepted, outcomes[Samples.OrderCreatedRegistered].Kind);    // DE, checkout snapshot: analytics given
        Assert.Equal(IngestOutcomeKind.Accepted, outcomes[Samples.OrderCreatedGuest].Kind);         // GB opt-in, consent not known yet: held at push
        Assert.Equal(IngestOutcomeKind.Accepted, outcomes[Samples.ReturnInfoAdded].Kind);           // the order's context is known
        Assert.Equal(IngestOutcomeKind.Accepted, outcomes[Samples.RefundTransaction].Kind);         // found through the payment id
        Assert.Equal(IngestOutcomeKind.Accepted, outcomes[Samples.CustomerCreated].Kind);
        Assert.Equal(IngestOutcomeKind.Accepted, outcomes[Samples.CustomerEmailChanged].Kind);      // region and consent from the stored customer
        Assert.Equal(IngestOutcomeKind.Accepted, outcomes[Samples.OrderStateChanged].Kind);
        Assert.Equal(IngestOutcomeKind.Quarantined, outcomes[Samples.PayloadNotIncluded].Kind);
        Assert.Equal("payload_not_included", outcomes[Samples.PayloadNotIncluded].Reason);
        Assert.Equal(IngestOutcomeKind.Filtered, outcomes[Samples.CartChange].Kind);
        Assert.Equal(IngestOutcomeKind.Accepted, outcomes[Samples.CloudEventsConsent].Kind);

        var pending = await relay.Events.ReadPendingAsync(100, default);
        Assert.Equal(outcomes.Values.Sum(o => o.EventsStored), pending.Count);
        Assert.Equal(8, pending.Count);
    }

    [Fact]
    public async Task Ingest_SameMessageRedelivered_KeepsItsOutcomeAndStoresOnce()
    {
        // Outcomes are a function of the message, not of the attempt: a redelivery (after a crash, a lost lock,
        // or a completed batch that failed later) gives the same answer and writes nothing new.
        var first = await Ingest(Samples.OrderCreatedRegistered);
        var second = await Ingest(Samples.Bytes(Samples.OrderCreatedRegistered), deliveryCount: 2);

        Assert.Equal(IngestOutcomeKind.Accepted, first.Kind);
        Assert.Equal(IngestOutcomeKind.Accepted, second.Kind);
        Assert.Single(await relay.Events.ReadPendingAsync(100, default));
    }

    [Fact]
    public async Task Ingest_SameMessageConcurrently_StoresOneEvent()
    {
        var body = Samples.Bytes(Samples.OrderCreatedRegistered);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Ingest(body)));

        Assert.All(outcomes, o => Assert.Equal(IngestOutcomeKind.Accepted, o.Kind));
        Assert.Single(await relay.Events.ReadPendingAsync(100, default));
    }

    [Fact]
    public async Task Ingest_SameEventFromASecondSubscription_IsADuplicate()
    {
        var copy = Samples.Json(Samples.OrderCreatedRegistered);
        copy["id"] = "5a5a5a5a-6b6b-4c7c-8d8d-9e9e9e9e9e9e"; // another subscription delivers its own message id

        var outcomes = await Task.WhenAll(Ingest(Samples.OrderCreatedRegistered), Ingest(Samples.Bytes(copy)));

        Assert.Single(outcomes, o => o.Kind == IngestOutcomeKind.Accepted);
        Assert.Single(outcomes, o => o.Kind == IngestOutcomeKind.Duplicate);
        Assert.Single(await relay.Events.ReadPendingAsync(100, default));
    }

    [Fact]
    public async Task Ingest_OrderImportedAfterOrderCreated_IsADuplicatePurchase()
    {
        var imported = Samples.Json(Samples.OrderCreatedRegistered);
        imported["id"] = "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f";
        imported["type"] = "OrderImported";

        await Ingest(Samples.OrderCreatedRegistered);
        var second = await Ingest(Samples.Bytes(imported));

        Assert.Equal(IngestOutcomeKind.Duplicate, second.Kind);
    }

    [Fact]
    public async Task Ingest_StatusChangeBeforeItsOrder_IsQuarantinedForReplayAndReplayWorksLater()
    {
        var early = await Ingest(Samples.OrderStateChanged);
        await Ingest(Samples.OrderCreatedRegistered);
        var replayed = await Ingest(Samples.OrderStateChanged);

        Assert.Equal(IngestOutcomeKind.Quarantined, early.Kind);
        Assert.Equal("order_context_missing", early.Reason);
        Assert.Equal(IngestOutcomeKind.Accepted, replayed.Kind);
        var record = Assert.Single(await relay.QuarantinedAsync());
        Assert.Equal("5e8b3d1f-9a2c-4f67-8d04-2b7e6c1a9f35", record.Source.MessageId);
        Assert.Equal("map", record.Stage);
    }

    /// <summary>
    /// A guest order assigned to a customer: the status changes after it are the customer's, as they are when they
    /// arrive first and fetch the order (which has the customer by then). A customer set arriving late, after a newer
    /// context, changes nothing.
    /// </summary>
    [Fact]
    public async Task Ingest_StatusChangeAfterTheGuestOrdersCustomerWasSet_IsTheCustomers()
    {
        var created = Samples.Json(Samples.OrderCreatedGuest);
        var orderId = (string)created["resource"]!["id"]!;
        await Ingest(Samples.Bytes(created));
        await Ingest(Samples.Bytes(FollowUp(orderId, "OrderCustomerSet", 3, m => m["customer"] = new JsonObject { ["typeId"] = "customer", ["id"] = "c-assigned" })));
        await Ingest(Samples.Bytes(FollowUp(orderId, "OrderCustomerSet", 2, m => m["customer"] = new JsonObject { ["typeId"] = "customer", ["id"] = "c-earlier" })));
        await Ingest(Samples.Bytes(FollowUp(orderId, "OrderStateChanged", 4, m => m["orderState"] = "Complete")));

        var events = (await relay.Events.ReadPendingAsync(100, default))
            .Select(p => System.Text.Json.JsonSerializer.Deserialize(p.Json, RelayJsonContext.Default.TrackingEvent)!).ToList();
        var status = Assert.Single(events.OfType<OrderStatusChanged>());
        Assert.Equal("c-assigned", status.Context.User.CustomerId);
        Assert.Equal(created["order"]!["anonymousId"]!.GetValue<string>(), status.Context.User.AnonymousId);
        Assert.Equal(3, (await relay.Orders.FindByOrderAsync(orderId, default))!.Version);
    }

    /// <summary>
    /// A registered order whose customer is removed: the removal sends nothing, but the status changes after it are
    /// the guest's (the order's e-mail and anonymous id), as they are when they fetch the order. A customer set from
    /// before the removal, arriving after it, changes nothing.
    /// </summary>
    [Fact]
    public async Task Ingest_StatusChangeAfterTheOrdersCustomerWasRemoved_IsTheGuests()
    {
        var created = Samples.Json(Samples.OrderCreatedRegistered);
        var orderId = (string)created["resource"]!["id"]!;
        await Ingest(Samples.Bytes(created));
        var before = (await relay.Orders.FindByOrderAsync(orderId, default))!;
        Assert.NotNull(before.User.CustomerId);

        var removal = await Ingest(Samples.Bytes(FollowUp(orderId, "OrderCustomerSet", 5)));
        await Ingest(Samples.Bytes(FollowUp(orderId, "OrderCustomerSet", 4, m => m["customer"] = new JsonObject { ["typeId"] = "customer", ["id"] = "c-before-removal" })));
        await Ingest(Samples.Bytes(FollowUp(orderId, "OrderStateChanged", 6, m => m["orderState"] = "Complete")));

        Assert.Equal((IngestOutcomeKind.Filtered, "customer_removed_from_order"), (removal.Kind, removal.Reason));
        var events = (await relay.Events.ReadPendingAsync(100, default))
            .Select(p => System.Text.Json.JsonSerializer.Deserialize(p.Json, RelayJsonContext.Default.TrackingEvent)!).ToList();
        var status = Assert.Single(events.OfType<OrderStatusChanged>());
        Assert.Null(status.Context.User.CustomerId);
        Assert.Equal(before.User with { CustomerId = null }, status.Context.User);
        Assert.Equal(5, (await relay.Orders.FindByOrderAsync(orderId, default))!.Version);
    }

    /// <summary>A follow-up message of <paramref name="type"/> on the order at <paramref name="version"/>, with a new message id.</summary>
    private static JsonObject FollowUp(string orderId, string type, long version, Action<JsonObject>? set = null)
    {
        var message = Samples.Json(Samples.OrderStateChanged);
        message["id"] = Guid.NewGuid().ToString();
        message["type"] = type;
        message["resource"]!["id"] = orderId;
        message["resourceVersion"] = version;
        set?.Invoke(message);
        return message;
    }

    [Fact]
    public async Task Ingest_MalformedBody_IsQuarantinedWithTheExactBytesAndMetadata()
    {
        var body = Samples.Bytes(Samples.OrderCreatedRegistered)[..500];

        var outcome = await relay.Ingest.IngestAsync(new Inbound(body, "sb-42", 3, new DateTimeOffset(2026, 11, 27, 8, 0, 0, TimeSpan.Zero)), default);

        Assert.Equal(IngestOutcomeKind.Quarantined, outcome.Kind);
        Assert.Equal("malformed_json", outcome.Reason);
        var record = Assert.Single(await relay.QuarantinedAsync());
        Assert.Equal(body, Convert.FromBase64String(record.PayloadBase64));
        Assert.Equal(["malformed_json"], record.Reasons);
        Assert.Equal("sb-42", record.Source.ServiceBusMessageId);
        Assert.Equal(3, record.Source.DeliveryCount);
        Assert.Equal(new DateTimeOffset(2026, 11, 27, 8, 0, 0, TimeSpan.Zero), record.Source.EnqueuedAt);
        Assert.Equal("decode", record.Stage);
        Assert.False(string.IsNullOrWhiteSpace(record.RelayVersion));
        Assert.Contains("/malformed_json/", outcome.QuarantineLocation, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_NonUtf8Body_IsQuarantinedBytePerfect()
    {
        byte[] body = [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x7D];

        var outcome = await Ingest(body);

        Assert.Equal("not_utf8", outcome.Reason);
        Assert.Equal(body, Convert.FromBase64String(Assert.Single(await relay.QuarantinedAsync()).PayloadBase64));
    }

    [Fact]
    public async Task Ingest_SameBadMessageRedelivered_KeepsOneQuarantineRecord()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["totalPrice"]!["centAmount"] = "lots";

        await Ingest(Samples.Bytes(json));
        await Ingest(Samples.Bytes(json), deliveryCount: 2);

        Assert.Single(await relay.QuarantinedAsync());
    }

    [Fact]
    public async Task Ingest_MixedCurrencyOrder_IsQuarantinedAndNotStored()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["lineItems"]![0]!["totalPrice"]!["currencyCode"] = "USD";

        var outcome = await Ingest(Samples.Bytes(json));

        Assert.Equal("mixed_currencies", outcome.Reason);
        Assert.Empty(await relay.Events.ReadPendingAsync(100, default));
    }

    [Fact]
    public async Task Ingest_OptInRegionWithConsentRefusedAtCheckout_SendsOnlyTheRefusal()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["custom"]!["fields"]!["checkoutConsentSnapshot"] = "{\"analytics\":false,\"marketingEmail\":true}";

        var outcome = await Ingest(Samples.Bytes(json));
        var again = await Ingest(Samples.Bytes(json)); // a redelivery: decided once, adds nothing

        // The purchase is never stored; the choice it carried is, so mParticle's profile does not keep an older "consented".
        var pending = Assert.Single(await relay.Events.ReadPendingAsync(100, default));
        var update = Assert.IsType<ConsentUpdated>(JsonSerializer.Deserialize(pending.Json, RelayJsonContext.Default.TrackingEvent));
        Assert.False(update.Context.Consent!.Gdpr["analytics"].Consented);
        Assert.EndsWith("/purchase/consent", update.Context.DedupeKey, StringComparison.Ordinal);
        Assert.Equal((IngestOutcomeKind.Accepted, 1), (outcome.Kind, outcome.EventsStored));
        Assert.Equal(IngestOutcomeKind.Accepted, again.Kind); // the same message keeps its outcome
        await relay.Push.PushAsync(default);
        Assert.DoesNotContain(server.Accepted.SelectMany(r => r.Batches).SelectMany(b => b!["events"]!.AsArray()),
            e => (string?)e!["event_type"] == "commerce_event");
    }

    [Fact]
    public async Task Ingest_CaliforniaOrderWithoutConsent_IsForwardedButNotAfterOptOut()
    {
        var order = Samples.Json(Samples.OrderCreatedGuest);
        foreach (var address in new[] { "billingAddress", "shippingAddress" })
        {
            order["order"]![address]!["country"] = "US";
            order["order"]![address]!["state"] = "CA";
        }

        Samples.SetCurrency(order, "USD", 2);
        var forwarded = await Ingest(Samples.Bytes(order));

        order["id"] = "6f7e8d9c-0b1a-4c2d-9e3f-405162738495";
        order["order"]!["id"] = "b0b0b0b0-1111-4222-8333-444455556666";
        order["order"]!["custom"] = new JsonObject
        {
            ["type"] = new JsonObject { ["typeId"] = "type", ["id"] = "t" },
            ["fields"] = new JsonObject { ["checkoutConsentSnapshot"] = "{\"doNotSell\":true}" },
        };
        var rules = new Dictionary<string, string?>
        {
            ["Mapping:Consent:Fields:0:Field"] = "consentAnalytics",
            ["Mapping:Consent:Fields:0:Purpose"] = "analytics",
            ["Mapping:Consent:Fields:0:SnapshotKey"] = "analytics",
            ["Mapping:Consent:Fields:1:Field"] = "doNotSell",
            ["Mapping:Consent:Fields:1:Purpose"] = "data_sale_opt_out",
            ["Mapping:Consent:Fields:1:Regulation"] = "Ccpa",
            ["Mapping:Consent:Fields:1:SnapshotKey"] = "doNotSell",
        };
        await using var ccpaRelay = RelayHarness.Create(azurite, server, s => { foreach (var (k, v) in rules) { s[k] = v; } });
        var optedOut = await ccpaRelay.Ingest.IngestAsync(new Inbound(Samples.Bytes(order)), default);

        Assert.Equal(IngestOutcomeKind.Accepted, forwarded.Kind);
        // Opted out of sale: the purchase is withheld, only the opt-out itself is stored for mParticle.
        var stored = (await ccpaRelay.Events.ReadPendingAsync(100, default))
            .Select(p => JsonSerializer.Deserialize(p.Json, RelayJsonContext.Default.TrackingEvent)).ToArray();
        Assert.Equal(1, optedOut.EventsStored);
        Assert.All(stored, e => Assert.IsType<ConsentUpdated>(e));
        Assert.True(Assert.Single(stored)!.Context.Consent!.CcpaDataSaleOptOut!.Consented);
    }

    [Fact]
    public async Task Ingest_ConsentWithdrawal_IsForwardedEvenInOptInRegionsAndStored()
    {
        await Ingest(Samples.CustomerCreated);

        var outcome = await Ingest(Samples.CloudEventsConsent);

        Assert.Equal(IngestOutcomeKind.Accepted, outcome.Kind);
        var stored = await relay.Consent.GetAsync("customer:7d2a9c41-5e8b-4f13-a6d0-3c9e1b7f2a58", default);
        Assert.False(stored!.Consent.Gdpr["marketing_email"].Consented);
        Assert.True(stored.Consent.Gdpr["analytics"].Consented);
        Assert.Equal(new Region("DE"), stored.Region);
    }

    [Fact]
    public async Task Ingest_OutOfOrderConsentMessages_KeepTheNewestState()
    {
        var older = Samples.Json(Samples.CloudEventsConsent);
        older["id"] = "aaaaaaaa-0000-4000-8000-000000000001";
        older["data"]!["id"] = "aaaaaaaa-0000-4000-8000-000000000001";
        older["data"]!["value"] = true; // an older "opt in" arriving after the newer "opt out"
        older["data"]!["createdAt"] = "2025-04-09T10:00:00.000Z";

        await Ingest(Samples.CloudEventsConsent);
        await Ingest(Samples.Bytes(older));

        var stored = await relay.Consent.GetAsync("customer:7d2a9c41-5e8b-4f13-a6d0-3c9e1b7f2a58", default);
        Assert.False(stored!.Consent.Gdpr["marketing_email"].Consented);
    }

    [Fact]
    public async Task Ingest_UnknownRegionCustomer_FailsClosedByHoldingNotSending()
    {
        var json = Samples.Json(Samples.CustomerEmailChanged);
        json["resource"]!["id"] = "never-seen-customer";

        var outcome = await Ingest(Samples.Bytes(json));
        var push = await relay.Push.PushAsync(default);

        Assert.Equal(IngestOutcomeKind.Accepted, outcome.Kind); // stored, but only sent once consent is known
        Assert.Equal((1, 0, 0), (push.Held, push.Delivered, push.Withdrawn));
        Assert.Empty(server.Received);
        Assert.Equal(1, (await relay.Events.PendingStatsAsync(default)).Held);
    }

    [Fact]
    public async Task Ingest_StoredEvent_IsTheCanonicalEvent()
    {
        await Ingest(Samples.OrderCreatedRegistered);

        var pending = Assert.Single(await relay.Events.ReadPendingAsync(10, default));
        var stored = Assert.IsType<OrderCompleted>(JsonSerializer.Deserialize(pending.Json, RelayJsonContext.Default.TrackingEvent));

        Assert.Equal(90.42m, stored.Total);
        Assert.Equal("a3c8e1f6-9b2d-4e75-8c40-1f7d3b9a6e52", pending.MessageId);
        Assert.DoesNotContain("Torstra", Encoding.UTF8.GetString(pending.Json), StringComparison.Ordinal); // no street address is stored
    }
}

/// <summary>The tracking plan's policy at ingest: block quarantines with the validation errors, allow sends and counts.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class GovernanceIngestTests(AzuriteFixture azurite)
{
    private static byte[] LoyaltyChange()
    {
        var json = Samples.Json(Samples.CloudEventsConsent)["data"]!.AsObject();
        json["name"] = "loyaltyTier";
        json["value"] = "gold";
        return Samples.Bytes(json);
    }

    [Fact]
    public async Task Ingest_AttributeTheActivePlanDoesNotHave_IsBlockedAndQuarantinedWithTheErrors()
    {
        await using var server = new EventsApiServer();
        await using var relay = RelayHarness.Create(azurite, server, s => s["Mapping:UserAttributeFields:0"] = "loyaltyTier");
        await relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(Samples.CustomerCreated)), default); // region and consent

        var outcome = await relay.Ingest.IngestAsync(new Inbound(LoyaltyChange()), default);

        Assert.Equal(IngestOutcomeKind.Quarantined, outcome.Kind);
        Assert.Equal("plan_violation", outcome.Reason);
        var record = Assert.Single(await relay.QuarantinedAsync());
        Assert.Equal("govern", record.Stage);
        Assert.Contains(record.Errors, e => e.Contains("unplanned loyaltyTier", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ingest_PolicyAllow_SendsTheEventAndCountsTheViolation()
    {
        var folder = Directory.CreateTempSubdirectory("ctmp-policy-").FullName;
        File.Copy(Path.Combine(AppContext.BaseDirectory, "config", "plans", "ctmparticle_commerce.v3.json"), Path.Combine(folder, "ctmparticle_commerce.v3.json"));
        await File.WriteAllTextAsync(Path.Combine(folder, "policies.json"),
            "{\"plan_id\":\"ctmparticle_commerce\",\"active\":{\"production\":3},\"versions\":{\"3\":{\"unplanned_events\":\"block\",\"unplanned_attributes\":\"allow\",\"invalid_values\":\"block\"}}}");
        await using var server = new EventsApiServer();
        await using var relay = RelayHarness.Create(azurite, server, s =>
        {
            s["Mapping:UserAttributeFields:0"] = "loyaltyTier";
            s["Governance:PoliciesPath"] = Path.Combine(folder, "policies.json");
        });
        await relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(Samples.CustomerCreated)), default);

        var outcome = await relay.Ingest.IngestAsync(new Inbound(LoyaltyChange()), default);

        Assert.Equal(IngestOutcomeKind.Accepted, outcome.Kind);
        Assert.Empty(await relay.QuarantinedAsync());
        Directory.Delete(folder, recursive: true);
    }
}
