using System.Text.Json;
using CsCheck;
using CtMparticle.Embedded;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using CtMparticle.Tracking;
using Microsoft.Extensions.Time.Testing;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The log's order contexts (ADR 0007, step 3) against the SQLite store as the oracle: random runs of saves (older and
/// newer versions, shared and moved payment ids), finds, retention and waits, in and out of batches, with rollbacks
/// and crashes, must find the same contexts by order and by payment, and forget the same orders.
/// </summary>
public sealed class LogOrderContextStoreTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-log-orders-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    private enum Op { Save, Save2, Purge, Wait, Begin, Commit, Rollback, Savepoint, Release, RollbackTo, Crash, Compact }

    [Fact]
    public async Task SavesFindsAndRetention_InAndOutOfBatches_WithRollbacksAndCrashes_AnswerAsTheSqliteStoreDoes()
    {
        var gen = Gen.Select(Gen.Enum<Op>(), Gen.Int[0, 4], Gen.Int[0, 4], Gen.Int[0, 63]).Array[1, 50];
        var runs = 0;
        await gen.SampleAsync(async operations =>
        {
            var directory = Path.Combine(work, $"run-{Interlocked.Increment(ref runs)}");
            var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 4, 9, 0, 0, TimeSpan.Zero));
            await using var oracle = SqliteStore.Open(Path.Combine(directory, "oracle", "state.db"), time);
            using var stores = new OracleRun(oracle, Path.Combine(directory, "log"), time);
            foreach (var (op, order, version, payments) in operations)
            {
                switch (op)
                {
                    case Op.Save or Op.Save2:
                        var context = Context(order, version, payments, op == Op.Save2 ? "again" : "first");
                        await oracle.SaveAsync(context, default);
                        await stores.Log.Orders.SaveAsync(context, default);
                        break;
                    case Op.Purge:
                        var cutoff = time.GetUtcNow().AddMinutes(-version * 5);
                        Assert.Equal(await oracle.PurgeOrdersOlderThanAsync(cutoff, default), await stores.Log.Orders.PurgeOrdersOlderThanAsync(cutoff, default));
                        break;
                    case Op.Wait:
                        time.Advance(TimeSpan.FromMinutes(version * 3 + 1));
                        break;
                    default:
                        await stores.BatchStepAsync(op.ToString());
                        break;
                }

                await AssertSameAsync(oracle, stores.Log.Orders);
            }

            await stores.FinishAsync();
            await AssertSameAsync(oracle, stores.Log.Orders);
        }, iter: 200);
    }

    [Fact]
    public async Task OrdersAndEvents_OnOneLog_AreEachRebuiltFromItAtOpen()
    {
        var directory = Path.Combine(work, "shared");
        var e = new SignedIn(new EventContext(Uuid5.ForEvent("shared-log"), "shared-log", DateTimeOffset.UnixEpoch, EventSource.Storefront, "k", "acme-de",
            new Region("DE"), new UserIds("c-1")), "password");
        using (var store = LogStore.Open(directory, TimeProvider.System, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill))
        {
            await store.BeginBatchAsync(default);
            await store.Orders.SaveAsync(Context(1, 2, 0b11, "shared"), default);
            await store.Events.TryAddAsync(e, "m-1", default);
            await store.CommitBatchAsync(default);
        }

        using var reopened = LogStore.Open(directory, TimeProvider.System, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);
        Assert.Equal("shared", (await reopened.Orders.FindByPaymentAsync("pay-1", default))!.OrderNumber);
        Assert.Equal(AddResult.AddedBefore, await reopened.Events.TryAddAsync(e, "m-1", default));
        Assert.Equal((1, 1), (reopened.Orders.Count, reopened.Events.Known));
    }

    /// <summary>
    /// Records written before order contexts were kept field by field hold the context's JSON: a store with such a
    /// record finds it by order and by payment as before, a newer save replaces it, and a compaction keeps it readable.
    /// </summary>
    [Fact]
    public async Task ARecordThatHoldsTheContextAsJson_IsFoundAsBefore()
    {
        var directory = Path.Combine(work, "json-record");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 4, 9, 0, 0, TimeSpan.Zero));
        var old = Context(1, 2, 0b1, "as-json");
        var other = Context(2, 1, 0b10, "also-json");
        using (var log = StateLog.Open(directory))
        {
            foreach (var context in new[] { old, other })
            {
                var json = JsonSerializer.SerializeToUtf8Bytes(context, RelayJsonContext.Default.OrderContext);
                log.Append(OrderRecord.Kind, new OrderRecord(context.OrderId, context.Version, time.GetUtcNow().UtcTicks, Applied: true, Forgotten: false, 0,
                    [.. context.PaymentIds.Select(p => new PaymentMapping(p, 0))], json).Encode().Span);
            }

            log.Commit(durable: true);
        }

        using (var store = LogStore.Open(directory, time))
        {
            Assert.Equal(Text(old), Text(await store.Orders.FindByOrderAsync("order-1", default)));
            Assert.Equal(Text(old), Text(await store.Orders.FindByPaymentAsync("pay-0", default)));
            await store.Orders.SaveAsync(old with { Version = 3, OrderNumber = "saved-again" }, default);
            Assert.Equal("saved-again", (await store.Orders.FindByOrderAsync("order-1", default))!.OrderNumber);
        }

        LogStore.Compact(directory, time);
        using var compacted = LogStore.Open(directory, time);
        Assert.Equal("saved-again", (await compacted.Orders.FindByPaymentAsync("pay-0", default))!.OrderNumber);
        Assert.Equal(Text(other), Text(await compacted.Orders.FindByPaymentAsync("pay-1", default)));
    }

    /// <summary>Order <paramref name="order"/> at <paramref name="version"/>, with the payments whose bits are set (payment ids shared across orders).</summary>
    private static OrderContext Context(int order, int version, int payments, string number) => TestOptions.Order01Context() with
    {
        OrderId = $"order-{order}",
        OrderNumber = number,
        Version = version,
        PaymentIds = [.. Enumerable.Range(0, 6).Where(bit => (payments & (1 << bit)) != 0).Select(bit => $"pay-{bit}")],
    };

    private static async Task AssertSameAsync(SqliteStore oracle, LogOrderContextStore log)
    {
        for (var order = 0; order <= 4; order++)
        {
            Assert.Equal(Text(await oracle.FindByOrderAsync($"order-{order}", default)), Text(await log.FindByOrderAsync($"order-{order}", default)));
        }

        for (var payment = 0; payment < 6; payment++)
        {
            Assert.Equal(Text(await oracle.FindByPaymentAsync($"pay-{payment}", default)), Text(await log.FindByPaymentAsync($"pay-{payment}", default)));
        }
    }

    private static string Text(OrderContext? order) => order is null ? "none" : JsonSerializer.Serialize(order, RelayJsonContext.Default.OrderContext);
}
