using CtMparticle.Storage;
using CtMparticle.Tracking;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// Order contexts (<see cref="IOrderContextStore"/>) on the append-only log, ADR 0007's step 3 (the order half): each
/// save appends an <see cref="OrderRecord"/>; two <see cref="SpillingKeyIndex"/>es find an order's context by its id
/// and a payment's order by the payment id. A save reads one record (the stored context's version) and a find one or
/// two. The semantics are <see cref="SqliteStore"/>'s, which <c>LogOrderContextStoreTests</c> holds it to.
/// </summary>
internal sealed class LogOrderContextStore : IOrderContextStore
{
    private readonly LogCore core;
    private readonly TimeProvider time;
    private readonly SpillingKeyIndex orders;
    private readonly SpillingKeyIndex payments;

    /// <summary>The order store on <paramref name="core"/>'s log; its records are handed to <see cref="Replay"/> at open.</summary>
    public LogOrderContextStore(LogCore core, TimeProvider time)
    {
        this.core = core;
        orders = core.SpillingIndex("orders");
        payments = core.SpillingIndex("payments");
        this.time = time;
    }

    /// <summary>Orders with a context (saved and not forgotten).</summary>
    public int Count => orders.Count;

    /// <summary>A committed record of this store's kind, at open.</summary>
    public void Replay(LogRecord record) => Apply(OrderRecord.Decode(record.Payload), record.Address, replaying: true);

    public Task SaveAsync(OrderContext order, CancellationToken cancellationToken)
    {
        // Encoded before the lock is taken (the writer holds it; the preparing thread's finds wait for it), even when
        // an older version than the stored one turns out to change nothing.
        var encoded = StateCodec.EncodeContext(order);
        return core.Changing(() => Save(order, encoded), cancellationToken);
    }

    private bool Save(OrderContext order, ReadOnlyMemory<byte> encoded)
    {
        var current = orders.Find(KeyIndex.Hash(order.OrderId), order.OrderId, IsOrder);
        // An older version than the stored one changes nothing (nor its save time, retention's clock); its payments
        // are still mapped to the order, as SQLite's payment table maps them.
        var applied = current == 0 || order.Version >= InPlace(current, order.Version, static (payload, _) => OrderRecord.VersionOf(payload));
        var mappings = order.PaymentIds.Distinct(StringComparer.Ordinal)
            .Select(payment => new PaymentMapping(payment, payments.Find(KeyIndex.Hash(payment), payment, MapsPayment)))
            .ToList();
        Write(new OrderRecord(order.OrderId, order.Version, time.GetUtcNow().UtcTicks, applied, Forgotten: false, applied ? current : 0, mappings,
            applied ? encoded : ReadOnlyMemory<byte>.Empty));
        return true;
    }

    public Task<OrderContext?> FindByOrderAsync(string orderId, CancellationToken cancellationToken) => core.Locked(() => FindOrder(orderId), cancellationToken);

    public Task<OrderContext?> FindByPaymentAsync(string paymentId, CancellationToken cancellationToken) => core.Locked(() =>
    {
        var mapping = payments.Find(KeyIndex.Hash(paymentId), paymentId, MapsPayment);
        return mapping == 0 ? null : FindOrder(InPlace(mapping, 0, static (payload, _) => OrderRecord.OrderIdOf(payload)));
    }, cancellationToken);

    /// <summary>
    /// Forgets the orders whose context was saved before <paramref name="cutoff"/>, and the payment mappings that lead
    /// to them. Reads the whole log once, and a second time for those mappings when some order is that old (a
    /// retention job's cost, not a relay run's); what it holds meanwhile grows with the orders it forgets, not with
    /// the store.
    /// </summary>
    public Task<int> PurgeOrdersOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => core.Changing(() =>
    {
        var old = new Dictionary<string, long>(StringComparer.Ordinal); // order id → its context's record
        foreach (var (record, address) in Orders())
        {
            if (record.Applied && record.SavedTicks < cutoff.UtcTicks && orders.Holds(KeyIndex.Hash(record.OrderId), address))
            {
                old[record.OrderId] = address;
            }
        }

        if (old.Count == 0)
        {
            return 0;
        }

        var dropped = new Dictionary<string, List<PaymentMapping>>(StringComparer.Ordinal); // an old order's mappings in force
        foreach (var (record, address) in Orders())
        {
            if (!old.ContainsKey(record.OrderId))
            {
                continue;
            }

            foreach (var payment in record.Payments.Where(p => payments.Holds(KeyIndex.Hash(p.PaymentId), address)))
            {
                (dropped.TryGetValue(record.OrderId, out var list) ? list : dropped[record.OrderId] = []).Add(new PaymentMapping(payment.PaymentId, address));
            }
        }

        foreach (var (orderId, context) in old)
        {
            Write(new OrderRecord(orderId, 0, time.GetUtcNow().UtcTicks, Applied: false, Forgotten: true, context,
                dropped.TryGetValue(orderId, out var mappings) ? mappings : [], ReadOnlyMemory<byte>.Empty));
        }

        return old.Count;
    }, cancellationToken);

    /// <summary>The log's order records that are not forgettings, in log order, with their addresses.</summary>
    private IEnumerable<(OrderRecord Record, long Address)> Orders()
    {
        foreach (var entry in core.Log.ReadAll())
        {
            if (entry.Kind == OrderRecord.Kind && OrderRecord.Decode(entry.Payload) is { Forgotten: false } record)
            {
                yield return (record, entry.Address);
            }
        }
    }

    /// <summary>
    /// Hands <paramref name="entry"/> to a compaction of the log when it is still an order's context or holds a
    /// payment's mapping: only that part of it, on its own there.
    /// </summary>
    public void CopyLive(LogRecord entry, LogCompaction to)
    {
        var record = OrderRecord.Decode(entry.Payload);
        if (record.Forgotten)
        {
            return;
        }

        var applied = record.Applied && orders.Holds(KeyIndex.Hash(record.OrderId), entry.Address);
        var mapped = record.Payments.Where(p => payments.Holds(KeyIndex.Hash(p.PaymentId), entry.Address)).Select(p => p with { Previous = 0 }).ToList();
        if (applied || mapped.Count > 0)
        {
            to.Append(OrderRecord.Kind, (record with { Applied = applied, Previous = 0, Payments = mapped, Context = applied ? record.Context : ReadOnlyMemory<byte>.Empty }).Encode().Span);
        }
    }

    private void Write(OrderRecord record) => Apply(record, core.Append(OrderRecord.Kind, record.Encode().Span), replaying: false);

    /// <summary>What a record changes in the indexes, the same at open (replaying) and when it is written.</summary>
    private void Apply(OrderRecord record, long address, bool replaying)
    {
        var hash = KeyIndex.Hash(record.OrderId);
        if (record.Forgotten)
        {
            core.Point(orders, hash, record.Previous, 0, replaying);
            foreach (var payment in record.Payments)
            {
                core.Point(payments, KeyIndex.Hash(payment.PaymentId), payment.Previous, 0, replaying);
            }

            return;
        }

        if (record.Applied)
        {
            core.Point(orders, hash, record.Previous, address, replaying);
        }

        foreach (var payment in record.Payments)
        {
            core.Point(payments, KeyIndex.Hash(payment.PaymentId), payment.Previous, address, replaying);
        }
    }

    // The finds read records in place (StateLog.Read): a key check or a context costs no copy of the record.
    private OrderContext? FindOrder(string orderId)
    {
        var address = orders.Find(KeyIndex.Hash(orderId), orderId, IsOrder);
        return address == 0
            ? null
            : InPlace(address, 0, static (payload, _) => StateCodec.DecodeContext(OrderRecord.ContextOf(payload)));
    }

    private bool IsOrder(string orderId, long address) => InPlace(address, orderId, OrderRecord.IsOf);

    private bool MapsPayment(string paymentId, long address) => InPlace(address, paymentId, OrderRecord.Maps);

    /// <summary>What <paramref name="read"/> makes of the order record at <paramref name="address"/>, read in place.</summary>
    private T InPlace<TState, T>(long address, TState state, Func<ReadOnlySpan<byte>, TState, T> read) =>
        core.ReadInPlace(address, OrderRecord.Kind, "an order's", state, read);
}
