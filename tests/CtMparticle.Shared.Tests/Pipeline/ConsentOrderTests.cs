using System.Text.Json;
using System.Text.Json.Nodes;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using CtMparticle.Tests.Support;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Pipeline;

/// <summary>
/// Consent whatever the delivery order, through the whole ingest pipeline on the embedded store: each purpose ends at
/// the customer's latest choice by commercetools' own order (sequenceNumber), an older change arriving late sends
/// nothing, and a replay never decides an event again.
/// </summary>
public sealed class ConsentOrderTests : IDisposable
{
    private const string Customer = "7d2a9c41-5e8b-4f13-a6d0-3c9e1b7f2a58";
    private readonly EmbeddedRelay relay = new();

    public void Dispose() => relay.Dispose();

    /// <summary>A marketing e-mail consent change of the sample customer: message number <paramref name="sequence"/>, at minute <paramref name="minute"/>.</summary>
    private static byte[] Change(int sequence, int minute, bool value)
    {
        var json = Samples.Json(Samples.CloudEventsConsent);
        var id = $"00000000-0000-4000-8000-{sequence:D12}";
        var at = new DateTimeOffset(2025, 4, 10, 19, 0, 0, TimeSpan.Zero).AddMinutes(minute).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        json["id"] = id;
        var data = json["data"]!.AsObject();
        data["id"] = id;
        data["sequenceNumber"] = sequence;
        data["createdAt"] = at;
        data["value"] = value;
        return Samples.Bytes(json);
    }

    private async Task<IngestOutcome> Ingest(byte[] body) => await relay.Pipeline().IngestAsync(new Inbound(body), default);

    private async Task<bool> StoredMarketing() =>
        (await relay.Store.GetAsync($"customer:{Customer}", default))!.Consent.Gdpr["marketing_email"].Consented;

    [Fact]
    public async Task SwappedPair_TheNewerChoiceStaysAndTheLateOlderOneSendsNothing()
    {
        var newer = await Ingest(Change(6, 10, false));
        var older = await Ingest(Change(5, 5, true)); // delivered after the newer one

        Assert.False(await StoredMarketing());
        Assert.Equal(IngestOutcomeKind.Accepted, newer.Kind);
        Assert.Equal((IngestOutcomeKind.Filtered, "consent_superseded"), (older.Kind, older.Reason));
        var pending = Assert.Single(await relay.Store.ReadPendingAsync(10, default));
        var update = Assert.IsType<ConsentUpdated>(JsonSerializer.Deserialize(pending.Json, RelayJsonContext.Default.TrackingEvent));
        Assert.False(update.Context.Consent!.Gdpr["marketing_email"].Consented);
    }

    [Fact]
    public async Task SequenceNumberOrdersBeforeClocks()
    {
        // commercetools' order says 8 came after 7, although 8's timestamp is a little earlier.
        await Ingest(Change(8, 20, true));
        await Ingest(Change(7, 21, false));

        Assert.True(await StoredMarketing());
    }

    [Theory]
    [InlineData(new[] { 1, 2, 3, 4, 5, 6 })]
    [InlineData(new[] { 6, 5, 4, 3, 2, 1 })]
    [InlineData(new[] { 3, 6, 1, 4, 2, 5 })]
    [InlineData(new[] { 2, 2, 6, 6, 1, 3, 5, 4 })] // duplicates among them
    public async Task FlipFlops_InAnyOrder_EndAtTheLastChoice(int[] order)
    {
        // Messages 1..6 alternate yes/no; the last (6) says no.
        foreach (var n in order)
        {
            await Ingest(Change(n, n, n % 2 == 1));
        }

        Assert.False(await StoredMarketing());
    }

    [Fact]
    public async Task OlderChangeRedeliveredDaysLater_ChangesNothingAndSendsNothing()
    {
        await Ingest(Change(5, 0, true));
        await Ingest(Change(6, 60 * 24 * 2, false)); // withdrawn two days later
        relay.Time.Advance(TimeSpan.FromDays(3));

        var redelivered = await Ingest(Change(5, 0, true));

        Assert.False(await StoredMarketing());
        Assert.Equal((IngestOutcomeKind.Filtered, "consent_superseded"), (redelivered.Kind, redelivered.Reason)); // stored once, long ago; now stale
        Assert.Equal(2, (await relay.Store.ReadPendingAsync(10, default)).Count);
    }

    [Fact]
    public async Task PurchaseRefusedAtCheckout_ReplayedAfterAnOptIn_IsStillNotSent()
    {
        var refused = Samples.Json(Samples.OrderCreatedRegistered);
        refused["order"]!["custom"]!["fields"]!["checkoutConsentSnapshot"] = "{\"analytics\":false}";
        var first = await Ingest(Samples.Bytes(refused));

        // The customer opts in later; then the order message is delivered again (Service Bus, a replay, a rerun).
        var optIn = Samples.Json(Samples.CloudEventsConsent);
        optIn["data"]!["name"] = "consentAnalytics";
        optIn["data"]!["value"] = true;
        optIn["data"]!["createdAt"] = "2030-01-01T00:00:00.000Z";
        await Ingest(Samples.Bytes(optIn));
        var replayed = await Ingest(Samples.Bytes(refused));

        var stored = (await relay.Store.ReadPendingAsync(10, default))
            .Select(p => JsonSerializer.Deserialize(p.Json, RelayJsonContext.Default.TrackingEvent)!).ToArray();
        Assert.DoesNotContain(stored, e => e is OrderCompleted);
        Assert.Equal(IngestOutcomeKind.Accepted, first.Kind);       // only the refusal itself, as a consent update
        Assert.Equal(IngestOutcomeKind.Duplicate, replayed.Kind);   // decided once: the later opt-in does not send it
        Assert.Equal(2, stored.Length);                             // the derived refusal and the opt-in, nothing more
        Assert.Equal(1, (await relay.Store.EventTotalsAsync(default)).Withheld);
    }

    [Fact]
    public async Task PurchaseRefusedAtCheckout_ReplayedAfterAnOptIn_LinksNoIdentifierTheFirstDecisionDidNot()
    {
        var refused = Samples.Json(Samples.OrderCreatedRegistered);
        refused["order"]!["custom"]!["fields"]!["checkoutConsentSnapshot"] = "{\"analytics\":false}";
        await Ingest(Samples.Bytes(refused));
        var linkedFirst = await relay.Store.ByCustomerAsync(Customer, default);

        await Ingest(Samples.Bytes(AnalyticsOptIn()));
        var replayed = await Ingest(Samples.Bytes(refused)); // consent learnt since would let it through now

        Assert.Equal(IngestOutcomeKind.Duplicate, replayed.Kind);
        Assert.Equal(1, (await relay.Store.EventTotalsAsync(default)).Withheld);
        Assert.Empty(linkedFirst); // the refused purchase showed no link (its e-mail with the customer)
        Assert.Empty(await relay.Store.ByCustomerAsync(Customer, default)); // and its replay records none either
    }

    [Fact]
    public async Task PurchaseAllowed_AfterAnotherOfTheCustomersWasRefused_StillLinks()
    {
        var refused = Samples.Json(Samples.OrderCreatedRegistered);
        refused["order"]!["custom"]!["fields"]!["checkoutConsentSnapshot"] = "{\"analytics\":false}";
        await Ingest(Samples.Bytes(refused));
        await Ingest(Samples.Bytes(AnalyticsOptIn()));
        var another = Samples.Json(Samples.OrderCreatedRegistered);
        another["id"] = "b5c4d3e2-0000-4000-8000-000000000002"; // another message of another order
        another["resource"]!["id"] = "b5c4d3e2-0000-4000-8000-000000000001";
        another["order"]!["id"] = "b5c4d3e2-0000-4000-8000-000000000001";
        another["order"]!["custom"]!["fields"]!["checkoutConsentSnapshot"] = "{\"analytics\":true}";

        Assert.Equal(IngestOutcomeKind.Accepted, (await Ingest(Samples.Bytes(another))).Kind);
        Assert.NotEmpty(await relay.Store.ByCustomerAsync(Customer, default)); // only the refused event's copies link nothing
    }

    [Fact]
    public async Task PurchaseThatWent_RedeliveredAfterAnOptOut_IsNotMarkedWithheld_SoItsLaterCopiesLinkAsInAnUninterruptedRun()
    {
        // A rerun after a kill reads inputs again on newer consent: a copy refused then must not change what the
        // event's first decision (it went) recorded. Before, a rerun of 12,000 inputs killed in its first push marked 114 such events.
        var allowed = Samples.Json(Samples.OrderCreatedRegistered);
        allowed["order"]!["custom"]!["fields"]!["checkoutConsentSnapshot"] = "{\"analytics\":true}";
        Assert.Equal(IngestOutcomeKind.Accepted, (await Ingest(Samples.Bytes(allowed))).Kind);
        var purchase = (await relay.Store.ReadPendingAsync(10, default))
            .Select(p => JsonSerializer.Deserialize(p.Json, RelayJsonContext.Default.TrackingEvent)!).OfType<OrderCompleted>().Single().Context.EventId;
        var optOut = AnalyticsOptIn();
        optOut["data"]!["value"] = false;
        await Ingest(Samples.Bytes(optOut));

        var copy = await Ingest(Samples.Bytes(allowed)); // the newer opt-out refuses this copy

        Assert.Empty(copy.Withheld);
        Assert.False(await relay.Store.WasWithheldAsync(Customer, purchase, default));
        Assert.Equal(0, (await relay.Store.EventTotalsAsync(default)).Withheld);
        Assert.NotEmpty(await relay.Store.ByCustomerAsync(Customer, default)); // what the first decision linked stays
    }

    [Fact]
    public async Task PurchaseRefusedAtCheckout_IsMarkedWithheldByItsFirstDecision_AndByARedeliveryOfThatMessage()
    {
        var refused = Samples.Json(Samples.OrderCreatedRegistered);
        refused["order"]!["custom"]!["fields"]!["checkoutConsentSnapshot"] = "{\"analytics\":false}";

        var first = await Ingest(Samples.Bytes(refused));
        var redelivered = await Ingest(Samples.Bytes(refused)); // after a crash before the message was completed

        var purchase = Assert.Single(first.Withheld);
        Assert.Equal([purchase], redelivered.Withheld);
        Assert.True(await relay.Store.WasWithheldAsync(Customer, purchase, default));
    }

    private static System.Text.Json.Nodes.JsonObject AnalyticsOptIn()
    {
        var optIn = Samples.Json(Samples.CloudEventsConsent);
        optIn["data"]!["name"] = "consentAnalytics";
        optIn["data"]!["value"] = true;
        optIn["data"]!["createdAt"] = "2030-01-01T00:00:00.000Z";
        return optIn;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SignUpDeliveredAfterALaterOrderFromElsewhere_DoesNotMoveTheCustomerBack(bool signUpLate)
    {
        // Anna signed up in Germany (February) and ordered from Austria (March).
        var order = Samples.Json(Samples.OrderCreatedRegistered);
        order["order"]!["billingAddress"]!["country"] = "AT";
        order["order"]!["shippingAddress"]!["country"] = "AT";
        byte[][] messages = [Samples.Bytes(Samples.Json(Samples.CustomerCreated)), Samples.Bytes(order)];

        foreach (var message in signUpLate ? messages.Reverse() : messages)
        {
            await Ingest(message);
        }

        var stored = (await relay.Store.GetAsync($"customer:{Customer}", default))!;
        Assert.Equal((new Region("AT"), new DateTimeOffset(2025, 3, 14, 9, 41, 27, 512, TimeSpan.Zero)), (stored.Region, stored.RegionAt));
    }

    [Fact]
    public async Task UnknownSubdivisionInAnAddress_IsStoredAsUnknownNotAsTheCountry()
    {
        var signUp = Samples.Json(Samples.CustomerCreated);
        var address = signUp["customer"]!["addresses"]![0]!.AsObject();
        address["country"] = "US";
        address["state"] = "Kalifornien";
        signUp["customer"]!["custom"] = new JsonObject
        {
            ["type"] = new JsonObject { ["typeId"] = "type", ["id"] = "t" },
            ["fields"] = new JsonObject(),
        };

        await Ingest(Samples.Bytes(signUp));

        var region = (await relay.Store.GetAsync($"customer:{Customer}", default))!.Region!;
        Assert.True(region.SubdivisionUnknown); // read back as unknown, so the strictest US regime keeps applying
        Assert.Equal("US", region.Country);
    }
}
