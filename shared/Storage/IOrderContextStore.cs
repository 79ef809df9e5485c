using CtMparticle.Tracking;

namespace CtMparticle.Storage;

/// <summary>What order-creating messages leave for later order and payment messages.</summary>
internal interface IOrderContextStore
{
    /// <summary>
    /// Saves the context under its order id and each of its payment ids, replacing a stored one of the same order
    /// unless that one is of a newer <see cref="OrderContext.Version"/>: then the newer stays, whatever the arrival
    /// order (an <c>OrderCreated</c> redelivered after a follow-up fetched the edited order).
    /// </summary>
    Task SaveAsync(OrderContext order, CancellationToken cancellationToken);

    Task<OrderContext?> FindByOrderAsync(string orderId, CancellationToken cancellationToken);

    Task<OrderContext?> FindByPaymentAsync(string paymentId, CancellationToken cancellationToken);

    /// <summary>Forgets the contexts (and their payment index) last saved before <paramref name="cutoff"/> (retention); returns how many orders.</summary>
    Task<int> PurgeOrdersOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken);
}
