using CtMparticle.Consent;
using CtMparticle.Embedded;
using CtMparticle.Storage;
using CtMparticle.Tracking;

namespace CtMparticle.Tool;

/// <summary>
/// The store as <c>ctmp serve</c>'s push uses it: each operation takes its turn with the writer's groups of calls
/// (the gate), between two commits, so the push never reads a group's uncommitted writes nor writes
/// inside a group that may still be undone, and the gate is free while its requests wait for mParticle: calls are
/// settled and answered meanwhile. The writer's rewrite of a pending event (a purchase merge) is refused while the
/// push run that read the event goes on (<see cref="IEmbeddedStore.RefuseRewritesOf"/>): the push may be sending it.
/// </summary>
internal sealed class TurnTakingPushStore : IEventStore, IConsentStore, IIdentityLinkStore
{
    private readonly IEmbeddedStore store;
    private readonly SemaphoreSlim gate;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, bool> taken = new();

    public TurnTakingPushStore(IEmbeddedStore store, SemaphoreSlim gate)
    {
        this.store = store;
        this.gate = gate;
        store.RefuseRewritesOf(taken.ContainsKey);
    }

    /// <summary>The push run is over: what it read and left pending may be rewritten again.</summary>
    public void EndRun() => taken.Clear();

    private async Task<T> Turn<T>(Func<Task<T>> work, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await work().ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    private Task Turn(Func<Task> work, CancellationToken cancellationToken) =>
        Turn(async () =>
        {
            await work().ConfigureAwait(false);
            return true;
        }, cancellationToken);

    /// <summary>Reads the outbox and marks what it read as taken, in the same turn, so no rewrite comes between.</summary>
    public Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken) => Turn(async () =>
    {
        var pending = await store.Events.ReadPendingAsync(max, cancellationToken).ConfigureAwait(false);
        foreach (var e in pending)
        {
            taken[e.EventId] = true;
        }

        return pending;
    }, cancellationToken);

    public Task<PendingStats> PendingStatsAsync(CancellationToken cancellationToken) => Turn(() => store.Events.PendingStatsAsync(cancellationToken), cancellationToken);

    public Task HoldPendingAsync(IReadOnlyCollection<PendingEventKey> events, DateTimeOffset until, CancellationToken cancellationToken) => Turn(() => store.Events.HoldPendingAsync(events, until, cancellationToken), cancellationToken);

    public Task RemovePendingAsync(IReadOnlyCollection<PendingEventKey> events, EventFate fate, CancellationToken cancellationToken) => Turn(() => store.Events.RemovePendingAsync(events, fate, cancellationToken), cancellationToken);

    public Task SaveInFlightAsync(InFlightRequest request, CancellationToken cancellationToken) => Turn(() => store.Events.SaveInFlightAsync(request, cancellationToken), cancellationToken);

    public Task SaveInFlightAsync(IReadOnlyList<InFlightRequest> requests, CancellationToken cancellationToken) => Turn(() => store.Events.SaveInFlightAsync(requests, cancellationToken), cancellationToken);

    public Task<IReadOnlyList<InFlightRequest>> ReadInFlightAsync(CancellationToken cancellationToken) => Turn(() => store.Events.ReadInFlightAsync(cancellationToken), cancellationToken);

    public Task DeleteInFlightAsync(string requestId, CancellationToken cancellationToken) => Turn(() => store.Events.DeleteInFlightAsync(requestId, cancellationToken), cancellationToken);

    public Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken) => Turn(() => store.Consent.GetAsync(userKey, cancellationToken), cancellationToken);

    public Task<IReadOnlyList<IdentityLink>> ByIdentifierAsync(string type, string value, CancellationToken cancellationToken) => Turn(() => store.Links.ByIdentifierAsync(type, value, cancellationToken), cancellationToken);

    public Task<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>> ByIdentifiersAsync(
        IReadOnlyCollection<(string Type, string Value)> identifiers, CancellationToken cancellationToken) => Turn(() => store.Links.ByIdentifiersAsync(identifiers, cancellationToken), cancellationToken);

    public Task<IReadOnlyList<IdentityLink>> ByCustomerAsync(string customerId, CancellationToken cancellationToken) => Turn(() => store.Links.ByCustomerAsync(customerId, cancellationToken), cancellationToken);

    public Task<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>> ByCustomersAsync(IReadOnlyCollection<string> customerIds, CancellationToken cancellationToken) =>
        Turn(() => store.Links.ByCustomersAsync(customerIds, cancellationToken), cancellationToken);

    public Task SaveDecisionsAsync(IReadOnlyList<IdentityDecision> decisions, CancellationToken cancellationToken) => Turn(() => store.Links.SaveDecisionsAsync(decisions, cancellationToken), cancellationToken);

    public Task<IdentityDecision?> DecisionAsync(Guid eventId, CancellationToken cancellationToken) => Turn(() => store.Links.DecisionAsync(eventId, cancellationToken), cancellationToken);

    public Task<AddResult> TryAddAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken) => Turn(() => store.Events.TryAddAsync(trackingEvent, messageId, cancellationToken), cancellationToken);

    public Task<AddResult> WithholdAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken) => Turn(() => store.Events.WithholdAsync(trackingEvent, messageId, cancellationToken), cancellationToken);

    public Task<bool> ReplacePendingAsync(Guid eventId, Func<TrackingEvent, TrackingEvent?> replace, CancellationToken cancellationToken) => Turn(() => store.Events.ReplacePendingAsync(eventId, replace, cancellationToken), cancellationToken);

    public Task<int> RestoreParkedAsync(IReadOnlyCollection<Guid> eventIds, CancellationToken cancellationToken) => Turn(() => store.Events.RestoreParkedAsync(eventIds, cancellationToken), cancellationToken);

    public Task<int> PurgeParkedAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) => Turn(() => store.Events.PurgeParkedAsync(olderThan, cancellationToken), cancellationToken);

    public Task<int> PurgeSeenAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) => Turn(() => store.Events.PurgeSeenAsync(olderThan, cancellationToken), cancellationToken);

    public Task<UserConsent> MergeAsync(string userKey, ConsentSnapshot? consent, StatedRegion? region, CancellationToken cancellationToken) => Turn(() => store.Consent.MergeAsync(userKey, consent, region, cancellationToken), cancellationToken);

    public Task<int> PurgeConsentOlderThanAsync(DateTimeOffset cutoff, Func<UserConsent, bool> keep, CancellationToken cancellationToken) => Turn(() => store.Consent.PurgeConsentOlderThanAsync(cutoff, keep, cancellationToken), cancellationToken);

    public Task<IdentityLink> RecordAsync(IdentityLink link, CancellationToken cancellationToken) => Turn(() => store.Links.RecordAsync(link, cancellationToken), cancellationToken);

    public Task<IdentityLink> RecordNewAsync(IdentityLink link, CancellationToken cancellationToken) => Turn(() => store.Links.RecordNewAsync(link, cancellationToken), cancellationToken);

    public Task SeenAgainAsync(IdentityLink stored, DateTimeOffset at, CancellationToken cancellationToken) => Turn(() => store.Links.SeenAgainAsync(stored, at, cancellationToken), cancellationToken);

    public Task SetStateAsync(IdentityLink link, LinkState state, string rulesVersion, CancellationToken cancellationToken) => Turn(() => store.Links.SetStateAsync(link, state, rulesVersion, cancellationToken), cancellationToken);

    public Task RecordWithheldAsync(string customerId, Guid eventId, DateTimeOffset at, CancellationToken cancellationToken) =>
        Turn(() => store.Links.RecordWithheldAsync(customerId, eventId, at, cancellationToken), cancellationToken);

    public Task<bool> WasWithheldAsync(string customerId, Guid eventId, CancellationToken cancellationToken) =>
        Turn(() => store.Links.WasWithheldAsync(customerId, eventId, cancellationToken), cancellationToken);

    public Task<int> ForgetCustomerAsync(string customerId, CancellationToken cancellationToken) => Turn(() => store.Links.ForgetCustomerAsync(customerId, cancellationToken), cancellationToken);

    public Task<int> PurgeOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => Turn(() => store.Links.PurgeOlderThanAsync(cutoff, cancellationToken), cancellationToken);

    public Task<int> PurgeDecisionsOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => Turn(() => store.Links.PurgeDecisionsOlderThanAsync(cutoff, cancellationToken), cancellationToken);
}
