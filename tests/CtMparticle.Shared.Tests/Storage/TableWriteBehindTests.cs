using CtMparticle.Consent;
using CtMparticle.Hosting;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using CtMparticle.Storage.Azure;
using CtMparticle.Tests.Infrastructure;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The function app's write-behind on Azurite: inside a batch the stores read their own writes and the table holds
/// none of them; the flush writes them all once; what another instance wrote meanwhile is neither duplicated nor lost.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class TableWriteBehindTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private static readonly DateTimeOffset Monday = new(2026, 11, 30, 9, 0, 0, TimeSpan.Zero);

    private readonly string tag = Guid.NewGuid().ToString("N")[..12];
    private EventsApiServer server = null!;
    private RelayHarness harness = null!;

    private TableWriteBehind WriteBehind => harness.Get<TableWriteBehind>();

    public Task InitializeAsync()
    {
        server = new EventsApiServer();
        harness = RelayHarness.Create(azurite, server);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await harness.DisposeAsync();
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Batch_ReadsItsOwnWrites_WritesNothingBeforeTheFlush_AndEachOnceAfter()
    {
        var e = Event("wb-1");
        var order = Order("o-" + tag, "pay-" + tag);
        AddResult first, again;
        OrderContext? byOrder, byPayment;
        using (var batch = WriteBehind.Begin())
        {
            first = await harness.Events.TryAddAsync(e, "m-1", default);
            again = await harness.Events.TryAddAsync(e, "m-1", default);
            await harness.Orders.SaveAsync(order, default);
            byOrder = await harness.Orders.FindByOrderAsync(order.OrderId, default);
            byPayment = await harness.Orders.FindByPaymentAsync("pay-" + tag, default);

            Assert.Empty(await OutsideAsync(() => harness.Events.ReadPendingAsync(100, default)));
            Assert.Null(await OutsideAsync(() => harness.Orders.FindByOrderAsync(order.OrderId, default)));
            await batch.FlushAsync(default);
        }

        Assert.Equal((AddResult.Added, AddResult.AddedBefore), (first, again));
        Assert.Equal(Json(order), Json(byOrder));
        Assert.Equal(Json(order), Json(byPayment));
        Assert.Equal(e.Context.EventId, Assert.Single(await harness.Events.ReadPendingAsync(100, default)).EventId);
        Assert.Equal(Json(order), Json(await harness.Orders.FindByPaymentAsync("pay-" + tag, default)));
        Assert.Null(WriteBehind.Current);
    }

    [Fact]
    public async Task Batch_NotFlushed_WroteNothing_AndTheFlowCanOpenAnother()
    {
        using (WriteBehind.Begin())
        {
            await harness.Events.TryAddAsync(Event("wb-lost"), "m-1", default);
            await harness.Links.RecordNewAsync(Link("c-" + tag, "anonymous_id", "a-" + tag), default);
        } // a failure before the flush: the transport redelivers the whole batch

        Assert.Empty(await harness.Events.ReadPendingAsync(100, default));
        Assert.Empty(await harness.Links.ByCustomerAsync("c-" + tag, default));
        using var next = WriteBehind.Begin();
        Assert.Same(next, WriteBehind.Current);
    }

    [Fact]
    public async Task Flush_EventStoredElsewhereMeanwhile_StaysOneOutboxEntry()
    {
        var e = Event("wb-race");
        using var batch = WriteBehind.Begin();
        Assert.Equal(AddResult.Added, await harness.Events.TryAddAsync(e, "m-here", default));
        // Another instance stores the same event after this batch looked it up, before its flush.
        Assert.Equal(AddResult.Added, await OutsideAsync(() => harness.Events.TryAddAsync(e, "m-there", default)));

        await batch.FlushAsync(default);

        var pending = Assert.Single(await harness.Events.ReadPendingAsync(100, default));
        Assert.Equal("m-there", pending.MessageId);
        Assert.Equal(["m-here"], batch.Unsettled); // its outcome (added) did not stand: it is settled again
    }

    [Fact]
    public async Task Flush_OneOfManyEventsStoredElsewhereMeanwhile_StoresEachOnce()
    {
        // Twelve events over the harness's 4 partitions: the one another instance stores shares its transaction with
        // others, which must still be written.
        var events = Enumerable.Range(0, 12).Select(i => Event($"wb-many-{i}")).ToArray();
        using var batch = WriteBehind.Begin();
        foreach (var e in events)
        {
            Assert.Equal(AddResult.Added, await harness.Events.TryAddAsync(e, "m-here", default));
        }

        await OutsideAsync(() => harness.Events.TryAddAsync(events[5], "m-there", default));

        await batch.FlushAsync(default);

        var pending = await harness.Events.ReadPendingAsync(100, default);
        Assert.Equal(events.Select(e => e.Context.EventId).Order(), pending.Select(p => p.EventId).Order());
        Assert.Equal("m-there", pending.Single(p => p.EventId == events[5].Context.EventId).MessageId);
    }

    [Fact]
    public async Task Batch_TakesEventsItDoesNotKnowAsNew_AndItsFlushNamesTheMessagesForWhichThatWasWrong()
    {
        var others = Event("wb-others");
        var redelivered = Event("wb-redelivered");
        var fresh = Event("wb-fresh");
        await harness.Events.TryAddAsync(others, "m-0", default);
        await harness.Events.TryAddAsync(redelivered, "m-2", default);
        static TrackingEvent Rewrite(TrackingEvent e) => ((SignedIn)e) with { Method = "passkey" };
        using (var batch = WriteBehind.Begin())
        {
            // Not looked up: each is taken as new, to be checked by the flush.
            Assert.Equal(AddResult.Added, await harness.Events.TryAddAsync(others, "m-1", default));
            Assert.Equal(AddResult.Added, await harness.Events.TryAddAsync(redelivered, "m-2", default));
            Assert.Equal(AddResult.Added, await harness.Events.TryAddAsync(fresh, "m-3", default));
            // Known to the batch only as another message's assumption: the table decides. m-0 redelivered stored it,
            // and a rewrite goes to its stored entry, not to the rows m-1 will not get to write.
            Assert.Equal(AddResult.AddedBefore, await harness.Events.TryAddAsync(others, "m-0", default));
            Assert.True(await harness.Events.ReplacePendingAsync(others.Context.EventId, Rewrite, default));
            Assert.Equal(AddResult.Duplicate, await harness.Events.TryAddAsync(fresh, "m-4", default));

            await batch.FlushAsync(default);

            // m-1's outcome (added) was wrong: its host settles it again. m-2's stands: it stored the event before.
            Assert.Equal(["m-1"], batch.Unsettled);
        }

        var pending = await harness.Events.ReadPendingAsync(100, default);
        Assert.Equal(
            new[] { (others.Context.EventId, "m-0"), (redelivered.Context.EventId, "m-2"), (fresh.Context.EventId, "m-3") }.Order(),
            pending.Select(p => (p.EventId, p.MessageId!)).Order());
        var rewritten = pending.Single(p => p.EventId == others.Context.EventId);
        Assert.Equal("passkey", ((SignedIn)System.Text.Json.JsonSerializer.Deserialize(rewritten.Json, RelayJsonContext.Default.TrackingEvent)!).Method);
    }

    [Fact]
    public async Task ReplacePending_InABatch_RewritesItsOwnEventAndOneStoredBefore()
    {
        var before = Event("wb-before");
        var own = Event("wb-own");
        await harness.Events.TryAddAsync(before, "m-0", default);
        static TrackingEvent Rewrite(TrackingEvent e) => ((SignedIn)e) with { Method = "passkey" };
        using (var batch = WriteBehind.Begin())
        {
            await harness.Events.TryAddAsync(own, "m-1", default);

            Assert.True(await harness.Events.ReplacePendingAsync(own.Context.EventId, Rewrite, default));
            Assert.True(await harness.Events.ReplacePendingAsync(before.Context.EventId, Rewrite, default));
            Assert.False(await harness.Events.ReplacePendingAsync(Guid.NewGuid(), Rewrite, default));
            await batch.FlushAsync(default);
        }

        var pending = await harness.Events.ReadPendingAsync(100, default);
        Assert.Equal(2, pending.Count);
        Assert.All(pending, p => Assert.Equal("passkey",
            ((SignedIn)System.Text.Json.JsonSerializer.Deserialize(p.Json, RelayJsonContext.Default.TrackingEvent)!).Method));
    }

    [Fact]
    public async Task Flush_ConsentChangedElsewhereMeanwhile_KeepsBothChanges()
    {
        var user = "customer:c-" + tag;
        await harness.Consent.MergeAsync(user, Snapshot("analytics", false, Monday), new StatedRegion(new Region("DE"), Monday), default);
        using var batch = WriteBehind.Begin();
        var gateRead = await harness.Consent.GetAsync(user, default); // the batch reads the user once
        await OutsideAsync(() => harness.Consent.MergeAsync(user, Snapshot("personalization", true, Monday.AddHours(2)), new StatedRegion(new Region("FR"), Monday.AddHours(2)), default));
        var unseen = await harness.Consent.GetAsync(user, default); // not seen until the flush
        var inBatch = await harness.Consent.MergeAsync(user, Snapshot("analytics", true, Monday.AddHours(1)), null, default);
        var again = await harness.Consent.MergeAsync(user, Snapshot("marketing", true, Monday.AddHours(1)), null, default);

        await batch.FlushAsync(default);

        Assert.Equal(["analytics"], gateRead!.Consent.Gdpr.Keys);
        Assert.Equal(["analytics"], unseen!.Consent.Gdpr.Keys);
        Assert.True(inBatch.Consent.Gdpr["analytics"].Consented);
        Assert.True(again.Consent.Gdpr["analytics"].Consented);
        var stored = await harness.Consent.GetAsync(user, default);
        Assert.NotNull(stored);
        Assert.Equal(["analytics", "marketing", "personalization"], stored.Consent.Gdpr.Keys.Order(StringComparer.Ordinal));
        Assert.All(stored.Consent.Gdpr.Values, p => Assert.True(p.Consented));
        Assert.Equal("FR", stored.Region?.Country); // the other instance's region: this batch stated none
    }

    [Fact]
    public async Task Links_InABatch_AreReadWithItsWrites_AndAMergeIntoALinkForgottenMeanwhileBringsNothingBack()
    {
        var customer = "c-" + tag;
        var kept = await harness.Links.RecordNewAsync(Link(customer, "anonymous_id", "a-" + tag), default);
        var forgotten = await harness.Links.RecordNewAsync(Link("c-gone-" + tag, "email_sha256", "e-" + tag), default);
        using (var batch = WriteBehind.Begin())
        {
            var added = await harness.Links.RecordNewAsync(Link(customer, "email_sha256", "e2-" + tag), default);
            await harness.Links.SeenAgainAsync(kept, Monday.AddDays(2), default);
            await harness.Links.SeenAgainAsync(added, Monday.AddDays(3), default);
            await harness.Links.SeenAgainAsync(forgotten, Monday.AddDays(3), default);
            var seen = await harness.Links.ByCustomerAsync(customer, default);
            Assert.Equal([Monday.AddDays(2), Monday.AddDays(3)], seen.Select(l => l.LastSeen).Order());
            Assert.Equal(Monday.AddDays(3), Assert.Single(await harness.Links.ByIdentifierAsync("email_sha256", "e2-" + tag, default)).LastSeen);
            await OutsideAsync(() => harness.Links.ForgetCustomerAsync("c-gone-" + tag, default));

            await batch.FlushAsync(default);
        }

        Assert.Equal([Monday.AddDays(2), Monday.AddDays(3)], (await harness.Links.ByCustomerAsync(customer, default)).Select(l => l.LastSeen).Order());
        Assert.Equal(Monday.AddDays(2), Assert.Single(await harness.Links.ByIdentifierAsync("anonymous_id", "a-" + tag, default)).LastSeen);
        Assert.Empty(await harness.Links.ByIdentifierAsync("email_sha256", "e-" + tag, default));
        Assert.Empty(await harness.Links.ByCustomerAsync("c-gone-" + tag, default));
    }

    [Fact]
    public async Task Links_ForgottenInTheBatch_AreGoneFromItsReads_AndFromTheTable()
    {
        var customer = "c-" + tag;
        await harness.Links.RecordNewAsync(Link(customer, "anonymous_id", "a-" + tag), default);
        using var batch = WriteBehind.Begin();
        await harness.Links.RecordNewAsync(Link(customer, "email_sha256", "e-" + tag), default);

        Assert.Equal(2, await harness.Links.ForgetCustomerAsync(customer, default));
        Assert.Empty(await harness.Links.ByCustomerAsync(customer, default));
        await batch.FlushAsync(default);

        Assert.Empty(await harness.Links.ByCustomerAsync(customer, default));
        Assert.Empty(await harness.Links.ByIdentifierAsync("anonymous_id", "a-" + tag, default));
    }

    [Fact]
    public async Task Ingest_APurchaseConsentRefused_ReplayedInALaterBatchAfterAnOptIn_LinksNothing_ThoughTheBatchFirstTakesItAsNew()
    {
        var settler = harness.Get<WriteBehindIngest>();
        var refused = Samples.Json(Samples.OrderCreatedRegistered);
        refused["order"]!["custom"]!["fields"]!["checkoutConsentSnapshot"] = "{\"analytics\":false}";
        var optIn = Samples.Json(Samples.CloudEventsConsent);
        optIn["data"]!["name"] = "consentAnalytics";
        optIn["data"]!["value"] = true;
        optIn["data"]!["createdAt"] = "2030-01-01T00:00:00.000Z";
        Task<IReadOnlyList<IngestOutcome>> Batch(params System.Text.Json.Nodes.JsonObject[] inputs) =>
            settler.SettleAsync(inputs.Select(Samples.Bytes).ToList(), (body, ct) => harness.Ingest.IngestAsync(new Inbound(body), ct), default);

        const string customer = "7d2a9c41-5e8b-4f13-a6d0-3c9e1b7f2a58"; // the order's
        await Batch(refused); // the purchase is withheld (the checkout's consent update is stored)
        var linkedFirst = await harness.Links.ByCustomerAsync(customer, default);
        await Batch(optIn);
        var replayed = await Batch(optIn, refused); // the batch does not look the purchase up before its flush

        Assert.Empty(linkedFirst);
        Assert.Equal(IngestOutcomeKind.Duplicate, replayed[1].Kind);
        Assert.Empty(await harness.Links.ByCustomerAsync(customer, default));
    }

    [Fact]
    public async Task Flush_MoreWritesThanOneTransactionHolds_WritesThemAll()
    {
        // 1,200 order contexts with a payment each over the harness's 4 partitions: about 300 writes per partition.
        var orders = Enumerable.Range(0, 1_200).Select(i => Order($"o-{tag}-{i}", $"pay-{tag}-{i}")).ToArray();
        using (var batch = WriteBehind.Begin())
        {
            foreach (var order in orders)
            {
                await harness.Orders.SaveAsync(order, default);
            }

            Assert.Equal(2_400, batch.Count);
            await batch.FlushAsync(default);
        }

        foreach (var order in orders.Where((_, i) => i % 97 == 0).Append(orders[^1]))
        {
            Assert.Equal(Json(order), Json(await harness.Orders.FindByPaymentAsync(order.PaymentIds[0], default)));
        }
    }

    /// <summary>Runs work as another instance would: outside this flow's batch.</summary>
    private static async Task<T> OutsideAsync<T>(Func<Task<T>> work)
    {
        Task<T> task;
        using (ExecutionContext.SuppressFlow())
        {
            task = Task.Run(work);
        }

        return await task;
    }

    /// <summary>An order context as stored (records compare their lists by reference).</summary>
    private static string Json(OrderContext? order) =>
        order is null ? "(none)" : System.Text.Json.JsonSerializer.Serialize(order, RelayJsonContext.Default.OrderContext);

    private TrackingEvent Event(string key) =>
        new SignedIn(new EventContext(Uuid5.ForEvent(key + tag), key + tag, Monday, EventSource.Storefront, key, "acme-de", new Region("DE"), new UserIds("c-" + tag)), "password");

    private static OrderContext Order(string orderId, string paymentId) =>
        new("acme", orderId, "N-" + orderId, null, "EUR", "de-DE", new UserIds("c-" + orderId), new Region("DE"), null, [paymentId], new Dictionary<string, ProductLine>(), null);

    private static IdentityLink Link(string customer, string type, string value) =>
        new(customer, type, value, Uuid5.ForEvent($"{customer}/{type}/{value}"), Monday, Monday, LinkState.Active, "2026-12-02");

    private static ConsentSnapshot Snapshot(string purpose, bool consented, DateTimeOffset at) =>
        new(new Dictionary<string, ConsentPurpose> { [purpose] = new(consented, at) });
}
