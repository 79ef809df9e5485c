using CtMparticle.Consent;
using CtMparticle.Storage;
using CtMparticle.Tracking;

namespace CtMparticle.Embedded;

/// <summary>
/// The store as a push running beside the ingest sees it: the outbox up to where it ended when the push began, and
/// consent and links as they were committed then (a read-only snapshot on a second connection), so the push decides
/// exactly what a push run between the same two inputs would decide, while the writer stores the inputs after them.
/// Every write, and the outbox and in-flight reads (which only this push changes below its end), go to the writer's
/// store; the writer's rewrite of a pending event waits for the push (<see cref="SqliteStore.ClaimOutbox"/>).
/// </summary>
internal sealed class SnapshotPushStore : IEventStore, IConsentStore, IIdentityLinkStore, IAsyncDisposable
{
    private readonly SqliteStore writer;
    private readonly SqliteStore snapshot;
    private readonly long outboxEnd;

    private SnapshotPushStore(SqliteStore writer, SqliteStore snapshot, long outboxEnd)
    {
        this.writer = writer;
        this.snapshot = snapshot;
        this.outboxEnd = outboxEnd;
    }

    /// <summary>
    /// Takes the snapshot now: call it right after the writer committed, before it writes again, so the snapshot and
    /// the outbox's end describe the same moment. <paramref name="reader"/> is a <see cref="SqliteStore.OpenReader"/>
    /// connection no other snapshot is using.
    /// </summary>
    public static async Task<SnapshotPushStore> BeginAsync(SqliteStore writer, SqliteStore reader, CancellationToken cancellationToken)
    {
        await reader.BeginSnapshotAsync(cancellationToken).ConfigureAwait(false);
        return new SnapshotPushStore(writer, reader, await writer.OutboxEndAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Ends the snapshot (the reader connection stays open for the next one).</summary>
    public async ValueTask DisposeAsync() => await snapshot.RollbackBatchAsync(CancellationToken.None).ConfigureAwait(false);

    // The outbox below its end: only this push changes it, so the writer's copy is the snapshot plus the push's own work.
    public Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken) => writer.ReadPendingAsync(max, outboxEnd, cancellationToken);

    public Task<PendingStats> PendingStatsAsync(CancellationToken cancellationToken) => writer.PendingStatsAsync(outboxEnd, cancellationToken);

    public Task HoldPendingAsync(IReadOnlyCollection<PendingEventKey> events, DateTimeOffset until, CancellationToken cancellationToken) => writer.HoldPendingAsync(events, until, cancellationToken);

    public Task RemovePendingAsync(IReadOnlyCollection<PendingEventKey> events, EventFate fate, CancellationToken cancellationToken) => writer.RemovePendingAsync(events, fate, cancellationToken);

    public Task SaveInFlightAsync(InFlightRequest request, CancellationToken cancellationToken) => writer.SaveInFlightAsync(request, cancellationToken);

    public Task<IReadOnlyList<InFlightRequest>> ReadInFlightAsync(CancellationToken cancellationToken) => writer.ReadInFlightAsync(cancellationToken);

    public Task DeleteInFlightAsync(string requestId, CancellationToken cancellationToken) => writer.DeleteInFlightAsync(requestId, cancellationToken);

    // What the ingest writes meanwhile is not the push's to see: consent and links as of the snapshot.
    public Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken) => snapshot.GetAsync(userKey, cancellationToken);

    public Task<IReadOnlyList<IdentityLink>> ByIdentifierAsync(string type, string value, CancellationToken cancellationToken) => snapshot.ByIdentifierAsync(type, value, cancellationToken);

    public Task<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>> ByIdentifiersAsync(
        IReadOnlyCollection<(string Type, string Value)> identifiers, CancellationToken cancellationToken) => snapshot.ByIdentifiersAsync(identifiers, cancellationToken);

    public Task<IReadOnlyList<IdentityLink>> ByCustomerAsync(string customerId, CancellationToken cancellationToken) => snapshot.ByCustomerAsync(customerId, cancellationToken);

    public Task<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>> ByCustomersAsync(IReadOnlyCollection<string> customerIds, CancellationToken cancellationToken) =>
        snapshot.ByCustomersAsync(customerIds, cancellationToken);

    public Task SaveDecisionsAsync(IReadOnlyList<IdentityDecision> decisions, CancellationToken cancellationToken) => writer.SaveDecisionsAsync(decisions, cancellationToken);

    public Task<IdentityDecision?> DecisionAsync(Guid eventId, CancellationToken cancellationToken) => writer.DecisionAsync(eventId, cancellationToken);

    // Not a push's work; kept on the writer so the port stays whole.
    public Task<AddResult> TryAddAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken) => writer.TryAddAsync(trackingEvent, messageId, cancellationToken);

    public Task<AddResult> WithholdAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken) => writer.WithholdAsync(trackingEvent, messageId, cancellationToken);

    public Task<bool> ReplacePendingAsync(Guid eventId, Func<TrackingEvent, TrackingEvent?> replace, CancellationToken cancellationToken) => writer.ReplacePendingAsync(eventId, replace, cancellationToken);

    public Task<int> RestoreParkedAsync(IReadOnlyCollection<Guid> eventIds, CancellationToken cancellationToken) => writer.RestoreParkedAsync(eventIds, cancellationToken);

    public Task<int> PurgeParkedAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) => writer.PurgeParkedAsync(olderThan, cancellationToken);

    public Task<int> PurgeSeenAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) => writer.PurgeSeenAsync(olderThan, cancellationToken);

    public Task<UserConsent> MergeAsync(string userKey, ConsentSnapshot? consent, StatedRegion? region, CancellationToken cancellationToken) => writer.MergeAsync(userKey, consent, region, cancellationToken);

    public Task<int> PurgeConsentOlderThanAsync(DateTimeOffset cutoff, Func<UserConsent, bool> keep, CancellationToken cancellationToken) => writer.PurgeConsentOlderThanAsync(cutoff, keep, cancellationToken);

    public Task<IdentityLink> RecordAsync(IdentityLink link, CancellationToken cancellationToken) => writer.RecordAsync(link, cancellationToken);

    public Task<IdentityLink> RecordNewAsync(IdentityLink link, CancellationToken cancellationToken) => writer.RecordNewAsync(link, cancellationToken);

    public Task SeenAgainAsync(IdentityLink stored, DateTimeOffset at, CancellationToken cancellationToken) => writer.SeenAgainAsync(stored, at, cancellationToken);

    public Task SetStateAsync(IdentityLink link, LinkState state, string rulesVersion, CancellationToken cancellationToken) => writer.SetStateAsync(link, state, rulesVersion, cancellationToken);

    public Task RecordWithheldAsync(string customerId, Guid eventId, DateTimeOffset at, CancellationToken cancellationToken) =>
        writer.RecordWithheldAsync(customerId, eventId, at, cancellationToken);

    public Task<bool> WasWithheldAsync(string customerId, Guid eventId, CancellationToken cancellationToken) =>
        writer.WasWithheldAsync(customerId, eventId, cancellationToken);

    public Task<int> ForgetCustomerAsync(string customerId, CancellationToken cancellationToken) => writer.ForgetCustomerAsync(customerId, cancellationToken);

    public Task<int> PurgeOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => writer.PurgeOlderThanAsync(cutoff, cancellationToken);

    public Task<int> PurgeDecisionsOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => writer.PurgeDecisionsOlderThanAsync(cutoff, cancellationToken);
}
