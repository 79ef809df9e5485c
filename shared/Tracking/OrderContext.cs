
namespace CtMparticle.Tracking;

/// <summary>
/// What an order-creating message knows that later order and payment messages lack (they carry no store,
/// currency, locale or customer). Kept by the relay, keyed by order id and by each payment id.
/// </summary>
/// <param name="Lines">Line items and custom line items by their id, with unit prices: what return items refer to.</param>
/// <param name="Version">
/// The order's version this context was taken from (the order in an <c>OrderCreated</c>, or fetched later, after
/// edits, a customer set, payments added). A store keeps the newest: a redelivered or replayed older message never
/// replaces what a newer one taught. 0: not known (contexts saved before versions were kept), older than any.
/// </param>
internal sealed record OrderContext(
    string? ProjectKey,
    string OrderId,
    string? OrderNumber,
    string? StoreKey,
    string Currency,
    string? Locale,
    UserIds User,
    Region? Region,
    string? Channel,
    IReadOnlyList<string> PaymentIds,
    IReadOnlyDictionary<string, ProductLine> Lines,
    ConsentSnapshot? Consent,
    long Version = 0);
