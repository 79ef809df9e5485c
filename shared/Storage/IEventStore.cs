using System.Text.Json;
using CtMparticle.Tracking;

namespace CtMparticle.Storage;

// The relay's I/O boundary is a few small ports, one per file here, implemented on Azure Tables/Blobs (Azure/) and
// on SQLite plus a folder (tools/embedded). The stages above them are the same everywhere. A method throws only for
// transient infrastructure failures; every business outcome is a return value.

/// <summary>An event waiting in the outbox.</summary>
internal sealed record PendingEvent
{
    private byte[]? json;

    /// <param name="partition">The outbox partition it lives in (derived from the event id).</param>
    /// <param name="json">The canonical event, serialized with <see cref="RelayJsonContext"/>, as stored.</param>
    public PendingEvent(string partition, Guid eventId, DateTimeOffset enqueuedAt, string? messageId, byte[] json)
        : this(partition, eventId, enqueuedAt, messageId)
    {
        this.json = json;
    }

    /// <summary>
    /// An event whose stored JSON is what serializing <paramref name="stored"/> writes, byte for byte: the embedded log
    /// store holds the object for the events this process stored, and hands it instead of reading the JSON back (a push
    /// then neither reads nor decodes it). <see cref="Json"/> is written from it only if asked for.
    /// </summary>
    public PendingEvent(string partition, Guid eventId, DateTimeOffset enqueuedAt, string? messageId, TrackingEvent stored)
        : this(partition, eventId, enqueuedAt, messageId)
    {
        Event = stored;
    }

    private PendingEvent(string partition, Guid eventId, DateTimeOffset enqueuedAt, string? messageId)
    {
        Partition = partition;
        EventId = eventId;
        EnqueuedAt = enqueuedAt;
        MessageId = messageId;
    }

    public string Partition { get; }

    public Guid EventId { get; }

    public DateTimeOffset EnqueuedAt { get; }

    public string? MessageId { get; }

    /// <summary>The canonical event as stored, serialized with <see cref="RelayJsonContext"/>.</summary>
    public byte[] Json => json ??= JsonSerializer.SerializeToUtf8Bytes(Event!, RelayJsonContext.Default.TrackingEvent);

    /// <summary>
    /// The event <see cref="Json"/> was serialized from, when the store still holds that object (the embedded log store,
    /// for events this process stored): a push uses it instead of decoding <see cref="Json"/>. Null: decode.
    /// </summary>
    public TrackingEvent? Event { get; }

    public PendingEventKey Key => new(Partition, EventId, EnqueuedAt);
}

/// <summary>Identifies an outbox entry (the enqueue time is part of its storage key, for oldest-first reads).</summary>
internal sealed record PendingEventKey(string Partition, Guid EventId, DateTimeOffset EnqueuedAt);

/// <summary>
/// A bulk request persisted before it is sent, so a crash after mParticle's 202 resends exactly these bytes
/// (same <c>source_request_id</c>s) instead of a regrouped request.
/// </summary>
internal sealed record InFlightRequest(
    string RequestId,
    string InputName,
    byte[] Body,
    IReadOnlyList<InFlightBatch> Batches,
    DateTimeOffset CreatedAt)
{
    public IEnumerable<PendingEventKey> Events => Batches.SelectMany(b => b.Events);
}

/// <summary>One batch of an in-flight request: its length in the body and the outbox entries it carries.</summary>
internal sealed record InFlightBatch(int Length, IReadOnlyList<PendingEventKey> Events);

/// <param name="Held">Of <paramref name="Count"/>, how many are held for consent (not due yet).</param>
internal sealed record PendingStats(long Count, DateTimeOffset? OldestEnqueuedAt, long Held = 0);

/// <summary>Why an event left the outbox.</summary>
internal enum EventFate
{
    /// <summary>mParticle answered 2xx.</summary>
    Delivered,
    /// <summary>Consent no longer allowed it at push time.</summary>
    Withdrawn,
    /// <summary>It could not be sent as any batch, or mParticle refused its batch; see the quarantine.</summary>
    Quarantined,
}

internal enum AddResult
{
    /// <summary>Stored for push and recorded as seen, in one write.</summary>
    Added,
    /// <summary>Already stored by an earlier attempt of the same message (a redelivery after a crash).</summary>
    AddedBefore,
    /// <summary>Already stored by another message (a second subscription, OrderImported after OrderCreated, a replay).</summary>
    Duplicate,
}

/// <summary>The dedupe table and the outbox: one durable write records an event as seen and stores it for push.</summary>
internal interface IEventStore
{
    /// <summary>
    /// Stores the event for push and records its id as seen, atomically. When the id was seen before (within the
    /// retention) nothing is written, and the result says whether the same message stored it.
    /// </summary>
    Task<AddResult> TryAddAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken);

    /// <summary>
    /// Records an event consent refused at ingest as seen, without storing it for push: a redelivery or replay of its
    /// input is then a duplicate and is never decided again with consent learnt later. <see cref="AddResult.AddedBefore"/>
    /// only when this message withheld it before (a redelivery after a crash), never when it was stored for push.
    /// </summary>
    Task<AddResult> WithholdAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken);

    /// <summary>
    /// Rewrites a pending event in place (same id, same place in the outbox, due now) with what
    /// <paramref name="replace"/> makes of it; null from <paramref name="replace"/>, or no such pending event (sent,
    /// withdrawn, never stored), changes nothing and answers false. One purchase across sources uses it.
    /// </summary>
    Task<bool> ReplacePendingAsync(Guid eventId, Func<TrackingEvent, TrackingEvent?> replace, CancellationToken cancellationToken);

    /// <summary>Pending events that are due (not held past now), oldest first within each partition, at most <paramref name="max"/>.</summary>
    Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken);

    /// <summary>Holds pending events (consent not known yet): they are not read again before <paramref name="until"/>.</summary>
    Task HoldPendingAsync(IReadOnlyCollection<PendingEventKey> events, DateTimeOffset until, CancellationToken cancellationToken);

    /// <summary>
    /// Removes events from the outbox, for the reason given. Their dedupe records stay. Events quarantined at push are
    /// parked instead of deleted: never read for push, but restorable by a replay of their quarantine record, and their
    /// dedupe records are kept while they are parked.
    /// </summary>
    Task RemovePendingAsync(IReadOnlyCollection<PendingEventKey> events, EventFate fate, CancellationToken cancellationToken);

    /// <summary>Puts parked events (quarantined at push) back into the outbox as they were; returns how many were parked.</summary>
    Task<int> RestoreParkedAsync(IReadOnlyCollection<Guid> eventIds, CancellationToken cancellationToken);

    /// <summary>Forgets parked events parked before <paramref name="olderThan"/> (their records' retention is over); returns how many.</summary>
    Task<int> PurgeParkedAsync(DateTimeOffset olderThan, CancellationToken cancellationToken);

    Task SaveInFlightAsync(InFlightRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Several requests in flight, all durable when it returns: a push saves the requests it is about to send together.
    /// The embedded stores make them durable in one commit (one fsync for them all, where each save on its own cost one);
    /// by default they are saved one after the other.
    /// </summary>
    async Task SaveInFlightAsync(IReadOnlyList<InFlightRequest> requests, CancellationToken cancellationToken)
    {
        foreach (var request in requests)
        {
            await SaveInFlightAsync(request, cancellationToken).ConfigureAwait(false);
        }
    }

    Task<IReadOnlyList<InFlightRequest>> ReadInFlightAsync(CancellationToken cancellationToken);

    Task DeleteInFlightAsync(string requestId, CancellationToken cancellationToken);

    Task<PendingStats> PendingStatsAsync(CancellationToken cancellationToken);

    /// <summary>Forgets dedupe records older than <paramref name="olderThan"/>, except those of pending, in-flight or parked events; returns how many.</summary>
    Task<int> PurgeSeenAsync(DateTimeOffset olderThan, CancellationToken cancellationToken);
}
