using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using CsCheck;
using CtMparticle.Consent;
using CtMparticle.Configuration;
using CtMparticle.Identity;
using CtMparticle.Storage;
using CtMparticle.Storage.Azure;
using CtMparticle.Tests.Infrastructure;
using CtMparticle.Tracking;
using Microsoft.Extensions.Options;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The event store's contract (dedupe records, outbox, parked events, in-flight requests): every implementation of
/// <see cref="IEventStore"/> passes these cases, the full stores through <see cref="StorageContractTests"/>, the log's
/// event store (ADR 0007, step 2) on its own.
/// </summary>
public abstract class EventStoreContractTests
{
    private protected abstract IEventStore Events { get; }

    private protected static TrackingEvent Event(string key, string customer = "c-1", DateTimeOffset? at = null) =>
        new SignedIn(new EventContext(Uuid5.ForEvent(key), key, at ?? new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero),
            EventSource.Storefront, key, "acme-de", new Region("DE"), new UserIds(customer)), "password");

    [Fact]
    public async Task TryAdd_NewEvent_IsStoredAndPending()
    {
        var e = Event("contract-new");

        Assert.Equal(AddResult.Added, await Events.TryAddAsync(e, "m-1", default));

        var pending = Assert.Single(await Events.ReadPendingAsync(100, default), p => p.EventId == e.Context.EventId);
        Assert.Equal("m-1", pending.MessageId);
        var back = System.Text.Json.JsonSerializer.Deserialize(pending.Json, RelayJsonContext.Default.TrackingEvent);
        Assert.Equal(e, back);
    }

    [Fact]
    public async Task TryAdd_SameEventTwice_SecondIsADuplicateAndNothingIsWritten()
    {
        var e = Event("contract-twice");

        Assert.Equal(AddResult.Added, await Events.TryAddAsync(e, "m-1", default));
        Assert.Equal(AddResult.Duplicate, await Events.TryAddAsync(e, "m-2", default));
        Assert.Equal(AddResult.AddedBefore, await Events.TryAddAsync(e, "m-1", default));
        Assert.Equal(AddResult.Duplicate, await Events.TryAddAsync(e, null, default));

        Assert.Single(await Events.ReadPendingAsync(100, default), p => p.EventId == e.Context.EventId);
    }

    [Fact]
    public async Task Withhold_RecordsTheEventAsSeenWithoutStoringItForPush()
    {
        var e = Event("contract-withheld");

        Assert.Equal(AddResult.Added, await Events.WithholdAsync(e, "m-1", default));
        Assert.Equal(AddResult.AddedBefore, await Events.WithholdAsync(e, "m-1", default)); // the same message, redelivered
        Assert.Equal(AddResult.Duplicate, await Events.WithholdAsync(e, "m-2", default));
        Assert.Equal(AddResult.Duplicate, await Events.TryAddAsync(e, "m-1", default));    // withheld is decided, not "stored before"
        Assert.Equal(AddResult.Duplicate, await Events.TryAddAsync(e, "m-3", default));

        Assert.DoesNotContain(await Events.ReadPendingAsync(100, default), p => p.EventId == e.Context.EventId);
    }

    [Fact]
    public async Task Withhold_AnEventStoredForPushBefore_IsADuplicate()
    {
        var e = Event("contract-stored-then-refused");
        await Events.TryAddAsync(e, "m-1", default);

        Assert.Equal(AddResult.Duplicate, await Events.WithholdAsync(e, "m-1", default));
        Assert.Single(await Events.ReadPendingAsync(100, default), p => p.EventId == e.Context.EventId);
    }

    [Fact]
    public async Task HoldPending_HidesTheEventUntilItsTimeAndCountsItAsHeld()
    {
        var e = Event("contract-held");
        await Events.TryAddAsync(e, null, default);
        var key = (await Events.ReadPendingAsync(100, default)).Single(p => p.EventId == e.Context.EventId).Key;
        var now = TimeProvider.System.GetUtcNow();

        await Events.HoldPendingAsync([key], now.AddHours(1), default);
        var whileHeld = await Events.ReadPendingAsync(100, default);
        var stats = await Events.PendingStatsAsync(default);
        await Events.HoldPendingAsync([key], now.AddSeconds(-1), default);
        var afterwards = await Events.ReadPendingAsync(100, default);

        Assert.DoesNotContain(whileHeld, p => p.EventId == e.Context.EventId);
        Assert.True(stats.Held >= 1 && stats.Count >= stats.Held);
        Assert.Single(afterwards, p => p.EventId == e.Context.EventId);
    }

    [Fact]
    public async Task TryAdd_SameEventConcurrently_ExactlyOneWins()
    {
        var e = Event("contract-race");

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Events.TryAddAsync(e, $"m-{i}", default)));

        Assert.Single(results, r => r == AddResult.Added);
        Assert.All(results, r => Assert.NotEqual(AddResult.AddedBefore, r));
        Assert.Single(await Events.ReadPendingAsync(100, default), p => p.EventId == e.Context.EventId);
    }

    [Fact]
    public async Task TryAdd_AfterTheEventWasSent_IsStillADuplicate()
    {
        var e = Event("contract-sent");
        await Events.TryAddAsync(e, "m-1", default);
        var pending = (await Events.ReadPendingAsync(100, default)).Single(p => p.EventId == e.Context.EventId);

        await Events.RemovePendingAsync([pending.Key], EventFate.Delivered, default);

        Assert.Equal(AddResult.AddedBefore, await Events.TryAddAsync(e, "m-1", default));
        Assert.Equal(AddResult.Duplicate, await Events.TryAddAsync(e, "m-9", default));
        Assert.DoesNotContain(await Events.ReadPendingAsync(100, default), p => p.EventId == e.Context.EventId);
    }

    [Fact]
    public async Task RemovePending_IsIdempotent()
    {
        var e = Event("contract-remove");
        await Events.TryAddAsync(e, null, default);
        var key = (await Events.ReadPendingAsync(100, default)).Single(p => p.EventId == e.Context.EventId).Key;

        await Events.RemovePendingAsync([key], EventFate.Delivered, default);
        await Events.RemovePendingAsync([key], EventFate.Delivered, default);

        Assert.DoesNotContain(await Events.ReadPendingAsync(100, default), p => p.EventId == e.Context.EventId);
    }

    [Fact]
    public async Task ReadPending_ReturnsOldestFirstAndRespectsTheLimit()
    {
        for (var i = 0; i < 12; i++)
        {
            await Events.TryAddAsync(Event($"contract-order-{i}", $"c-{i}"), null, default);
        }

        var five = await Events.ReadPendingAsync(5, default);
        var all = await Events.ReadPendingAsync(1000, default);

        Assert.Equal(5, five.Count);
        Assert.Equal(all.OrderBy(p => p.EnqueuedAt).ThenBy(p => p.EventId).Select(p => p.EventId), all.Select(p => p.EventId));
        // Oldest first within each partition: what a bounded read takes from a partition is that partition's oldest.
        foreach (var partition in five.GroupBy(p => p.Partition))
        {
            var oldest = all.Where(p => p.Partition == partition.Key).Take(partition.Count()).Select(p => p.EventId);
            Assert.Equal(oldest.Order(), partition.Select(p => p.EventId).Order());
        }
    }

    [Fact]
    public async Task ReadPending_ABacklogLargerThanTheLimit_ReturnsExactlyTheLimitFromEveryPartition()
    {
        for (var i = 0; i < 40; i++)
        {
            await Events.TryAddAsync(Event($"contract-backlog-{i}", $"b-{i}"), null, default);
        }

        var some = await Events.ReadPendingAsync(10, default);

        Assert.Equal(10, some.Count);
        Assert.Equal(10, some.Select(p => p.EventId).Distinct().Count());
    }

    [Fact]
    public async Task PendingStats_CountsAndAgesThePending()
    {
        await Events.TryAddAsync(Event("contract-stats-1"), null, default);
        await Events.TryAddAsync(Event("contract-stats-2"), null, default);

        var stats = await Events.PendingStatsAsync(default);

        Assert.True(stats.Count >= 2);
        Assert.NotNull(stats.OldestEnqueuedAt);
    }

    [Fact]
    public async Task InFlight_SavedReadAndDeleted()
    {
        var e = Event("contract-inflight");
        await Events.TryAddAsync(e, null, default);
        var key = (await Events.ReadPendingAsync(100, default)).Single(p => p.EventId == e.Context.EventId).Key;
        var body = new byte[300_000];
        Random.Shared.NextBytes(body);
        var request = new InFlightRequest("req-1", "acme-eu", body, [new InFlightBatch(body.Length - 2, [key])], DateTimeOffset.UnixEpoch);

        await Events.SaveInFlightAsync(request, default);
        await Events.SaveInFlightAsync(request, default);
        var read = Assert.Single(await Events.ReadInFlightAsync(default));
        await Events.DeleteInFlightAsync("req-1", default);
        await Events.DeleteInFlightAsync("req-1", default);

        Assert.Equal(body, read.Body);
        Assert.Equal("acme-eu", read.InputName);
        Assert.Equal(key, Assert.Single(read.Events));
        Assert.Empty(await Events.ReadInFlightAsync(default));
    }

    [Fact]
    public async Task InFlight_SeveralSavedInOneCall_AreEachReadBack_AndDeletedOneByOne()
    {
        var events = new[] { Event("contract-inflight-many-1"), Event("contract-inflight-many-2"), Event("contract-inflight-many-3") };
        foreach (var e in events)
        {
            await Events.TryAddAsync(e, null, default);
        }

        var pending = await Events.ReadPendingAsync(100, default);
        var requests = events.Select((e, i) => new InFlightRequest(
            $"req-many-{i}", "acme-eu", [(byte)'[', (byte)i, (byte)']'], [new InFlightBatch(1, [pending.Single(p => p.EventId == e.Context.EventId).Key])],
            DateTimeOffset.UnixEpoch.AddSeconds(i))).ToList();

        await Events.SaveInFlightAsync(requests, default);
        var read = await Events.ReadInFlightAsync(default);
        await Events.DeleteInFlightAsync("req-many-1", default);
        var left = await Events.ReadInFlightAsync(default);

        Assert.Equal(["req-many-0", "req-many-1", "req-many-2"], read.Select(r => r.RequestId));
        Assert.Equal(requests.Select(r => r.Body), read.Select(r => r.Body));
        Assert.Equal(events.Select(e => e.Context.EventId), read.Select(r => Assert.Single(r.Events).EventId));
        Assert.Equal(["req-many-0", "req-many-2"], left.Select(r => r.RequestId));
    }

    [Fact]
    public async Task PurgeSeen_ForgetsOldDedupeRecordsOnly()
    {
        var e = Event("contract-purge");
        await Events.TryAddAsync(e, null, default);
        var key = (await Events.ReadPendingAsync(100, default)).Single(p => p.EventId == e.Context.EventId).Key;
        await Events.RemovePendingAsync([key], EventFate.Delivered, default);

        Assert.Equal(0, await Events.PurgeSeenAsync(TimeProvider.System.GetUtcNow().AddDays(-1), default));
        Assert.True(await Events.PurgeSeenAsync(TimeProvider.System.GetUtcNow().AddMinutes(1), default) >= 1);
        Assert.Equal(AddResult.Added, await Events.TryAddAsync(e, null, default)); // forgotten, so accepted again
    }

    [Fact]
    public async Task Withheld_ForgottenAfterItsRetention_ThenStoredAgain_IsNoLongerWithheld()
    {
        var e = Event("contract-withheld-forgotten");
        await Events.WithholdAsync(e, "m-1", default);
        Assert.True(await Events.PurgeSeenAsync(TimeProvider.System.GetUtcNow().AddMinutes(1), default) >= 1);

        Assert.Equal(AddResult.Added, await Events.TryAddAsync(e, "m-1", default));        // forgotten: stored for push this time
        Assert.Equal(AddResult.Duplicate, await Events.WithholdAsync(e, "m-1", default));  // not the earlier withholding any more
        Assert.Equal(AddResult.AddedBefore, await Events.TryAddAsync(e, "m-1", default));  // the redelivery of what stored it
    }

    [Fact]
    public async Task PurgeSeen_NeverForgetsAnEventThatIsStillPending()
    {
        var e = Event("contract-purge-pending");
        await Events.TryAddAsync(e, "m-1", default);

        await Events.PurgeSeenAsync(TimeProvider.System.GetUtcNow().AddMinutes(1), default);

        // Still in the outbox (mParticle down for a month, say): a second copy must remain a duplicate.
        Assert.Equal(AddResult.Duplicate, await Events.TryAddAsync(e, "m-2", default));
        Assert.Single(await Events.ReadPendingAsync(100, default), p => p.EventId == e.Context.EventId);
    }

    [Fact]
    public async Task QuarantinedAtPush_IsParked_KeptFromPurge_AndRestoredAsItWas()
    {
        var e = Event("contract-park");
        await Events.TryAddAsync(e, "m-park", default);
        var before = (await Events.ReadPendingAsync(100, default)).Single(p => p.EventId == e.Context.EventId);
        var pendingBefore = (await Events.PendingStatsAsync(default)).Count;

        await Events.RemovePendingAsync([before.Key], EventFate.Quarantined, default);
        await Events.RemovePendingAsync([before.Key], EventFate.Quarantined, default); // a retry after a crash: harmless

        // Parked: not read, not counted as pending, and its dedupe record survives any purge while it is parked.
        Assert.DoesNotContain(await Events.ReadPendingAsync(100, default), p => p.EventId == e.Context.EventId);
        Assert.Equal(pendingBefore - 1, (await Events.PendingStatsAsync(default)).Count);
        await Events.PurgeSeenAsync(TimeProvider.System.GetUtcNow().AddMinutes(1), default);
        Assert.Equal(AddResult.Duplicate, await Events.TryAddAsync(e, "m-other", default));

        Assert.Equal(1, await Events.RestoreParkedAsync([e.Context.EventId, e.Context.EventId], default));
        Assert.Equal(0, await Events.RestoreParkedAsync([e.Context.EventId], default)); // restored once only

        var after = (await Events.ReadPendingAsync(100, default)).Single(p => p.EventId == e.Context.EventId);
        Assert.Equal(before.Key, after.Key);
        Assert.Equal(before.MessageId, after.MessageId);
        Assert.Equal(before.Json, after.Json);
    }

    [Fact]
    public async Task PurgeParked_ForgetsOnlyWhatWasParkedBeforeTheCutoff_ThenItsDedupeRecordCanGo()
    {
        var e = Event("contract-park-purge");
        await Events.TryAddAsync(e, null, default);
        var key = (await Events.ReadPendingAsync(100, default)).Single(p => p.EventId == e.Context.EventId).Key;
        await Events.RemovePendingAsync([key], EventFate.Quarantined, default);

        Assert.Equal(0, await Events.PurgeParkedAsync(TimeProvider.System.GetUtcNow().AddDays(-1), default));
        Assert.True(await Events.PurgeParkedAsync(TimeProvider.System.GetUtcNow().AddMinutes(1), default) >= 1);

        Assert.Equal(0, await Events.RestoreParkedAsync([e.Context.EventId], default));
        Assert.True(await Events.PurgeSeenAsync(TimeProvider.System.GetUtcNow().AddMinutes(1), default) >= 1);
        Assert.Equal(AddResult.Added, await Events.TryAddAsync(e, null, default));
    }

    [Fact]
    public async Task ReplacePending_RewritesTheEventInPlace_DueNow_OnlyWhileItIsPending()
    {
        var e = Event("contract-replace");
        await Events.TryAddAsync(e, "m-replace", default);
        var before = (await Events.ReadPendingAsync(100, default)).Single(p => p.EventId == e.Context.EventId);
        await Events.HoldPendingAsync([before.Key], TimeProvider.System.GetUtcNow().AddHours(1), default);
        var replacement = e with { Context = e.Context with { User = e.Context.User with { SessionId = "s-replaced" } } };

        Assert.False(await Events.ReplacePendingAsync(e.Context.EventId, _ => null, default));               // the rule declined
        Assert.False(await Events.ReplacePendingAsync(Guid.NewGuid(), _ => replacement, default));           // never stored
        Assert.True(await Events.ReplacePendingAsync(e.Context.EventId, stored => stored == e ? replacement : null, default));

        var after = (await Events.ReadPendingAsync(100, default)).Single(p => p.EventId == e.Context.EventId); // held before, due now
        Assert.Equal(before.Key, after.Key);
        Assert.Equal("s-replaced", System.Text.Json.JsonSerializer.Deserialize(after.Json, RelayJsonContext.Default.TrackingEvent)!.Context.User.SessionId);
        await Events.RemovePendingAsync([after.Key], EventFate.Delivered, default);
        Assert.False(await Events.ReplacePendingAsync(e.Context.EventId, _ => replacement, default));       // sent: nothing to change
    }
}

/// <summary>
/// The order contexts' contract: every implementation of <see cref="IOrderContextStore"/> passes these cases (the
/// full stores through <see cref="StorageContractTests"/>; the log's stores, ADR 0007, on one log).
/// </summary>
public abstract class OrderContextStoreContractTests : EventStoreContractTests
{
    private protected abstract IOrderContextStore Orders { get; }

    [Fact]
    public async Task OrderContext_FoundByOrderAndByPayment()
    {
        var context = TestOptions.Order01Context();

        await Orders.SaveAsync(context, default);
        await Orders.SaveAsync(context, default);

        Assert.Equal(context.OrderNumber, (await Orders.FindByOrderAsync(context.OrderId, default))!.OrderNumber);
        var byPayment = await Orders.FindByPaymentAsync(context.PaymentIds[0], default);
        Assert.Equal(context.OrderId, byPayment!.OrderId);
        Assert.Equal(context.Lines.Keys.Order(), byPayment.Lines.Keys.Order());
        Assert.Equal(context.User, byPayment.User);
        Assert.Null(await Orders.FindByOrderAsync("unknown", default));
        Assert.Null(await Orders.FindByPaymentAsync("unknown", default));
    }

    [Fact]
    public async Task OrderContext_AnOlderVersionSavedAfterANewer_ChangesNothing_AndAnyVersionReplacesOneWithout()
    {
        // An OrderCreated (version 1) redelivered after a follow-up fetched the order edited since (version 3: a
        // customer set, a second payment): the follow-ups after it must still read version 3.
        var created = TestOptions.Order01Context() with { OrderId = "versions-" + Guid.NewGuid().ToString("N"), PaymentIds = ["pay-1-" + Guid.NewGuid().ToString("N")], Version = 1 };
        var fetched = created with
        {
            User = created.User with { CustomerId = "c-set-later" }, PaymentIds = [created.PaymentIds[0], "pay-2-" + Guid.NewGuid().ToString("N")], Version = 3,
        };

        await Orders.SaveAsync(fetched, default);
        await Orders.SaveAsync(created, default);
        await Orders.SaveAsync(created with { Version = 0 }, default); // a context of no known version is older than any

        Assert.Equal((3L, "c-set-later"), Version(await Orders.FindByOrderAsync(created.OrderId, default)));
        Assert.Equal((3L, "c-set-later"), Version(await Orders.FindByPaymentAsync(created.PaymentIds[0], default)));
        Assert.Equal((3L, "c-set-later"), Version(await Orders.FindByPaymentAsync(fetched.PaymentIds[1], default)));

        // The same version again replaces (a redelivery of the same state); a newer one replaces.
        await Orders.SaveAsync(fetched with { OrderNumber = "same-version" }, default);
        Assert.Equal("same-version", (await Orders.FindByOrderAsync(created.OrderId, default))!.OrderNumber);
        await Orders.SaveAsync(fetched with { User = created.User, Version = 4 }, default);
        Assert.Equal((4L, created.User.CustomerId), Version(await Orders.FindByPaymentAsync(fetched.PaymentIds[1], default)));

        // A context saved without a version (as before versions were kept) gives way to the next one with any.
        var unversioned = created with { OrderId = "unversioned-" + Guid.NewGuid().ToString("N"), Version = 0 };
        await Orders.SaveAsync(unversioned, default);
        Assert.Equal((0L, created.User.CustomerId), Version(await Orders.FindByOrderAsync(unversioned.OrderId, default)));
        await Orders.SaveAsync(unversioned with { User = fetched.User, Version = 2 }, default);
        Assert.Equal((2L, "c-set-later"), Version(await Orders.FindByOrderAsync(unversioned.OrderId, default)));

        static (long, string?) Version(OrderContext? order) => (order!.Version, order.User.CustomerId);
    }

    [Fact]
    public async Task OrderContext_AnOlderVersionSavedLater_IsForgottenWithTheNewest()
    {
        var created = TestOptions.Order01Context() with { OrderId = "versions-purge-" + Guid.NewGuid().ToString("N"), PaymentIds = [], Version = 1 };
        var at = TimeProvider.System.GetUtcNow();
        await Orders.SaveAsync(created with { Version = 3 }, default);
        await Orders.SaveAsync(created, default);

        await Orders.PurgeOrdersOlderThanAsync(at.AddDays(-1), default);
        Assert.Equal(3, (await Orders.FindByOrderAsync(created.OrderId, default))!.Version);

        Assert.True(await Orders.PurgeOrdersOlderThanAsync(at.AddMinutes(1), default) >= 1);
        Assert.Null(await Orders.FindByOrderAsync(created.OrderId, default)); // the replayed version 1 does not come back
    }
}

/// <summary>
/// The consent store's contract: every implementation of <see cref="IConsentStore"/> passes these cases (the full
/// stores through <see cref="StorageContractTests"/>; the log's stores, ADR 0007, on one log).
/// </summary>
public abstract class ConsentStoreContractTests : OrderContextStoreContractTests
{
    private protected abstract IConsentStore Consent { get; }

    [Fact]
    public async Task ConsentRegion_WithAnUnknownSubdivision_ReadsBackAsUnknown()
    {
        await Consent.MergeAsync("customer:contract-region", null, new StatedRegion(new Region("US") { SubdivisionUnknown = true }, DateTimeOffset.UnixEpoch), default);

        var region = (await Consent.GetAsync("customer:contract-region", default))!.Region!;

        Assert.Equal(("US", null, true), (region.Country, region.State, region.SubdivisionUnknown));
    }

    [Fact]
    public async Task ConsentRegion_IsTheNewestStated_WhateverTheArrivalOrder()
    {
        var t0 = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var (lateOlder, inOrder) = ("customer:contract-" + Guid.NewGuid().ToString("N"), "customer:contract-" + Guid.NewGuid().ToString("N"));
        var moved = new StatedRegion(new Region("US", "CA"), t0.AddDays(2));
        var before = new StatedRegion(new Region("DE"), t0.AddDays(1));

        await Consent.MergeAsync(lateOlder, null, moved, default);
        var analytics = new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(true, t0) });
        var afterLate = await Consent.MergeAsync(lateOlder, analytics, before, default); // a redelivered older message
        await Consent.MergeAsync(inOrder, null, before, default);
        await Consent.MergeAsync(inOrder, analytics, moved, default);

        Assert.Equal(new Region("US", "CA"), afterLate.Region);
        Assert.True(afterLate.Consent.Gdpr["analytics"].Consented); // the consent it carried is still learnt
        foreach (var key in new[] { lateOlder, inOrder })
        {
            var stored = (await Consent.GetAsync(key, default))!;
            Assert.Equal((new Region("US", "CA"), t0.AddDays(2)), (stored.Region, stored.RegionAt));
        }
    }

    [Fact]
    public async Task ConsentMerge_NewerWinsPerPurposeWhateverTheArrivalOrder()
    {
        var t0 = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var key = "customer:contract-" + Guid.NewGuid().ToString("N");
        var newer = new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(false, t0.AddHours(2)) });
        var older = new ConsentSnapshot(new Dictionary<string, ConsentPurpose>
        {
            ["analytics"] = new(true, t0.AddHours(1)),
            ["marketing_email"] = new(true, t0.AddHours(1)),
        });

        await Consent.MergeAsync(key, newer, new StatedRegion(new Region("DE"), t0.AddHours(2)), default);
        var merged = await Consent.MergeAsync(key, older, null, default);

        Assert.False(merged.Consent.Gdpr["analytics"].Consented);
        Assert.True(merged.Consent.Gdpr["marketing_email"].Consented);
        Assert.Equal(new Region("DE"), merged.Region);
        Assert.Equal(merged.Consent.Gdpr.Keys.Order(), (await Consent.GetAsync(key, default))!.Consent.Gdpr.Keys.Order());
    }

    [Fact]
    public async Task ConsentMerge_ConcurrentUpdatesAllLand()
    {
        var key = "customer:contract-" + Guid.NewGuid().ToString("N");
        var at = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Consent.MergeAsync(key,
            new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { [$"purpose_{i}"] = new(true, at) }), null, default)));

        Assert.Equal(6, (await Consent.GetAsync(key, default))!.Consent.Gdpr.Count);
    }

    [Fact]
    public async Task ConsentGet_UnknownUser_IsNull()
    {
        Assert.Null(await Consent.GetAsync("customer:nobody-" + Guid.NewGuid().ToString("N"), default));
    }

    [Fact]
    public async Task PersonalData_IsForgottenAfterItsLifetime_ButAConsentRefusalIsKept()
    {
        var context = TestOptions.Order01Context() with { OrderId = "retention-" + Guid.NewGuid().ToString("N"), PaymentIds = ["pay-" + Guid.NewGuid().ToString("N")] };
        var (consented, refused) = ("customer:r-yes-" + Guid.NewGuid().ToString("N"), "customer:r-no-" + Guid.NewGuid().ToString("N"));
        var at = TimeProvider.System.GetUtcNow();
        await Orders.SaveAsync(context, default);
        await Consent.MergeAsync(consented, new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(true, at) }), null, default);
        await Consent.MergeAsync(refused, new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(false, at) }), null, default);

        await Orders.PurgeOrdersOlderThanAsync(at.AddDays(-1), default);
        await Consent.PurgeConsentOlderThanAsync(at.AddDays(-1), RetentionJob.KeepsARefusal, default);
        Assert.NotNull(await Orders.FindByPaymentAsync(context.PaymentIds[0], default)); // within its lifetime: kept
        Assert.NotNull(await Consent.GetAsync(consented, default));

        Assert.True(await Orders.PurgeOrdersOlderThanAsync(at.AddMinutes(1), default) >= 1);
        Assert.True(await Consent.PurgeConsentOlderThanAsync(at.AddMinutes(1), RetentionJob.KeepsARefusal, default) >= 1);

        Assert.Null(await Orders.FindByOrderAsync(context.OrderId, default));
        Assert.Null(await Orders.FindByPaymentAsync(context.PaymentIds[0], default));
        Assert.Null(await Consent.GetAsync(consented, default));
        Assert.False((await Consent.GetAsync(refused, default))!.Consent.Gdpr["analytics"].Consented); // a refusal outlives the lifetime
    }
}

/// <summary>
/// The storage ports' contract. Every adapter (Azure Tables/Blobs here, on Azurite; the embedded store in its own
/// class) must pass the same cases, the event store's, the order contexts' and consent's included.
/// </summary>
public abstract class StorageContractTests : ConsentStoreContractTests
{
    private protected abstract IIdentityLinkStore Links { get; }

    private static readonly DateTimeOffset Monday = new(2026, 11, 30, 9, 0, 0, TimeSpan.Zero);

    private static IdentityLink Link(string customer, string type, string value, DateTimeOffset at) =>
        new(customer, type, value, Uuid5.ForEvent($"{customer}/{type}/{value}"), at, at, LinkState.Active, "2026-12-02");

    [Fact]
    public async Task Links_AreReadFromBothSides_AndARecordedAgainMovesOnlyTheLastSightingForward()
    {
        var tag = Guid.NewGuid().ToString("N");
        var first = Link("c-a-" + tag, "anonymous_id", "anon|" + tag, Monday);

        Assert.Equal(first, await Links.RecordAsync(first, default));
        var later = await Links.RecordAsync(first with { FirstSeen = Monday.AddDays(2), LastSeen = Monday.AddDays(2), SourceEventId = Guid.NewGuid() }, default);
        var older = await Links.RecordAsync(first with { FirstSeen = Monday.AddDays(-1), LastSeen = Monday.AddDays(-1) }, default); // out of order

        Assert.Equal(first with { LastSeen = Monday.AddDays(2) }, later);
        Assert.Equal(later, older);
        Assert.Equal(later, Assert.Single(await Links.ByCustomerAsync("c-a-" + tag, default)));
        Assert.Equal(later, Assert.Single(await Links.ByIdentifierAsync("anonymous_id", "anon|" + tag, default)));
    }

    [Fact]
    public async Task Links_RecordedNewThenSeenAgain_MoveOnlyTheLastSightingForward_OnBothSides_KeepTheState_AndBringNothingBack()
    {
        var tag = Guid.NewGuid().ToString("N");
        var link = await Links.RecordNewAsync(Link("c-s-" + tag, "email_sha256", "e|" + tag, Monday), default);
        Assert.Equal(link, Assert.Single(await Links.ByIdentifierAsync("email_sha256", "e|" + tag, default)));
        // A state set after the caller read the link is kept: only the time moves.
        await Links.SetStateAsync(link, LinkState.Conflicted, "2026-12-03", default);

        await Links.SeenAgainAsync(link, Monday.AddDays(3), default);
        var read = Assert.Single(await Links.ByCustomerAsync("c-s-" + tag, default));
        await Links.SeenAgainAsync(read, Monday.AddDays(1), default); // out of order: never back from what was read

        var expected = link with { LastSeen = Monday.AddDays(3), State = LinkState.Conflicted, RulesVersion = "2026-12-03" };
        Assert.Equal(expected, Assert.Single(await Links.ByCustomerAsync("c-s-" + tag, default)));
        Assert.Equal(expected, Assert.Single(await Links.ByIdentifierAsync("email_sha256", "e|" + tag, default)));

        // Forgotten meanwhile (the customer was deleted): seeing it again does not bring a row back.
        await Links.ForgetCustomerAsync("c-s-" + tag, default);
        await Links.SeenAgainAsync(link, Monday.AddDays(4), default);
        Assert.Empty(await Links.ByCustomerAsync("c-s-" + tag, default));
        Assert.Empty(await Links.ByIdentifierAsync("email_sha256", "e|" + tag, default));
    }

    [Fact]
    public async Task Links_ReadForManyIdentifiersAtOnce_AnswerEachAsReadAlone_AndThoseWithoutLinksEmpty()
    {
        var tag = Guid.NewGuid().ToString("N");
        var tablet = "idfv-" + tag;
        await Links.RecordAsync(Link("c-2-" + tag, "ios_idfv", tablet, Monday.AddHours(1)), default);
        await Links.RecordAsync(Link("c-1-" + tag, "ios_idfv", tablet, Monday), default);
        await Links.RecordAsync(Link("c-1-" + tag, "anonymous_id", "a-" + tag, Monday), default);
        (string, string)[] asked = [("ios_idfv", tablet), ("anonymous_id", "a-" + tag), ("anonymous_id", "never-" + tag), ("ios_idfv", tablet)];

        var many = await Links.ByIdentifiersAsync(asked, default);

        Assert.Equal(3, many.Count); // asked twice, answered once
        foreach (var (type, value) in asked)
        {
            Assert.Equal(await Links.ByIdentifierAsync(type, value, default), many[(type, value)]);
        }

        Assert.Equal(["c-1-" + tag, "c-2-" + tag], many[("ios_idfv", tablet)].Select(l => l.CustomerId));
        Assert.Empty(many[("anonymous_id", "never-" + tag)]);
        Assert.Empty(await Links.ByIdentifiersAsync([], default));
    }

    [Fact]
    public async Task Withheld_IsTheCustomersOwnEvent_NoLinkNorConsent_AndForgottenWithThemOrByRetention()
    {
        var tag = Guid.NewGuid().ToString("N");
        var (refused, another) = (Uuid5.ForEvent("refused/" + tag), Uuid5.ForEvent("another/" + tag));
        var customer = "c-w-" + tag;
        await Links.RecordWithheldAsync(customer, refused, Monday, default);
        await Links.RecordWithheldAsync(customer, refused, Monday, default); // redelivered
        await Links.RecordWithheldAsync("c-old-" + tag, another, Monday.AddYears(-3), default);
        await Links.RecordWithheldAsync("c-new-" + tag, another, Monday.AddYears(3), default);

        Assert.True(await Links.WasWithheldAsync(customer, refused, default));
        Assert.False(await Links.WasWithheldAsync(customer, another, default));
        Assert.False(await Links.WasWithheldAsync(customer + "x", refused, default)); // a neighbour by prefix
        Assert.Empty(await Links.ByCustomerAsync(customer, default)); // no link
        Assert.Null(await Consent.GetAsync(UserKeys.Customer(customer), default)); // nor a consent state beside them

        Assert.Equal(0, await Links.ForgetCustomerAsync(customer, default));
        await Links.PurgeOlderThanAsync(Monday.AddYears(-1), default);

        Assert.False(await Links.WasWithheldAsync(customer, refused, default));
        Assert.False(await Links.WasWithheldAsync("c-old-" + tag, another, default));
        Assert.True(await Links.WasWithheldAsync("c-new-" + tag, another, default));
    }

    [Fact]
    public async Task Links_OfManyCustomers_AreEachCustomersOwn_AndACustomerWithoutAnyHasNone()
    {
        var tag = Guid.NewGuid().ToString("N");
        var tablet = "idfv-" + tag;
        await Links.RecordAsync(Link("c-2-" + tag, "ios_idfv", tablet, Monday.AddHours(1)), default);
        await Links.RecordAsync(Link("c-1-" + tag, "ios_idfv", tablet, Monday), default);
        await Links.RecordAsync(Link("c-1-" + tag, "anonymous_id", "a-" + tag, Monday), default);
        string[] asked = ["c-1-" + tag, "c-2-" + tag, "c-never-" + tag, "c-1-" + tag];

        var many = await Links.ByCustomersAsync(asked, default);

        Assert.Equal(3, many.Count); // asked twice, answered once
        foreach (var customer in asked)
        {
            Assert.Equal(await Links.ByCustomerAsync(customer, default), many[customer]);
        }

        Assert.Equal(["anonymous_id", "ios_idfv"], many["c-1-" + tag].Select(l => l.Type).Order(StringComparer.Ordinal));
        Assert.Empty(many["c-never-" + tag]);
        Assert.Empty(await Links.ByCustomersAsync([], default));
    }

    [Fact]
    public async Task Links_OfASharedIdentifier_ListEveryCustomer_OldestFirst_AndStatesChange()
    {
        var tag = Guid.NewGuid().ToString("N");
        var tablet = "idfv-" + tag;
        await Links.RecordAsync(Link("c-2-" + tag, "ios_idfv", tablet, Monday.AddHours(1)), default);
        var parent = await Links.RecordAsync(Link("c-1-" + tag, "ios_idfv", tablet, Monday), default);
        await Links.RecordAsync(Link("c-1-" + tag, "anonymous_id", "a-" + tag, Monday), default);
        await Links.RecordAsync(Link("c-1-" + tag + "x", "ios_idfv", tablet + "x", Monday), default); // a neighbour by prefix, not the same

        await Links.SetStateAsync(parent, LinkState.Conflicted, "2026-12-03", default);

        var shared = await Links.ByIdentifierAsync("ios_idfv", tablet, default);
        Assert.Equal(["c-1-" + tag, "c-2-" + tag], shared.Select(l => l.CustomerId).ToArray());
        Assert.Equal((LinkState.Conflicted, "2026-12-03"), (shared[0].State, shared[0].RulesVersion));
        Assert.Equal(2, (await Links.ByCustomerAsync("c-1-" + tag, default)).Count);
    }

    [Fact]
    public async Task Links_NotSeenSinceTheCutoff_AreForgottenFromBothSides_TheOthersKept()
    {
        var tag = Guid.NewGuid().ToString("N");
        await Links.RecordAsync(Link("c-old-" + tag, "anonymous_id", "a-old-" + tag, Monday.AddYears(-2)), default);
        await Links.RecordAsync(Link("c-new-" + tag, "anonymous_id", "a-new-" + tag, Monday), default);

        Assert.True(await Links.PurgeOlderThanAsync(Monday.AddYears(-1), default) >= 1); // other tests' links may be older too

        Assert.Empty(await Links.ByCustomerAsync("c-old-" + tag, default));
        Assert.Empty(await Links.ByIdentifierAsync("anonymous_id", "a-old-" + tag, default));
        Assert.Single(await Links.ByIdentifierAsync("anonymous_id", "a-new-" + tag, default));
    }

    [Fact]
    public async Task IdentityDecisions_AreKeptPerEvent_TheNewestWins_AndOldOnesAreForgotten()
    {
        var (kept, replaced, old) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        IdentityDecision Decision(Guid id, DateTimeOffset at, string rule) => new(id, "Signed In", at, "2026-12-02.2", "gdpr-opt-in",
            [new IdentityChoice("customer_id", "c-1", true, rule), new IdentityChoice("anonymous_id", "a|1", false, "shared")]);
        // More than one table transaction's worth, over several partitions.
        var many = Enumerable.Range(0, 150).Select(_ => Decision(Guid.NewGuid(), Monday, "bulk")).ToList();
        await Links.SaveDecisionsAsync([.. many, Decision(kept, Monday, "own"), Decision(replaced, Monday, "first"), Decision(old, Monday.AddYears(-1), "old")], default);
        await Links.SaveDecisionsAsync([Decision(replaced, Monday.AddHours(1), "rebuilt")], default);

        Assert.True(await Links.PurgeDecisionsOlderThanAsync(Monday.AddDays(-90), default) >= 1); // other tests' decisions may be older too

        var read = await Links.DecisionAsync(kept, default);
        Assert.NotNull(read);
        Assert.Equal(Decision(kept, Monday, "own").Choices, read.Choices);
        Assert.Equal((kept, "Signed In", Monday, "2026-12-02.2", "gdpr-opt-in"), (read.EventId, read.EventName, read.DecidedAt, read.RulesVersion, read.Regime));
        Assert.Equal("rebuilt", (await Links.DecisionAsync(replaced, default))!.Choices[0].Rule);
        Assert.Null(await Links.DecisionAsync(old, default));
        Assert.Null(await Links.DecisionAsync(Guid.NewGuid(), default));
        Assert.NotNull(await Links.DecisionAsync(many[149].EventId, default));
    }

    [Fact]
    public async Task Links_OfADeletedCustomer_AreForgottenFromBothSides()
    {
        var tag = Guid.NewGuid().ToString("N");
        await Links.RecordAsync(Link("c-gone-" + tag, "anonymous_id", "a-" + tag, Monday), default);
        await Links.RecordAsync(Link("c-gone-" + tag, "email_sha256", "e-" + tag, Monday), default);
        await Links.RecordAsync(Link("c-stays-" + tag, "anonymous_id", "a-" + tag, Monday), default);

        Assert.Equal(2, await Links.ForgetCustomerAsync("c-gone-" + tag, default));

        Assert.Empty(await Links.ByCustomerAsync("c-gone-" + tag, default));
        Assert.Equal("c-stays-" + tag, Assert.Single(await Links.ByIdentifierAsync("anonymous_id", "a-" + tag, default)).CustomerId);
        Assert.Empty(await Links.ByIdentifierAsync("email_sha256", "e-" + tag, default));
        Assert.Equal(0, await Links.ForgetCustomerAsync("c-gone-" + tag, default));
    }

}

[Collection(AzuriteCollection.Name)]
public sealed class AzureStorageContractTests(AzuriteFixture azurite) : StorageContractTests, IAsyncLifetime
{
    private EventsApiServer? server;
    private RelayHarness? harness;

    private protected override IEventStore Events => harness!.Events;

    private protected override IOrderContextStore Orders => harness!.Orders;

    private protected override IConsentStore Consent => harness!.Consent;

    private protected override IIdentityLinkStore Links => harness!.Links;

    public Task InitializeAsync()
    {
        server = new EventsApiServer();
        harness = RelayHarness.Create(azurite, server);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await harness!.DisposeAsync();
        await server!.DisposeAsync();
    }

    [Fact]
    public async Task Quarantine_SameItemTwice_WritesOneBlob()
    {
        var record = new QuarantineRecord(["malformed_json"], "bad", [],
            new QuarantineSource("m-1", null, null, null, "sb-1", 1, null, new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero), "Platform"),
            Convert.ToBase64String("{oops"u8), "0.1.0", "decode");
        var quarantine = harness!.Get<IQuarantine>();

        var first = await quarantine.WriteAsync(record, default);
        var second = await quarantine.WriteAsync(record, default);

        Assert.Equal(first, second);
        Assert.EndsWith("2026/11/27/malformed_json/decode-m-1.json", first, StringComparison.Ordinal);
        Assert.Single(await harness.QuarantinedAsync());
    }

    [Fact]
    public async Task Layout_RecordedOnFirstUse_AnotherPartitionCountIsRefused()
    {
        var checkpoints = harness!.Get<ICheckpointStore>();

        await StoreLayout.EnsureAsync(checkpoints, 4, default);
        await StoreLayout.EnsureAsync(checkpoints, 4, default);
        var ex = await Assert.ThrowsAsync<StoreLayoutException>(() => StoreLayout.EnsureAsync(checkpoints, 16, default));

        Assert.Contains("Set Relay:Partitions back to 4", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A user's consent state is a row of their user key's range in the links table (a customer's own, an anonymous
    /// user's identifier's), so one read gives the consent gate and link capture or identity resolution both; yet no
    /// link read returns it, no link purge or erasure takes it, and the consent purge takes no link.
    /// </summary>
    [Fact]
    public async Task UsersConsent_LivesBesideTheirLinks_AndNoLinkReadOrPurgeTakesItForALink()
    {
        var customer = "c-beside-" + Guid.NewGuid().ToString("N");
        var browser = "a-" + customer;
        var at = TimeProvider.System.GetUtcNow();
        var link = new IdentityLink(customer, "anonymous_id", browser, Guid.NewGuid(), at.AddDays(-3), at.AddDays(-3), LinkState.Active, "2026-12-02");
        await Links.RecordAsync(link, default);
        await Consent.MergeAsync(UserKeys.Customer(customer), Analytics(true, at), new StatedRegion(new Region("DE"), at), default);
        await Consent.MergeAsync("anonymous:" + browser, Analytics(true, at), new StatedRegion(new Region("AT"), at), default);

        var prefix = UserRows.CustomerPrefix(customer);
        var range = await RowsAsync("links", e => e.RowKey.StartsWith(prefix, StringComparison.Ordinal));
        Assert.Equal([prefix, prefix + RowKeys.Encode("anonymous_id") + "|" + RowKeys.Encode(browser)], range.Select(e => e.RowKey));
        var identifier = UserRows.IdentifierPrefix("anonymous_id", browser);
        range = await RowsAsync("links", e => e.RowKey.StartsWith(identifier, StringComparison.Ordinal));
        Assert.Equal([identifier, identifier + RowKeys.Encode(customer)], range.Select(e => e.RowKey));
        Assert.Empty(await RowsAsync("consent", e => e.PartitionKey != "checkpoint"));

        Assert.Equal(link, Assert.Single(await Links.ByIdentifierAsync("anonymous_id", browser, default)));
        Assert.Equal(link, Assert.Single((await Links.ByIdentifiersAsync([("anonymous_id", browser)], default))[("anonymous_id", browser)]));
        Assert.Equal(link, Assert.Single(await Links.ByCustomerAsync(customer, default)));
        Assert.Equal(link, Assert.Single((await Links.ByCustomersAsync([customer], default))[customer]));
        Assert.Equal(1, await Links.ForgetCustomerAsync(customer, default));
        Assert.Empty(await Links.ByCustomerAsync(customer, default));
        await Links.RecordAsync(link, default);
        Assert.Equal(1, await Links.PurgeOlderThanAsync(at.AddDays(-1), default));
        Assert.Equal("DE", (await Consent.GetAsync(UserKeys.Customer(customer), default))!.Region!.Country);
        Assert.Equal("AT", (await Consent.GetAsync("anonymous:" + browser, default))!.Region!.Country);

        await Links.RecordAsync(link with { LastSeen = at }, default);
        Assert.Equal(2, await Consent.PurgeConsentOlderThanAsync(at.AddMinutes(1), _ => false, default));
        Assert.Null(await Consent.GetAsync(UserKeys.Customer(customer), default));
        Assert.Null(await Consent.GetAsync("anonymous:" + browser, default));
        Assert.Single(await Links.ByCustomerAsync(customer, default));
        Assert.Single(await Links.ByIdentifierAsync("anonymous_id", browser, default));
    }

    /// <summary>
    /// Versions before the move kept users' consent in the consent table. Until the upgrade has moved them, a user's
    /// state is read from both places, per purpose the newest; the upgrade moves each (merged with what was learnt beside
    /// their links meanwhile), records that it is done, and from then on only the new place is read. The downgrade moves
    /// them back for a rollback.
    /// </summary>
    [Fact]
    public async Task Upgrade_MovesCustomersStatesAnOlderVersionLeftInTheConsentTable_ReadFromBothPlacesUntilThen()
    {
        var tag = Guid.NewGuid().ToString("N");
        var (onlyOld, both, anonymous) = (UserKeys.Customer("c-old-" + tag), UserKeys.Customer("c-both-" + tag), "anonymous:a-" + tag);
        var t0 = TimeProvider.System.GetUtcNow().AddDays(-2);
        _ = Consent; // the store creates its tables
        await WriteAsAnOlderVersionAsync(onlyOld, Analytics(true, t0), "DE", t0);
        await WriteAsAnOlderVersionAsync(both, new ConsentSnapshot(new Dictionary<string, ConsentPurpose>
        {
            ["analytics"] = new(true, t0),
            ["marketing_email"] = new(true, t0),
        }), "FR", t0);
        await WriteAsAnOlderVersionAsync(anonymous, Analytics(true, t0), "AT", t0);
        var many = Enumerable.Range(0, 40).Select(i => UserKeys.Customer($"c-many-{i}-{tag}")).ToArray(); // moved 8 at a time
        await Task.WhenAll(many.Select(key => WriteAsAnOlderVersionAsync(key, Analytics(true, t0), "NL", t0)));
        await Consent.MergeAsync(both, Analytics(false, t0.AddHours(1)), null, default); // learnt by this version before the move

        async Task AssertStatesAsync()
        {
            var old = (await Consent.GetAsync(onlyOld, default))!;
            Assert.True(old.Consent.Gdpr["analytics"].Consented);
            Assert.Equal("DE", old.Region!.Country);
            var merged = (await Consent.GetAsync(both, default))!;
            Assert.False(merged.Consent.Gdpr["analytics"].Consented);
            Assert.True(merged.Consent.Gdpr["marketing_email"].Consented);
            Assert.Equal("FR", merged.Region!.Country);
            Assert.Equal("AT", (await Consent.GetAsync(anonymous, default))!.Region!.Country);
        }

        await AssertStatesAsync();
        var upgrade = harness!.Get<IStoreUpgrade>();
        Assert.Equal(43, await upgrade.UpgradeAsync(default));
        Assert.Equal(0, await upgrade.UpgradeAsync(default));
        await AssertStatesAsync();
        foreach (var key in many)
        {
            Assert.Equal("NL", (await Consent.GetAsync(key, default))!.Region!.Country);
        }

        Assert.Empty(await RowsAsync("consent", e => e.PartitionKey != "checkpoint"));
        Assert.Equal(43, (await RowsAsync("links", e => !UserRows.IsLink(e))).Count);
        Assert.Equal("beside-links", await harness.Get<ICheckpointStore>().GetAsync(TableConsentStore.LayoutCheckpoint, default));

        // Once moved, the consent table is no longer read for customers: what an older version still running writes
        // there now is not seen (README: stop it before starting this one).
        var late = UserKeys.Customer("c-late-" + tag);
        await WriteAsAnOlderVersionAsync(late, Analytics(true, t0), "DE", t0);
        Assert.Null(await Consent.GetAsync(late, default));

        // A rollback (ctmp store downgrade): every customer's state goes back where the older version reads it, merged
        // with what that version wrote meanwhile; this version reads both places again until it moves them again.
        Assert.Equal(43, await upgrade.DowngradeAsync(default));
        Assert.Empty(await RowsAsync("links", e => !UserRows.IsLink(e)));
        var back = (await RowsAsync("consent", e => e.PartitionKey != "checkpoint")).ToDictionary(e => RowKeys.Decode(e.RowKey)!, e => e);
        Assert.Equal(new[] { anonymous, both, late, onlyOld }.Concat(many).Order(StringComparer.Ordinal), back.Keys.Order(StringComparer.Ordinal));
        var bothBack = JsonSerializer.Deserialize(back[both].GetString("Consent"), RelayJsonContext.Default.ConsentSnapshot)!;
        Assert.False(bothBack.Gdpr["analytics"].Consented); // what this version learnt goes back with it
        Assert.True(bothBack.Gdpr["marketing_email"].Consented);
        await AssertStatesAsync();
        Assert.Equal("DE", (await Consent.GetAsync(late, default))!.Region!.Country);
        Assert.Equal(44, await upgrade.UpgradeAsync(default));
        await AssertStatesAsync();
    }

    [Fact]
    public void RowKeys_DecodeWhatTheyEncode_AndRefuseWhatIsNoEncoding()
    {
        Gen.String.Sample(value => Assert.Equal(value, RowKeys.Decode(RowKeys.Encode(value))), iter: 5_000);
        Assert.Null(RowKeys.Decode("a"));
    }

    private static ConsentSnapshot Analytics(bool consented, DateTimeOffset at) =>
        new(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(consented, at) });

    /// <summary>A user's consent as versions before the move kept it: in the consent table, customers' too.</summary>
    /// <summary>
    /// Versions before order versions were kept wrote an order's context under its order id alone, without a version in
    /// it: it is still read, and any versioned save of the order replaces it (each version is a row of its own, so the
    /// save reads nothing first).
    /// </summary>
    [Fact]
    public async Task OrderContext_WrittenByAnOlderVersion_IsReadAndGivesWayToTheNextVersionSaved()
    {
        var context = TestOptions.Order01Context() with { OrderId = "layout-" + Guid.NewGuid().ToString("N"), Version = 0 };
        var json = JsonNode.Parse(JsonSerializer.SerializeToUtf8Bytes(context, RelayJsonContext.Default.OrderContext))!.AsObject();
        Assert.True(json.Remove("version")); // as older versions wrote it
        var partitions = harness!.Get<IOptions<RelayOptions>>().Value.Partitions;
        var old = new TableEntity(Partitions.Name("o", Partitions.Of(context.OrderId, partitions)), RowKeys.Encode(context.OrderId));
        Chunks.Write(old, "Context", System.Text.Encoding.UTF8.GetBytes(json.ToJsonString()));
        _ = Orders; // the store creates its table
        await Table("orders").AddEntityAsync(old);

        Assert.Equal((context.OrderNumber, 0L), Read(await Orders.FindByOrderAsync(context.OrderId, default)));
        await Orders.SaveAsync(context with { OrderNumber = "edited", Version = 2 }, default);

        Assert.Equal(("edited", 2L), Read(await Orders.FindByOrderAsync(context.OrderId, default)));
        Assert.Equal(
            [RowKeys.Encode(context.OrderId), RowKeys.Encode(context.OrderId) + "|0000000000000000002"],
            (await RowsAsync("orders", e => e.PartitionKey.StartsWith('o') && e.RowKey.StartsWith(RowKeys.Encode(context.OrderId), StringComparison.Ordinal))).Select(e => e.RowKey));

        static (string?, long) Read(OrderContext? order) => (order!.OrderNumber, order.Version);
    }

    /// <summary>
    /// Retention takes a superseded version by its own age, and an order when its newest version is old, with a
    /// replayed older version saved since (which says nothing newer).
    /// </summary>
    [Fact]
    public async Task OrderContext_Retention_GoesByTheNewestVersionsAge()
    {
        var edited = TestOptions.Order01Context() with { OrderId = "aging-" + Guid.NewGuid().ToString("N"), PaymentIds = [], Version = 1 };
        var replayed = edited with { OrderId = "aging-replayed-" + Guid.NewGuid().ToString("N"), Version = 3 };
        await Orders.SaveAsync(edited, default);
        await Orders.SaveAsync(replayed, default);
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // Table Storage's timestamps are the service's: time must pass
        var cutoff = TimeProvider.System.GetUtcNow();
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await Orders.SaveAsync(edited with { OrderNumber = "edited", Version = 2 }, default);
        await Orders.SaveAsync(replayed with { Version = 1 }, default);

        Assert.Equal(1, await Orders.PurgeOrdersOlderThanAsync(cutoff, default));

        Assert.Equal("edited", (await Orders.FindByOrderAsync(edited.OrderId, default))!.OrderNumber);
        Assert.Single(await RowsAsync("orders", e => e.RowKey.StartsWith(RowKeys.Encode(edited.OrderId), StringComparison.Ordinal)));
        Assert.Null(await Orders.FindByOrderAsync(replayed.OrderId, default));
        Assert.Empty(await RowsAsync("orders", e => e.RowKey.StartsWith(RowKeys.Encode(replayed.OrderId), StringComparison.Ordinal)));
    }

    private async Task WriteAsAnOlderVersionAsync(string userKey, ConsentSnapshot consent, string country, DateTimeOffset at)
    {
        var partitions = harness!.Get<IOptions<RelayOptions>>().Value.Partitions;
        await Table("consent").AddEntityAsync(new TableEntity(Partitions.Name("c", Partitions.Of(userKey, partitions)), RowKeys.Encode(userKey))
        {
            ["Consent"] = JsonSerializer.Serialize(consent, RelayJsonContext.Default.ConsentSnapshot),
            ["Country"] = country,
            ["UpdatedAt"] = at,
        });
    }

    private TableClient Table(string name) => new(azurite.ConnectionString, harness!.Prefix + name);

    private async Task<List<TableEntity>> RowsAsync(string table, Func<TableEntity, bool> where)
    {
        var rows = new List<TableEntity>();
        await foreach (var entity in Table(table).QueryAsync<TableEntity>())
        {
            if (where(entity))
            {
                rows.Add(entity);
            }
        }

        return [.. rows.OrderBy(e => e.RowKey, StringComparer.Ordinal)];
    }

    [Fact]
    public async Task TryAdd_LargeOrderEvent_RoundTripsThroughChunkedProperties()
    {
        var lines = Enumerable.Range(0, 900).Select(i => new ProductLine($"SKU-{i:D5}", new string('n', 80), "v", "b", null, 1.00m, 1, 1.00m)).ToArray();
        var order = new OrderCompleted(Event("contract-large").Context, "o-large", "L-1", "EUR", 900m, null, null, null, lines, OrderOrigin.Created);

        Assert.Equal(AddResult.Added, await Events.TryAddAsync(order, null, default));

        var pending = (await Events.ReadPendingAsync(1000, default)).Single(p => p.EventId == order.Context.EventId);
        Assert.True(pending.Json.Length > 64 * 1024);
        var back = Assert.IsType<OrderCompleted>(System.Text.Json.JsonSerializer.Deserialize(pending.Json, RelayJsonContext.Default.TrackingEvent));
        Assert.Equal(900, back.Products.Count);
    }
}

/// <summary>The same contract on the embedded default: a real SQLite file in a temporary folder.</summary>
public sealed class SqliteStorageContractTests : StorageContractTests, IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ctmp-contract-").FullName;
    private readonly CtMparticle.Embedded.SqliteStore store;

    public SqliteStorageContractTests() =>
        store = CtMparticle.Embedded.SqliteStore.Open(Path.Combine(folder, "state.db"), TimeProvider.System);

    private protected override IEventStore Events => store;

    private protected override IOrderContextStore Orders => store;

    private protected override IConsentStore Consent => store;

    private protected override IIdentityLinkStore Links => store;

    [Fact]
    public async Task Store_FileLockedByAnotherProcess_IsATransientFailureNotTheInputsFault()
    {
        using var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(folder, "state.db")};Pooling=False");
        other.Open();
        using (var begin = other.CreateCommand())
        {
            begin.CommandText = "BEGIN EXCLUSIVE";
            begin.ExecuteNonQuery();
        }

        // After the store's busy timeout (5 s) it gives up: the input is retried later, never quarantined for this.
        await Assert.ThrowsAsync<TransientFailureException>(() => store.TryAddAsync(Event("contract-locked"), "m-1", default));
    }

    [Fact]
    public void Store_ReopenedWithAnotherPartitionCount_RefusesToOpenAndSaysWhatToSet()
    {
        store.Dispose();

        var ex = Assert.Throws<StoreLayoutException>(() => CtMparticle.Embedded.SqliteStore.Open(Path.Combine(folder, "state.db"), TimeProvider.System, partitions: 8));

        Assert.Contains("Set Relay:Partitions back to 16", ex.Message, StringComparison.Ordinal);
        using var again = CtMparticle.Embedded.SqliteStore.Open(Path.Combine(folder, "state.db"), TimeProvider.System, partitions: 16);
    }

    [Fact]
    public async Task Store_SurvivesReopening()
    {
        var e = Event("contract-reopen");
        await store.TryAddAsync(e, "m-1", default);
        store.Dispose();

        using var reopened = CtMparticle.Embedded.SqliteStore.Open(Path.Combine(folder, "state.db"), TimeProvider.System);

        Assert.Single(await reopened.ReadPendingAsync(10, default), p => p.EventId == e.Context.EventId);
        Assert.Equal(AddResult.Duplicate, await reopened.TryAddAsync(e, "m-2", default));
    }

    [Fact]
    public async Task Store_WrittenWithTheEarlierOutbox_MovesItsPendingEventsToTheAppendOnlyTable()
    {
        store.Dispose();
        var file = Path.Combine(folder, "old.db");
        var e = Event("contract-old-outbox");
        using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False"))
        {
            // The outbox as stores before 2026-12-02 created it (keyed by event id, without rowid, no not_before_ticks).
            old.Open();
            using var create = old.CreateCommand();
            create.CommandText = """
                CREATE TABLE pending (event_id TEXT PRIMARY KEY, partition TEXT NOT NULL, enqueued_ticks INTEGER NOT NULL, message_id TEXT, json BLOB NOT NULL) WITHOUT ROWID;
                CREATE INDEX pending_by_age ON pending (enqueued_ticks, event_id);
                INSERT INTO pending VALUES ($id, 'e00', 638000000000000000, 'm-old', $json);
                """;
            create.Parameters.AddWithValue("$id", e.Context.EventId.ToString("N"));
            create.Parameters.AddWithValue("$json", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(e, RelayJsonContext.Default.TrackingEvent));
            create.ExecuteNonQuery();
        }

        using var opened = CtMparticle.Embedded.SqliteStore.Open(file, TimeProvider.System);

        var pending = Assert.Single(await opened.ReadPendingAsync(10, default));
        Assert.Equal((e.Context.EventId, "m-old"), (pending.EventId, pending.MessageId));
        using var check = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False");
        check.Open();
        using var sql = check.CreateCommand();
        sql.CommandText = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'pending'";
        Assert.DoesNotContain("WITHOUT ROWID", (string)sql.ExecuteScalar()!, StringComparison.Ordinal);
        await opened.RemovePendingAsync([pending.Key], EventFate.Delivered, default);
        Assert.Empty(await opened.ReadPendingAsync(10, default));
    }

    [Fact]
    public async Task Store_WrittenBeforeRegionsKeptTheirTime_ReadsTheRegionAndTheNextStatedReplacesIt()
    {
        store.Dispose();
        var file = Path.Combine(folder, "old-consent.db");
        using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False"))
        {
            // The consent table as stores before 2026-12-04 created it (the region without the time it was stated).
            old.Open();
            using var create = old.CreateCommand();
            create.CommandText = """
                CREATE TABLE consent (user_key TEXT PRIMARY KEY, json TEXT NOT NULL, country TEXT, state TEXT, updated_ticks INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO consent VALUES ('customer:c-old', $json, 'DE', NULL, 638000000000000000);
                """;
            create.Parameters.AddWithValue("$json", System.Text.Json.JsonSerializer.Serialize(ConsentSnapshot.Empty, RelayJsonContext.Default.ConsentSnapshot));
            create.ExecuteNonQuery();
        }

        using var opened = CtMparticle.Embedded.SqliteStore.Open(file, TimeProvider.System);
        var before = (await opened.GetAsync("customer:c-old", default))!;
        var statedLongAgo = new StatedRegion(new Region("AT"), new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var after = await opened.MergeAsync("customer:c-old", null, statedLongAgo, default);
        var older = await opened.MergeAsync("customer:c-old", null, statedLongAgo with { Region = new Region("CH"), At = statedLongAgo.At.AddDays(-1) }, default);

        Assert.Equal((new Region("DE"), DateTimeOffset.MinValue), (before.Region, before.RegionAt));
        Assert.Equal(new Region("AT"), after.Region); // a region without a time gives way to any stated
        Assert.Equal(new Region("AT"), older.Region); // and from then on the newest stays
        Assert.Equal(statedLongAgo.At, (await opened.GetAsync("customer:c-old", default))!.RegionAt);
    }

    [Fact]
    public async Task Store_WrittenBeforeOrderRetention_CountsItsOrdersAsSavedWhenFirstOpened()
    {
        store.Dispose();
        var file = Path.Combine(folder, "old-orders.db");
        var context = TestOptions.Order01Context();
        using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False"))
        {
            // The order context table as stores before retention created it (no save time).
            old.Open();
            using var create = old.CreateCommand();
            create.CommandText = """
                CREATE TABLE orders (order_id TEXT PRIMARY KEY, json BLOB NOT NULL) WITHOUT ROWID;
                INSERT INTO orders VALUES ($id, $json);
                """;
            create.Parameters.AddWithValue("$id", context.OrderId);
            create.Parameters.AddWithValue("$json", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(context, RelayJsonContext.Default.OrderContext));
            create.ExecuteNonQuery();
        }

        var opened = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
        using var reopened = CtMparticle.Embedded.SqliteStore.Open(file, new Microsoft.Extensions.Time.Testing.FakeTimeProvider(opened));

        Assert.Equal(0, await reopened.PurgeOrdersOlderThanAsync(opened.AddDays(-400), default)); // not forgotten at once
        Assert.Equal(context.OrderNumber, (await reopened.FindByOrderAsync(context.OrderId, default))!.OrderNumber);
        Assert.Equal(1, await reopened.PurgeOrdersOlderThanAsync(opened.AddDays(1), default));  // but aging from then on
    }

    [Fact]
    public async Task Store_WrittenWithKeyedOrderAndDecisionTables_MovesThemToAppendOnlyTablesKeepingEveryRow()
    {
        store.Dispose();
        var file = Path.Combine(folder, "old-keyed.db");
        var context = TestOptions.Order01Context();
        var at = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
        var decision = new IdentityDecision(Guid.NewGuid(), "Signed In", at, "rules-1", "gdpr-opt-in", [new IdentityChoice("customer_id", "c-1", true, "own")]);
        using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False"))
        {
            // The two tables as stores before 2026-12-03 created them: keyed by the id, without rowid.
            old.Open();
            using var create = old.CreateCommand();
            create.CommandText = """
                CREATE TABLE orders (order_id TEXT PRIMARY KEY, json BLOB NOT NULL, saved_ticks INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
                INSERT INTO orders VALUES ($id, $json, $t);
                CREATE TABLE identity_decisions (event_id TEXT PRIMARY KEY, decided_ticks INTEGER NOT NULL, json BLOB NOT NULL) WITHOUT ROWID;
                INSERT INTO identity_decisions VALUES ($e, $t, $d);
                """;
            create.Parameters.AddWithValue("$id", context.OrderId);
            create.Parameters.AddWithValue("$json", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(context, RelayJsonContext.Default.OrderContext));
            create.Parameters.AddWithValue("$t", at.UtcTicks);
            create.Parameters.AddWithValue("$e", decision.EventId.ToString("N"));
            create.Parameters.AddWithValue("$d", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(decision, RelayJsonContext.Default.IdentityDecision));
            create.ExecuteNonQuery();
        }

        using var opened = CtMparticle.Embedded.SqliteStore.Open(file, new Microsoft.Extensions.Time.Testing.FakeTimeProvider(at));

        Assert.Equal(context.OrderNumber, (await opened.FindByOrderAsync(context.OrderId, default))!.OrderNumber);
        Assert.Equal("own", Assert.Single((await opened.DecisionAsync(decision.EventId, default))!.Choices).Rule);
        // Saving again replaces the row (still one per id), as before.
        await opened.SaveAsync(context with { OrderNumber = "renumbered" }, default);
        await opened.SaveDecisionsAsync([decision with { RulesVersion = "rules-2" }], default);
        Assert.Equal("renumbered", (await opened.FindByOrderAsync(context.OrderId, default))!.OrderNumber);
        Assert.Equal("rules-2", (await opened.DecisionAsync(decision.EventId, default))!.RulesVersion);
        // The moved table keeps the order's version from then on: an older one no longer replaces it.
        await opened.SaveAsync(context with { OrderNumber = "older", Version = context.Version - 1 }, default);
        Assert.Equal("renumbered", (await opened.FindByOrderAsync(context.OrderId, default))!.OrderNumber);
        Assert.Equal(1, await opened.PurgeOrdersOlderThanAsync(at.AddDays(1), default));
        using var check = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False");
        check.Open();
        using var sql = check.CreateCommand();
        sql.CommandText = "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN ('orders', 'identity_decisions') ORDER BY name";
        using var reader = sql.ExecuteReader();
        var tables = new List<string>();
        while (reader.Read())
        {
            tables.Add(reader.GetString(0));
            Assert.DoesNotContain("WITHOUT ROWID", reader.GetString(1), StringComparison.Ordinal);
        }

        Assert.Equal(["identity_decisions", "orders"], tables);
    }

    [Fact]
    public async Task Quarantine_FolderRecordsAreListedFoundAndDeleted()
    {
        var quarantine = new CtMparticle.Embedded.FolderQuarantine(Path.Combine(folder, "quarantine"));
        var record = new QuarantineRecord(["malformed_json"], "bad", [],
            new QuarantineSource("m-9", null, null, null, null, null, null, new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero), "Platform"),
            Convert.ToBase64String("{oops"u8), "0.1.0", "decode");

        var path = await quarantine.WriteAsync(record, default);
        await quarantine.WriteAsync(record, default);

        Assert.Equal("2026/11/27/malformed_json/decode-m-9.json", path);
        Assert.Equal(path, Assert.Single(quarantine.List()).Path);
        Assert.Equal(path, quarantine.Find("m-9")!.Value.Path);
        quarantine.Delete(path);
        Assert.Empty(quarantine.List());
    }

    [Fact]
    public async Task Quarantine_FolderDeletedAfterAWrite_IsCreatedAgainForTheNext()
    {
        // The writer remembers the folders it created; one removed since (by hand, or a cleanup) must not lose a record.
        var quarantine = new CtMparticle.Embedded.FolderQuarantine(Path.Combine(folder, "quarantine"));
        QuarantineRecord Record(string id) => new(["malformed_json"], "bad", [],
            new QuarantineSource(id, null, null, null, null, null, null, new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero), "Platform"),
            Convert.ToBase64String("{oops"u8), "0.1.0", "decode");

        await quarantine.WriteAsync(Record("m-11"), default);
        Directory.Delete(quarantine.Root, recursive: true);
        var path = await quarantine.WriteAsync(Record("m-12"), default);

        Assert.Equal("2026/11/27/malformed_json/decode-m-12.json", Assert.Single(quarantine.List()).Path);
        Assert.Equal(path, quarantine.Find("m-12")!.Value.Path);
        Assert.Empty(Directory.EnumerateFiles(quarantine.Root, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Quarantine_TemporaryLeftByACrash_IsReplacedWholeNotAppendedTo()
    {
        // The writer creates its temporary file new (no truncate on close, see FolderQuarantine.WriteNew): one a killed
        // run left, longer than the record, must neither stop the write nor leave its tail in the record.
        var quarantine = new CtMparticle.Embedded.FolderQuarantine(Path.Combine(folder, "quarantine"));
        var record = new QuarantineRecord(["malformed_json"], "bad", [],
            new QuarantineSource("m-13", null, null, null, null, null, null, new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero), "Platform"),
            Convert.ToBase64String("{oops"u8), "0.1.0", "decode");
        var leftover = Path.Combine(quarantine.Root, "2026", "11", "27", "malformed_json", "decode-m-13.json.tmp");
        Directory.CreateDirectory(Path.GetDirectoryName(leftover)!);
        await File.WriteAllTextAsync(leftover, new string('x', 64 * 1024));

        var path = await quarantine.WriteAsync(record, default);

        var (listed, read) = Assert.Single(quarantine.List());
        Assert.Equal(path, listed);
        Assert.Equal(record.PayloadBase64, read.PayloadBase64);
        Assert.Empty(quarantine.Unreadable());
        Assert.False(File.Exists(leftover));
        Assert.True(new FileInfo(Path.Combine(quarantine.Root, path)).Length < 4096);
    }

    [Theory]
    [InlineData("{\"Reasons\":[\"malformed_json\"],\"Mess")]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("{\"Reasons\":[],\"Message\":\"x\"}")]
    public async Task Quarantine_DamagedFolderRecord_IsReportedNotListedAndTheOthersStay(string damaged)
    {
        var quarantine = new CtMparticle.Embedded.FolderQuarantine(Path.Combine(folder, "quarantine"));
        var record = new QuarantineRecord(["malformed_json"], "bad", [],
            new QuarantineSource("m-10", null, null, null, null, null, null, new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero), "Platform"),
            Convert.ToBase64String("{oops"u8), "0.1.0", "decode");
        var good = await quarantine.WriteAsync(record, default);
        var bad = "2026/11/27/malformed_json/decode-hand-edited.json";
        await File.WriteAllTextAsync(Path.Combine(quarantine.Root, bad), damaged);

        Assert.Equal(good, Assert.Single(quarantine.List()).Path);
        Assert.Equal(bad, Assert.Single(quarantine.Unreadable()));
        Assert.True(File.Exists(Path.Combine(quarantine.Root, bad)));
    }

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }
}
