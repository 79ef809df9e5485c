
namespace CtMparticle.Tracking;

/// <summary>
/// What an order-creating message knows that later order and payment messages lack (they carry no store,
/// currency, locale or customer). Kept by the relay, keyed by order id and by each payment id.
/// </summary>
/// <param name="Lines">Line items and custom line items by their id, with unit prices: what return items refer to.</param>
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
    ConsentSnapshot? Consent);
