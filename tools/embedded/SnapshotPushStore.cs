using CtMparticle.Consent;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using CtMparticle.Tracking;

namespace CtMparticle.Embedded;

/// <summary>
/// What a push beside the ingest reads as of its snapshot: the outbox up to where it ended when the push began, and
/// consent and links as they were committed then. Disposing it ends the snapshot.
/// </summary>
internal interface ISnapshotReads : IAsyncDisposable
{
    Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken);

    Task<PendingStats> PendingStatsAsync(CancellationToken cancellationToken);

    Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken);

    Task<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>> ByIdentifiersAsync(
        IReadOnlyCollection<(string Type, string Value)> identifiers, CancellationToken cancellationToken);

    Task<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>> ByCustomersAsync(IReadOnlyCollection<string> customerIds, CancellationToken cancellationToken);
}

/// <summary>Takes the snapshots of a run's pushes beside the ingest, one at a time (<see cref="IEmbeddedStore.OpenPushSnapshots"/>).</summary>
internal interface IPushSnapshots : IAsyncDisposable
{
    /// <summary>
    /// Takes a snapshot now: call it right after the writer committed, before it writes again, so the snapshot and the
    /// outbox's end describe the same moment.
    /// </summary>
    Task<ISnapshotReads> BeginAsync(CancellationToken cancellationToken);
}

/// <summary>
/// The store as a push running beside the ingest sees it: the outbox below its end and consent and links as of its
/// snapshot (<see cref="ISnapshotReads"/>), so the push decides exactly what a push run between the same two inputs
/// would decide, while the writer stores the inputs after them. Every write, and the in-flight reads (which only this
/// push changes), go to the writer's store; the writer's rewrite of a pending event waits for the push
/// (<see cref="IEmbeddedStore.ClaimOutbox"/>).
/// </summary>
internal sealed class SnapshotPushStore(IEmbeddedStore writer, ISnapshotReads snapshot) : IEventStore, IConsentStore, IIdentityLinkStore, IAsyncDisposable
{
    /// <summary>Takes a snapshot (<see cref="IPushSnapshots.BeginAsync"/>) and wraps it.</summary>
    public static async Task<SnapshotPushStore> BeginAsync(IEmbeddedStore writer, IPushSnapshots snapshots, CancellationToken cancellationToken) =>
        new(writer, await snapshots.BeginAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>Ends the snapshot.</summary>
    public ValueTask DisposeAsync() => snapshot.DisposeAsync();

    // The outbox below its end: only this push changes it, so the writer's copy is the snapshot plus the push's own work.
    public Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken) => snapshot.ReadPendingAsync(max, cancellationToken);

    public Task<PendingStats> PendingStatsAsync(CancellationToken cancellationToken) => snapshot.PendingStatsAsync(cancellationToken);

    public Task HoldPendingAsync(IReadOnlyCollection<PendingEventKey> events, DateTimeOffset until, CancellationToken cancellationToken) => Events.HoldPendingAsync(events, until, cancellationToken);

    public Task RemovePendingAsync(IReadOnlyCollection<PendingEventKey> events, EventFate fate, CancellationToken cancellationToken) => Events.RemovePendingAsync(events, fate, cancellationToken);

    public Task SaveInFlightAsync(InFlightRequest request, CancellationToken cancellationToken) => Events.SaveInFlightAsync(request, cancellationToken);

    public Task SaveInFlightAsync(IReadOnlyList<InFlightRequest> requests, CancellationToken cancellationToken) => Events.SaveInFlightAsync(requests, cancellationToken);

    public Task<IReadOnlyList<InFlightRequest>> ReadInFlightAsync(CancellationToken cancellationToken) => Events.ReadInFlightAsync(cancellationToken);

    public Task DeleteInFlightAsync(string requestId, CancellationToken cancellationToken) => Events.DeleteInFlightAsync(requestId, cancellationToken);

    // What the ingest writes meanwhile is not the push's to see: consent and links as of the snapshot.
    public Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken) => snapshot.GetAsync(userKey, cancellationToken);

    public async Task<IReadOnlyList<IdentityLink>> ByIdentifierAsync(string type, string value, CancellationToken cancellationToken) =>
        (await snapshot.ByIdentifiersAsync([(type, value)], cancellationToken).ConfigureAwait(false))[(type, value)];

    public Task<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>> ByIdentifiersAsync(
        IReadOnlyCollection<(string Type, string Value)> identifiers, CancellationToken cancellationToken) => snapshot.ByIdentifiersAsync(identifiers, cancellationToken);

    public async Task<IReadOnlyList<IdentityLink>> ByCustomerAsync(string customerId, CancellationToken cancellationToken) =>
        (await snapshot.ByCustomersAsync([customerId], cancellationToken).ConfigureAwait(false))[customerId];

    public Task<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>> ByCustomersAsync(IReadOnlyCollection<string> customerIds, CancellationToken cancellationToken) =>
        snapshot.ByCustomersAsync(customerIds, cancellationToken);

    public Task SaveDecisionsAsync(IReadOnlyList<IdentityDecision> decisions, CancellationToken cancellationToken) => Links.SaveDecisionsAsync(decisions, cancellationToken);

    public Task<IdentityDecision?> DecisionAsync(Guid eventId, CancellationToken cancellationToken) => Links.DecisionAsync(eventId, cancellationToken);

    // Not a push's work; kept on the writer so the port stays whole.
    public Task<AddResult> TryAddAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken) => Events.TryAddAsync(trackingEvent, messageId, cancellationToken);

    public Task<AddResult> WithholdAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken) => Events.WithholdAsync(trackingEvent, messageId, cancellationToken);

    public Task<bool> ReplacePendingAsync(Guid eventId, Func<TrackingEvent, TrackingEvent?> replace, CancellationToken cancellationToken) => Events.ReplacePendingAsync(eventId, replace, cancellationToken);

    public Task<int> RestoreParkedAsync(IReadOnlyCollection<Guid> eventIds, CancellationToken cancellationToken) => Events.RestoreParkedAsync(eventIds, cancellationToken);

    public Task<int> PurgeParkedAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) => Events.PurgeParkedAsync(olderThan, cancellationToken);

    public Task<int> PurgeSeenAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) => Events.PurgeSeenAsync(olderThan, cancellationToken);

    public Task<UserConsent> MergeAsync(string userKey, ConsentSnapshot? consent, StatedRegion? region, CancellationToken cancellationToken) => Consent.MergeAsync(userKey, consent, region, cancellationToken);

    public Task<int> PurgeConsentOlderThanAsync(DateTimeOffset cutoff, Func<UserConsent, bool> keep, CancellationToken cancellationToken) => Consent.PurgeConsentOlderThanAsync(cutoff, keep, cancellationToken);

    public Task<IdentityLink> RecordAsync(IdentityLink link, CancellationToken cancellationToken) => Links.RecordAsync(link, cancellationToken);

    public Task<IdentityLink> RecordNewAsync(IdentityLink link, CancellationToken cancellationToken) => Links.RecordNewAsync(link, cancellationToken);

    public Task SeenAgainAsync(IdentityLink stored, DateTimeOffset at, CancellationToken cancellationToken) => Links.SeenAgainAsync(stored, at, cancellationToken);

    public Task SetStateAsync(IdentityLink link, LinkState state, string rulesVersion, CancellationToken cancellationToken) => Links.SetStateAsync(link, state, rulesVersion, cancellationToken);

    public Task RecordWithheldAsync(string customerId, Guid eventId, DateTimeOffset at, CancellationToken cancellationToken) =>
        Links.RecordWithheldAsync(customerId, eventId, at, cancellationToken);

    public Task<bool> WasWithheldAsync(string customerId, Guid eventId, CancellationToken cancellationToken) => Links.WasWithheldAsync(customerId, eventId, cancellationToken);

    public Task<int> ForgetCustomerAsync(string customerId, CancellationToken cancellationToken) => Links.ForgetCustomerAsync(customerId, cancellationToken);

    public Task<int> PurgeOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => Links.PurgeOlderThanAsync(cutoff, cancellationToken);

    public Task<int> PurgeDecisionsOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => Links.PurgeDecisionsOlderThanAsync(cutoff, cancellationToken);

    private IEventStore Events => writer.Events;

    private IConsentStore Consent => writer.Consent;

    private IIdentityLinkStore Links => writer.Links;
}

/// <summary>
/// SQLite's snapshots: a read transaction on a second connection (<see cref="SqliteStore.OpenReader"/>, kept for the
/// run), and the outbox read through the writer up to its end when the snapshot began.
/// </summary>
internal sealed class SqlitePushSnapshots(SqliteStore writer, SqliteStore reader) : IPushSnapshots
{
    public async Task<ISnapshotReads> BeginAsync(CancellationToken cancellationToken)
    {
        await reader.BeginSnapshotAsync(cancellationToken).ConfigureAwait(false);
        return new Reads(writer, reader, await writer.OutboxEndAsync(cancellationToken).ConfigureAwait(false));
    }

    public ValueTask DisposeAsync() => reader.DisposeAsync();

    private sealed class Reads(SqliteStore writer, SqliteStore reader, long outboxEnd) : ISnapshotReads
    {
        public Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken) => writer.ReadPendingAsync(max, outboxEnd, cancellationToken);

        public Task<PendingStats> PendingStatsAsync(CancellationToken cancellationToken) => writer.PendingStatsAsync(outboxEnd, cancellationToken);

        public Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken) => reader.GetAsync(userKey, cancellationToken);

        public Task<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>> ByIdentifiersAsync(
            IReadOnlyCollection<(string Type, string Value)> identifiers, CancellationToken cancellationToken) => reader.ByIdentifiersAsync(identifiers, cancellationToken);

        public Task<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>> ByCustomersAsync(IReadOnlyCollection<string> customerIds, CancellationToken cancellationToken) =>
            reader.ByCustomersAsync(customerIds, cancellationToken);

        /// <summary>Ends the snapshot (the reader connection stays open for the next one).</summary>
        public async ValueTask DisposeAsync() => await reader.RollbackBatchAsync(CancellationToken.None).ConfigureAwait(false);
    }
}

/// <summary>
/// The log's snapshots (ADR 0007, step 5): the committed end of the log when the snapshot began; consent and links are
/// read as of it by following each key's records back (<see cref="LogCore.AsOf{T}"/>), in the same process and memory,
/// so nothing is opened for them.
/// </summary>
internal sealed class LogPushSnapshots(LogStore store) : IPushSnapshots
{
    public async Task<ISnapshotReads> BeginAsync(CancellationToken cancellationToken)
    {
        await store.Core.BeginSnapshotAsync(cancellationToken).ConfigureAwait(false);
        return new Reads(store, await store.Events.OutboxEndAsync(cancellationToken).ConfigureAwait(false));
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class Reads(LogStore store, long outboxEnd) : ISnapshotReads
    {
        public Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken) => store.Events.ReadPendingAsync(max, outboxEnd, cancellationToken);

        public Task<PendingStats> PendingStatsAsync(CancellationToken cancellationToken) => store.Events.PendingStatsAsync(outboxEnd, cancellationToken);

        public Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken) => store.Consent.GetAsOfSnapshotAsync(userKey, cancellationToken);

        public Task<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>> ByIdentifiersAsync(
            IReadOnlyCollection<(string Type, string Value)> identifiers, CancellationToken cancellationToken) => store.Links.ByIdentifiersAsOfSnapshotAsync(identifiers, cancellationToken);

        public Task<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>> ByCustomersAsync(IReadOnlyCollection<string> customerIds, CancellationToken cancellationToken) =>
            store.Links.ByCustomersAsOfSnapshotAsync(customerIds, cancellationToken);

        public async ValueTask DisposeAsync() => await store.Core.EndSnapshotAsync(CancellationToken.None).ConfigureAwait(false);
    }
}
