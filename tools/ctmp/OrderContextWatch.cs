using System.Collections.Concurrent;
using CtMparticle.Storage;
using CtMparticle.Tracking;

namespace CtMparticle.Tool;

/// <summary>
/// The order-context store, watched for the runner's prepare-ahead: inputs are decoded, resolved, mapped and checked
/// on the other core while the writer settles the ones before them, and resolving a commercetools follow-up reads the
/// order context an earlier, not yet settled input may still save. This records what each prepare read and every
/// save since, so the writer prepares such an input again, in order, when a save it could have missed happened:
/// every outcome is the one a run one input at a time gives.
/// </summary>
internal sealed class OrderContextWatch(IOrderContextStore inner) : IOrderContextStore
{
    private static readonly AsyncLocal<Reads?> Current = new();
    private readonly ConcurrentDictionary<string, long> savedAt = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(long At, string Key)> saved = new();
    private readonly ConcurrentQueue<Reads> outstanding = new();
    private long saves;

    /// <summary>
    /// What one prepare read, from when it began. One per input, so nothing is allocated until a read (most inputs read
    /// no order context): a concurrent bag here cost every input a finalizable thread-local and a work-stealing queue.
    /// </summary>
    internal sealed class Reads(long since)
    {
        private readonly Lock gate = new();
        private List<string>? keys;

        public long Since { get; } = since;

        public void Add(string key)
        {
            lock (gate)
            {
                (keys ??= []).Add(key);
            }
        }

        public bool Any(Func<string, bool> which)
        {
            lock (gate)
            {
                foreach (var key in keys ?? [])
                {
                    if (which(key))
                    {
                        return true;
                    }
                }

                return false;
            }
        }
    }

    /// <summary>Records the reads of the calling flow (a prepare running ahead) from now on, until <see cref="Settled"/>.</summary>
    public Reads Watch()
    {
        var reads = new Reads(Interlocked.Read(ref saves));
        outstanding.Enqueue(reads);
        return Current.Value = reads;
    }

    /// <summary>
    /// The oldest prepare was settled (prepares settle in the order they began): the saves no prepare still waiting
    /// can have missed are forgotten, so what the watch holds is bounded by the prepares ahead, not by the run.
    /// </summary>
    public void Settled(Reads reads)
    {
        if (outstanding.TryPeek(out var oldest) && ReferenceEquals(oldest, reads))
        {
            outstanding.TryDequeue(out _);
        }

        // Saves happen on the settling thread only, so the count cannot move while this runs.
        var upTo = outstanding.TryPeek(out var next) ? next.Since : Interlocked.Read(ref saves);
        while (saved.TryPeek(out var save) && save.At <= upTo && saved.TryDequeue(out save))
        {
            savedAt.TryRemove(KeyValuePair.Create(save.Key, save.At));
        }
    }

    /// <summary>How many saves the watch holds (bounded by the prepares ahead; tests).</summary>
    internal int Held => savedAt.Count;

    /// <summary>Whether a context the prepare read (or looked for and missed) was saved after it began.</summary>
    public bool Changed(Reads reads) => reads.Any(key => savedAt.TryGetValue(key, out var at) && at > reads.Since);

    public async Task SaveAsync(OrderContext order, CancellationToken cancellationToken)
    {
        await inner.SaveAsync(order, cancellationToken).ConfigureAwait(false);
        // Counted once written: a prepare that began before this point is told; one that began after reads it.
        var at = Interlocked.Increment(ref saves);
        if (outstanding.IsEmpty)
        {
            // No prepare is running ahead: any that starts from here reads this save.
            return;
        }

        foreach (var key in order.PaymentIds.Select(PaymentKey).Prepend(OrderKey(order.OrderId)))
        {
            savedAt[key] = at;
            saved.Enqueue((at, key));
        }
    }

    public Task<OrderContext?> FindByOrderAsync(string orderId, CancellationToken cancellationToken)
    {
        Current.Value?.Add(OrderKey(orderId));
        return inner.FindByOrderAsync(orderId, cancellationToken);
    }

    public Task<OrderContext?> FindByPaymentAsync(string paymentId, CancellationToken cancellationToken)
    {
        Current.Value?.Add(PaymentKey(paymentId));
        return inner.FindByPaymentAsync(paymentId, cancellationToken);
    }

    public Task<int> PurgeOrdersOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) =>
        inner.PurgeOrdersOlderThanAsync(cutoff, cancellationToken);

    private static string OrderKey(string orderId) => "order:" + orderId;

    private static string PaymentKey(string paymentId) => "payment:" + paymentId;
}
