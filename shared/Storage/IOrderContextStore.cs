using CtMparticle.Tracking;

namespace CtMparticle.Storage;

/// <summary>What order-creating messages leave for later order and payment messages.</summary>
internal interface IOrderContextStore
{
    /// <summary>Saves (or replaces) the context under its order id and each of its payment ids.</summary>
    Task SaveAsync(OrderContext order, CancellationToken cancellationToken);

    Task<OrderContext?> FindByOrderAsync(string orderId, CancellationToken cancellationToken);

    Task<OrderContext?> FindByPaymentAsync(string paymentId, CancellationToken cancellationToken);

    /// <summary>Forgets the contexts (and their payment index) last saved before <paramref name="cutoff"/> (retention); returns how many orders.</summary>
    Task<int> PurgeOrdersOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken);
}
