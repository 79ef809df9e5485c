namespace CtMparticle.Storage;

internal enum LinkState
{
    /// <summary>The identifier travels with the customer's events.</summary>
    Active,
    /// <summary>The identifier was seen with more customers than the rules allow (a shared device): never sent beside a customer id.</summary>
    Conflicted,
    /// <summary>Undone (a person unlinked it, the customer's e-mail changed): never used again.</summary>
    Revoked,
    /// <summary>Seen when the customer had already gained as many identifiers of the type as the rules allow in their window: never used.</summary>
    Limited,
}

/// <summary>
/// That one identifier (an anonymous id, a device id, a hashed e-mail) was seen with a known customer: the evidence
/// identity resolution decides from. E-mails are kept as their SHA-256, never in the clear.
/// </summary>
/// <param name="Type">The identifier's type: <c>anonymous_id</c>, <c>email_sha256</c>, <c>ios_idfa</c>, <c>ios_idfv</c>, <c>android_aaid</c>, <c>android_uuid</c>.</param>
/// <param name="SourceEventId">The event that first showed the link.</param>
/// <param name="RulesVersion">The identity rules' version when the link was recorded or last changed state.</param>
internal sealed record IdentityLink(
    string CustomerId,
    string Type,
    string Value,
    Guid SourceEventId,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    LinkState State,
    string RulesVersion);

/// <summary>One identifier of an event at push: sent or withheld, and the rule that decided it (for <c>ctmp identity explain</c>).</summary>
/// <param name="Type">An identifier type (<c>customer_id</c>, <c>anonymous_id</c>, <c>email_sha256</c>, a device id's type).</param>
/// <param name="Value">The identifier; an e-mail as its SHA-256.</param>
internal sealed record IdentityChoice(string Type, string Value, bool Sent, string Rule);

/// <summary>What identity resolution decided for one event when its batch was built: the identities it went with, and why.</summary>
/// <param name="Regime">The consent regime the event's region falls under (pairing rules are per regime).</param>
internal sealed record IdentityDecision(Guid EventId, string EventName, DateTimeOffset DecidedAt, string RulesVersion, string Regime, IReadOnlyList<IdentityChoice> Choices);

/// <summary>
/// Identity links, readable from both sides (a customer's identifiers; the customers an identifier was seen with).
/// Every write is idempotent, so a redelivered message records nothing twice.
/// </summary>
internal interface IIdentityLinkStore
{
    /// <summary>
    /// Records that the identifier was seen with the customer at <paramref name="link"/>'s time: a new link as given, or
    /// the existing one's last-seen time moved forward (never back; its state and first sighting kept). Returns the link as stored.
    /// </summary>
    Task<IdentityLink> RecordAsync(IdentityLink link, CancellationToken cancellationToken);

    /// <summary>
    /// Records a link the caller just found absent (not among <see cref="ByCustomerAsync"/>'s links): as
    /// <see cref="RecordAsync"/>, but a store that must read a link before writing it (Azure Tables) writes it as given
    /// at once. A half-written copy (a crash between the two sides) is completed. A copy another writer saved in the
    /// moment since the caller read is replaced (its first sighting and state by this one's, as an upsert after a read
    /// could do in the same race); the sharing check that follows every new link applies the sharing rule again.
    /// </summary>
    Task<IdentityLink> RecordNewAsync(IdentityLink link, CancellationToken cancellationToken);

    /// <summary>
    /// Moves the last-seen time of a link the caller just read (<paramref name="stored"/>) forward to
    /// <paramref name="at"/> when that is later than what it read, and changes nothing else (a state set meanwhile is
    /// kept): cheaper than <see cref="RecordAsync"/>, which reads the link first. A link forgotten meanwhile stays
    /// forgotten. Another writer's later sighting saved between the caller's read and this call may be moved back to
    /// <paramref name="at"/> (Azure Tables has no conditional maximum); last-seen times feed retention and the e-mail
    /// change rule, where a sighting earlier by that much changes nothing.
    /// </summary>
    Task SeenAgainAsync(IdentityLink stored, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Every link of the identifier, one per customer it was seen with, oldest first.</summary>
    Task<IReadOnlyList<IdentityLink>> ByIdentifierAsync(string type, string value, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="ByIdentifierAsync"/> for many identifiers at once (a push reads every identifier of its events):
    /// each identifier asked for is in the answer, with no links when it has none.
    /// </summary>
    Task<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>> ByIdentifiersAsync(
        IReadOnlyCollection<(string Type, string Value)> identifiers, CancellationToken cancellationToken);

    /// <summary>Every link of the customer.</summary>
    Task<IReadOnlyList<IdentityLink>> ByCustomerAsync(string customerId, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="ByCustomerAsync"/> for many customers at once (a push reads each customer's own links once): each
    /// customer asked for is in the answer, with no links when it has none.
    /// </summary>
    Task<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>> ByCustomersAsync(IReadOnlyCollection<string> customerIds, CancellationToken cancellationToken);

    /// <summary>Changes a link's state (conflicted, revoked) under the rules' version that decided it.</summary>
    Task SetStateAsync(IdentityLink link, LinkState state, string rulesVersion, CancellationToken cancellationToken);

    /// <summary>
    /// Records that an event of the customer's that shows a link was withheld for lack of consent when it was first
    /// decided: a copy decided later, on consent learnt since, records no link (<see cref="WasWithheldAsync"/>). Kept
    /// beside the customer's links (on Azure in their range, so reading it costs no transaction more than link capture
    /// pays anyway, even inside a write-behind batch that has not looked the event up). Idempotent.
    /// </summary>
    Task RecordWithheldAsync(string customerId, Guid eventId, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Whether <see cref="RecordWithheldAsync"/> recorded the customer's event (and it was not forgotten since).</summary>
    Task<bool> WasWithheldAsync(string customerId, Guid eventId, CancellationToken cancellationToken);

    /// <summary>Forgets every link of the customer (a deletion), and their withheld events; returns how many links.</summary>
    Task<int> ForgetCustomerAsync(string customerId, CancellationToken cancellationToken);

    /// <summary>
    /// Forgets the links last seen before <paramref name="cutoff"/> (retention), and the withheld events that happened
    /// before it; returns how many links.
    /// </summary>
    Task<int> PurgeOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken);

    /// <summary>Keeps each event's newest identity decision (a rebuilt batch replaces the one before).</summary>
    Task SaveDecisionsAsync(IReadOnlyList<IdentityDecision> decisions, CancellationToken cancellationToken);

    /// <summary>The event's newest identity decision, or null when no batch of it was built (or it was forgotten).</summary>
    Task<IdentityDecision?> DecisionAsync(Guid eventId, CancellationToken cancellationToken);

    /// <summary>Forgets the decisions made before <paramref name="cutoff"/> (retention); returns how many.</summary>
    Task<int> PurgeDecisionsOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken);
}
