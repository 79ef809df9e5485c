using CtMparticle.Tracking;

namespace CtMparticle.Sources.Commercetools;

/// <summary>The closed set of results of mapping one decoded commercetools delivery to the tracking plan.</summary>
internal abstract record MappingResult;

/// <summary>
/// The canonical events (usually one; one per return item for returns). <see cref="OrderContext"/> is set for
/// order-creating messages: what later order and payment messages need to be mapped.
/// </summary>
internal sealed record Mapped(IReadOnlyList<TrackingEvent> Events, OrderContext? OrderContext = null) : MappingResult;

/// <summary>
/// Deliberately not forwarded. <see cref="OrderContext"/> is set when the message sends nothing but changes what the
/// order's later follow-ups are (a customer removed from the order): stored as a mapped message's would be.
/// </summary>
internal sealed record MappingFiltered(Reason Reason, string Detail, OrderContext? OrderContext = null) : MappingResult;

/// <summary>
/// The message cannot be mapped without the order it belongs to. <see cref="LookupId"/> is the order id
/// (<see cref="Reason.OrderContextMissing"/>) or the payment id (<see cref="Reason.PaymentContextMissing"/>).
/// </summary>
internal sealed record MappingNeedsContext(Reason Reason, string LookupId, string Detail) : MappingResult;

/// <summary>The data cannot become a correct mParticle event (mixed currencies, broken money, no identity).</summary>
internal sealed record MappingInvalid(Reason Reason, string Detail) : MappingResult;
