using System.Buffers;
using System.Text.Json;
using CtMparticle.Storage;
using CtMparticle.Storage.Azure;
using CtMparticle.Tracking;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// The dedupe records and the outbox (<see cref="IEventStore"/>) on the append-only log, ADR 0007's step 2: every
/// change of an event appends its whole new state (<see cref="EventRecord"/>), an in-memory <see cref="KeyIndex"/>
/// finds an event's newest record by its id, and the outbox (pending events in read order) and the parked events are
/// held in memory, rebuilt from the log at open. A new event costs one append and no read; a duplicate, one read of
/// its newest record.
/// <para>
/// Batches, the lock and the undo of a dropped batch are the <see cref="LogCore"/>'s, shared with the other stores on
/// the same log, and behave as <see cref="SqliteStore"/>'s. In-flight requests go to the in-flight journal, as a push
/// beside the ingest's do today (<see cref="InFlightJournal"/>). Not yet here (later steps of the ADR): the ledger,
/// the other ports, snapshots for a push beside the ingest, and compaction.
/// </para>
/// </summary>
internal sealed class LogEventStore : IEventStore, IKeepsUndo, IDisposable
{
    private readonly LogCore core;
    private readonly InFlightJournal journal;
    private readonly TimeProvider time;
    private readonly int partitions;
    private readonly SpillingKeyIndex events;
    private readonly Dictionary<Guid, Slot> outbox = [];
    private readonly SortedSet<(long Enqueued, Guid Id)> order = [];
    private readonly Dictionary<Guid, long> parked = []; // event id → its newest (parked) record
    private readonly HashSet<string> settledInJournal = new(StringComparer.Ordinal);
    private readonly List<(Guid Id, Slot? Slot, long? Parked, long NextPlace)> undoes = []; // the open batch's, newest last (IKeepsUndo)
    private long nextPlace = 1;

    // The pending events this process stored, as the objects it stored, by where their JSON is in the log: a push
    // takes the object instead of decoding the JSON back (the JSON is that object's serialization, and the log is
    // append-only, so an address names one JSON while the log is open; the undo of a dropped record, whose address is
    // written again, drops what it kept). Bounded: past KeepAtMost a pending event is decoded as before. Under the log's lock.
    private readonly Dictionary<long, TrackingEvent> stored = [];

    /// <summary>
    /// How many stored events <see cref="stored"/> keeps at most: about two pushes' worth of the relay's. Tests keep a
    /// few, or none (every pending event decoded from its JSON, to compare the two).
    /// </summary>
    internal int KeepAtMost { get; set; } = 16_384;

    /// <summary>Pending events read with their stored object (<see cref="PendingEvent.Event"/>) since the store opened.</summary>
    internal long EventsHanded { get; private set; }

    // A stored event's JSON is written into its thread's buffer, kept for it: its record copies it into the log and
    // nothing holds it after, so a stored event costs no array of its own. Per thread, so that the writer serializes
    // an event before it takes the log's lock (JsonOf), not while the preparing thread and the push wait for it.
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? json;
    [ThreadStatic]
    private static Utf8JsonWriter? jsonWriter;

    /// <summary>The event store on <paramref name="core"/>'s log; its records are handed to <see cref="Replay"/> at open.</summary>
    public LogEventStore(LogCore core, InFlightJournal journal, TimeProvider time, int partitions)
    {
        this.core = core;
        events = core.SpillingIndex("events");
        this.journal = journal;
        this.time = time;
        this.partitions = partitions;
        core.Committed += () =>
        {
            undoes.Clear();
            if (settledInJournal.Count > 0)
            {
                journal.Delete(settledInJournal);
                settledInJournal.Clear();
            }
        };
        core.RolledBack += settledInJournal.Clear; // their events' removal is undone: they go again, byte for byte
    }

    /// <summary>The log's opening (what it cut), for the caller's report.</summary>
    public LogRecovery Recovery => core.Log.Recovery;

    /// <summary>Events the index knows (pending, sent, withheld, parked: every id seen and not yet forgotten).</summary>
    public int Known => events.Count;

    /// <summary>Whether the event is in the outbox now (under the log's lock: for the ledger).</summary>
    public bool IsPending(Guid eventId) => outbox.ContainsKey(eventId);

    /// <summary>Events in the outbox, and of them those held until after <paramref name="nowTicks"/> (under the log's lock).</summary>
    public (int Pending, int Held) OutboxCounts(long nowTicks) => (outbox.Count, outbox.Values.Count(s => s.NotBefore > nowTicks));

    /// <summary>Requests in the in-flight journal not settled by the open batch (under the log's lock).</summary>
    public int InFlightCount => journal.CountOpen(settledInJournal);

    /// <summary>A committed record of this store's kind, at open.</summary>
    public void Replay(LogRecord record) => Apply(EventRecord.Decode(record.Payload), record.Address, replaying: true);

    // ---- IEventStore ---------------------------------------------------------------------------------------------

    public Task<AddResult> TryAddAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken)
    {
        // Serialized before the lock is taken (a duplicate's JSON is written for nothing: a few percent of events),
        // into this thread's buffer, which the work below, run on this thread at once, copies into the log.
        var eventJson = JsonOf(trackingEvent);
        return Changing(() =>
        {
            var id = trackingEvent.Context.EventId;
            if (Newest(id) is { } seen)
            {
                // Stored before by this message (a redelivery after a crash); an event it withheld was never stored.
                return messageId is not null && seen.Status != EventStatus.Withheld && seen.MessageId == messageId ? AddResult.AddedBefore : AddResult.Duplicate;
            }

            var now = time.GetUtcNow().UtcTicks;
            Keep(Write(new EventRecord(id, EventStatus.Pending, 0, 0, 0, nextPlace, now, 0, now, now, messageId, trackingEvent.Context.DedupeKey, eventJson)),
                trackingEvent);
            return AddResult.Added;
        }, cancellationToken);
    }

    public Task<AddResult> WithholdAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken) => Changing(() =>
    {
        var id = trackingEvent.Context.EventId;
        if (Newest(id) is { } seen)
        {
            // Only this message's own earlier withholding (a redelivery after a crash) counts as done before.
            return messageId is not null && seen.Status == EventStatus.Withheld && seen.MessageId == messageId ? AddResult.AddedBefore : AddResult.Duplicate;
        }

        var now = time.GetUtcNow().UtcTicks;
        Write(new EventRecord(id, EventStatus.Withheld, 0, 0, 0, 0, 0, 0, now, now, messageId, trackingEvent.Context.DedupeKey, ReadOnlyMemory<byte>.Empty));
        return AddResult.Added;
    }, cancellationToken);

    /// <summary>
    /// A push running beside the ingest over the outbox as it was when the push began (<see cref="ClaimOutbox"/>), or
    /// null. A rewrite of a pending event waits for it, so it finds the event as a push run before it would leave it.
    /// </summary>
    private volatile Task? claim;

    /// <summary>Marks the outbox as read and settled by <paramref name="push"/> until it completes (as <see cref="SqliteStore.ClaimOutbox"/>).</summary>
    public void ClaimOutbox(Task push) => claim = push;

    /// <summary>The pending events a push that takes turns with the writer has read and may be sending (as <see cref="SqliteStore.RefuseRewritesOf"/>).</summary>
    private volatile Func<Guid, bool>? taken;

    /// <summary>From now on, a rewrite of a pending event <paramref name="takenByPush"/> names fails as transient (as <see cref="SqliteStore.RefuseRewritesOf"/>).</summary>
    public void RefuseRewritesOf(Func<Guid, bool> takenByPush) => taken = takenByPush;

    public async Task<bool> ReplacePendingAsync(Guid eventId, Func<TrackingEvent, TrackingEvent?> replace, CancellationToken cancellationToken)
    {
        if (taken?.Invoke(eventId) == true)
        {
            throw new TransientFailureException("A push run is sending this pending event now: it is not rewritten under it. Retry after the run.");
        }

        if (claim is { IsCompleted: false } running)
        {
            await running.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
        }

        return await Replace(eventId, replace, cancellationToken).ConfigureAwait(false);
    }

    private Task<bool> Replace(Guid eventId, Func<TrackingEvent, TrackingEvent?> replace, CancellationToken cancellationToken) => Changing<bool>(() =>
    {
        if (!outbox.TryGetValue(eventId, out var slot)
            || JsonSerializer.Deserialize(Json(slot), RelayJsonContext.Default.TrackingEvent) is not { } stored
            || replace(stored) is not { } replacement)
        {
            return false;
        }

        Keep(Write(slot.Next(eventId) with
        {
            JsonAt = 0, NotBeforeTicks = 0,
            Json = JsonOf(replacement),
        }), replacement);
        return true;
    }, cancellationToken);

    public Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken) => ReadPendingAsync(max, long.MaxValue, cancellationToken);

    /// <summary>As <see cref="ReadPendingAsync(int, CancellationToken)"/>, of the events stored up to <paramref name="upTo"/> (<see cref="OutboxEndAsync"/>).</summary>
    public Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, long upTo, CancellationToken cancellationToken) => Locked<IReadOnlyList<PendingEvent>>(() =>
    {
        var now = time.GetUtcNow().UtcTicks;
        var list = new List<PendingEvent>();
        foreach (var (enqueued, id) in order)
        {
            if (list.Count >= max)
            {
                break;
            }

            var slot = outbox[id];
            if (slot.NotBefore <= now && slot.Place <= upTo)
            {
                var kept = stored.GetValueOrDefault(slot.JsonAt);
                EventsHanded += kept is null ? 0 : 1;
                // The object this process stored, when still kept: its JSON is not read back (nor decoded by the push).
                var at = new DateTimeOffset(enqueued, TimeSpan.Zero);
                list.Add(kept is null
                    ? new PendingEvent(PartitionOf(id), id, at, slot.MessageId, Json(slot))
                    : new PendingEvent(PartitionOf(id), id, at, slot.MessageId, kept));
            }
        }

        return list;
    }, cancellationToken);

    public Task HoldPendingAsync(IReadOnlyCollection<PendingEventKey> events, DateTimeOffset until, CancellationToken cancellationToken) => Changing(() =>
    {
        foreach (var key in events)
        {
            if (outbox.TryGetValue(key.EventId, out var slot))
            {
                Write(slot.Next(key.EventId) with { NotBeforeTicks = until.UtcTicks });
            }
        }

        return true;
    }, cancellationToken);

    public Task RemovePendingAsync(IReadOnlyCollection<PendingEventKey> events, EventFate fate, CancellationToken cancellationToken) => Changing(() =>
    {
        var now = time.GetUtcNow().UtcTicks;
        var status = fate switch
        {
            EventFate.Delivered => EventStatus.Delivered,
            EventFate.Withdrawn => EventStatus.Withdrawn,
            _ => EventStatus.Parked, // parked, not dropped: a replay of the quarantine record can put it back as it was
        };
        foreach (var key in events)
        {
            if (outbox.TryGetValue(key.EventId, out var slot))
            {
                Write(slot.Next(key.EventId) with { Status = status, StatusTicks = now });
            }
        }

        return true;
    }, cancellationToken);

    public Task<int> RestoreParkedAsync(IReadOnlyCollection<Guid> eventIds, CancellationToken cancellationToken) => Changing(() =>
    {
        var restored = 0;
        foreach (var id in eventIds.Distinct())
        {
            if (parked.TryGetValue(id, out var newest))
            {
                var record = Read(newest);
                Write(record with
                {
                    Status = EventStatus.Pending, Previous = newest, Added = Resolve(record.Added, newest), JsonAt = Resolve(record.JsonAt, newest),
                    Place = nextPlace, NotBeforeTicks = 0, StatusTicks = time.GetUtcNow().UtcTicks, Json = ReadOnlyMemory<byte>.Empty,
                });
                restored++;
            }
        }

        return restored;
    }, cancellationToken);

    public Task<int> PurgeParkedAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) => Changing(() =>
    {
        var purged = 0;
        foreach (var (id, newest) in parked.ToList())
        {
            var record = Read(newest);
            if (record.StatusTicks < olderThan.UtcTicks)
            {
                Write(record with
                {
                    Status = EventStatus.Quarantined, Previous = newest, Added = Resolve(record.Added, newest), JsonAt = Resolve(record.JsonAt, newest),
                    Json = ReadOnlyMemory<byte>.Empty,
                });
                purged++;
            }
        }

        return purged;
    }, cancellationToken);

    /// <summary>
    /// Forgets dedupe records seen before <paramref name="olderThan"/>, except those of pending and parked events. Reads
    /// the log's first records (events were first seen in log order) up to the first seen after the cutoff.
    /// </summary>
    public Task<int> PurgeSeenAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) => Changing(() =>
    {
        var candidates = new List<(Guid Id, long Address)>();
        foreach (var entry in core.Log.ReadAll())
        {
            if (entry.Kind != EventRecord.Kind)
            {
                continue;
            }

            var record = EventRecord.Decode(entry.Payload);
            if (record.Previous == 0)
            {
                if (record.SeenTicks >= olderThan.UtcTicks)
                {
                    break; // first sightings are appended in time order: none after this one is older
                }

                candidates.Add((record.EventId, entry.Address));
            }
        }

        var purged = 0;
        foreach (var (id, first) in candidates)
        {
            var newest = events.Find(KeyIndex.Hash(id), id, IsEvent);
            if (newest == 0)
            {
                continue;
            }

            var record = Read(newest);
            if (Resolve(record.Added, newest) == first && record.Status is not (EventStatus.Pending or EventStatus.Parked))
            {
                Write(record with { Status = EventStatus.Forgotten, Previous = newest, Added = first, JsonAt = Resolve(record.JsonAt, newest), Json = ReadOnlyMemory<byte>.Empty });
                purged++;
            }
        }

        return purged;
    }, cancellationToken);

    /// <summary>
    /// Hands <paramref name="entry"/> (a record of this store's kind, read in log order) to a compaction of the log,
    /// when it still counts, with no other operation under way. An event is copied at its first sighting, as its newest
    /// state alone (its message, dedupe key and times are in every record; its JSON only while it may still be sent),
    /// so first sightings stay in time order (<see cref="PurgeSeenAsync"/> reads them so). A forgotten event leaves
    /// two small records at its forgetting: its fate then and the forgetting, as SQLite's fates table keeps a
    /// forgotten event's fate for the reports.
    /// </summary>
    public void CopyLive(LogRecord entry, LogCompaction to)
    {
        var record = EventRecord.Decode(entry.Payload);
        if (record.Status == EventStatus.Forgotten)
        {
            var before = Read(record.Previous);
            var fate = new EventRecord(record.EventId, before.Status, 0, 0, 0, 0, 0, 0, before.StatusTicks, record.SeenTicks, null, null, ReadOnlyMemory<byte>.Empty);
            var at = to.Append(EventRecord.Kind, fate.Encode().Span);
            to.Append(EventRecord.Kind, (fate with { Status = EventStatus.Forgotten, Previous = at }).Encode().Span);
            return;
        }

        var newest = record.Previous == 0 ? events.Find(KeyIndex.Hash(record.EventId), record.EventId, IsEvent) : 0;
        if (newest == 0)
        {
            return; // a later state (copied at the first sighting), or an id forgotten since
        }

        var current = newest == entry.Address ? record : Read(newest);
        if (Resolve(current.Added, newest) != entry.Address)
        {
            return; // a life of the id that was forgotten: the id was seen again after
        }

        var json = current.Status is EventStatus.Pending or EventStatus.Parked ? Json(Resolve(current.JsonAt, newest)) : [];
        to.Append(EventRecord.Kind, (current with { Previous = 0, Added = 0, JsonAt = 0, Json = json }).Encode().Span);
    }

    /// <summary>
    /// Durable when this returns, in the in-flight journal (a file of its own), whether or not a batch is open. Outside
    /// the log's lock: the journal's fsync held the writer beside the push up for 1.3 s of a 10 s run of 100,000
    /// deliveries. Nothing of the log is read or changed here, and the journal takes its calls one at a time.
    /// </summary>
    public Task SaveInFlightAsync(InFlightRequest request, CancellationToken cancellationToken) => SaveInFlightAsync([request], cancellationToken);

    /// <summary>In one commit of the journal: one fsync for the requests a push starts together.</summary>
    public Task SaveInFlightAsync(IReadOnlyList<InFlightRequest> requests, CancellationToken cancellationToken) => LogCore.Unlocked(() =>
    {
        journal.Save(requests);
        return true;
    }, cancellationToken);

    public Task<IReadOnlyList<InFlightRequest>> ReadInFlightAsync(CancellationToken cancellationToken) =>
        Locked(() => journal.ReadAll(except: settledInJournal), cancellationToken); // the settled ones' bodies are not read

    /// <summary>The request's events are settled; inside a batch it leaves the journal once the batch (holding their removal) commits.</summary>
    public Task DeleteInFlightAsync(string requestId, CancellationToken cancellationToken) => Locked(() =>
    {
        if (core.InBatch)
        {
            settledInJournal.Add(requestId);
        }
        else
        {
            journal.Delete([requestId]);
        }

        return true;
    }, cancellationToken);

    public Task<PendingStats> PendingStatsAsync(CancellationToken cancellationToken) => PendingStatsAsync(long.MaxValue, cancellationToken);

    public Task<PendingStats> PendingStatsAsync(long upTo, CancellationToken cancellationToken) => Locked(() =>
    {
        var now = time.GetUtcNow().UtcTicks;
        long count = 0, held = 0, oldest = long.MaxValue;
        foreach (var slot in outbox.Values.Where(s => s.Place <= upTo))
        {
            count++;
            held += slot.NotBefore > now ? 1 : 0;
            oldest = Math.Min(oldest, slot.Enqueued);
        }

        return new PendingStats(count, count == 0 ? null : new DateTimeOffset(oldest, TimeSpan.Zero), held);
    }, cancellationToken);

    /// <summary>The outbox's newest place (0 when empty): events stored from now on come after it.</summary>
    public Task<long> OutboxEndAsync(CancellationToken cancellationToken) => Locked(() => outbox.Count == 0 ? 0 : outbox.Values.Max(s => s.Place), cancellationToken);

    /// <summary>Gives the in-flight journal's freed pages back to the disk (a compaction, with nothing else under way).</summary>
    public void VacuumJournal() => journal.Vacuum();

    /// <summary>
    /// Closes the in-flight journal; the log is its <see cref="LogCore"/>'s owner's. The threads' JSON writers are
    /// theirs, shared by every store (they hold nothing but a buffer, and are reset before each use).
    /// </summary>
    public void Dispose() => journal.Dispose();

    // ---- the core: every change is a record appended, then applied to memory --------------------------------------

    /// <summary>
    /// <paramref name="trackingEvent"/>'s JSON, byte for byte what <see cref="JsonSerializer.SerializeToUtf8Bytes{TValue}(TValue, System.Text.Json.Serialization.Metadata.JsonTypeInfo{TValue})"/>
    /// writes, in the calling thread's buffer (<see cref="json"/>): valid until the thread's next call, so only for a
    /// record the thread writes at once.
    /// </summary>
    private static ReadOnlyMemory<byte> JsonOf(TrackingEvent trackingEvent)
    {
        if (json is null || json.Capacity > 1024 * 1024)
        {
            (json, jsonWriter) = (new ArrayBufferWriter<byte>(4096), null); // one large event does not keep its buffer
        }

        json.ResetWrittenCount();
        if (jsonWriter is null)
        {
            var options = RelayJsonContext.Default.Options;
            jsonWriter = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = options.Encoder, Indented = options.WriteIndented, SkipValidation = true });
        }
        else
        {
            jsonWriter.Reset(json);
        }

        JsonSerializer.Serialize(jsonWriter, trackingEvent, RelayJsonContext.Default.TrackingEvent);
        return json.WrittenMemory;
    }

    /// <summary>Appends <paramref name="record"/> (the event's whole new state) and applies it; outside a batch, commits it. Its address.</summary>
    private long Write(EventRecord record)
    {
        var address = core.Append(EventRecord.Kind, record.Encode().Span);
        Apply(record, address, replaying: false);
        return address;
    }

    /// <summary>Keeps <paramref name="trackingEvent"/>, whose JSON the record at <paramref name="address"/> holds, for a push (<see cref="stored"/>).</summary>
    private void Keep(long address, TrackingEvent trackingEvent)
    {
        if (stored.Count < KeepAtMost || stored.ContainsKey(address))
        {
            stored[address] = trackingEvent;
        }
        else
        {
            stored.Remove(address); // never another event's object at this address
        }
    }

    private Task<T> Changing<T>(Func<T> work, CancellationToken cancellationToken) => core.Changing(work, cancellationToken);

    private Task Changing(Func<bool> work, CancellationToken cancellationToken) => core.Changing(work, cancellationToken);

    private Task<T> Locked<T>(Func<T> work, CancellationToken cancellationToken) => core.Locked(work, cancellationToken);

    private Task Locked(Func<bool> work, CancellationToken cancellationToken) => core.Locked(work, cancellationToken);

    /// <summary>What a record changes in memory, the same at open (replaying) and when it is written.</summary>
    private void Apply(EventRecord record, long address, bool replaying)
    {
        var id = record.EventId;
        core.Point(events, KeyIndex.Hash(id), record.Previous, record.Status == EventStatus.Forgotten ? 0 : address, replaying);
        var hadSlot = outbox.Remove(id, out var oldSlot);
        if (hadSlot)
        {
            order.Remove((oldSlot.Enqueued, id));
            if (record.Status != EventStatus.Pending || Resolve(record.JsonAt, address) != oldSlot.JsonAt)
            {
                stored.Remove(oldSlot.JsonAt); // sent, withdrawn, parked or rewritten: its object is not read again
            }
        }

        var wasParked = parked.Remove(id, out var oldParked);
        var oldNext = nextPlace;
        if (record.Status == EventStatus.Pending)
        {
            var slot = new Slot(address, Resolve(record.Added, address), Resolve(record.JsonAt, address), record.Place, record.EnqueuedTicks, record.NotBeforeTicks,
                record.StatusTicks, record.SeenTicks, record.MessageId, record.DedupeKey);
            outbox[id] = slot;
            order.Add((slot.Enqueued, id));
            nextPlace = Math.Max(nextPlace, record.Place + 1);
        }
        else if (record.Status == EventStatus.Parked)
        {
            parked[id] = address;
        }

        if (!replaying)
        {
            undoes.Add((id, hadSlot ? oldSlot : null, wasParked ? oldParked : null, oldNext));
            core.Remember(this);
        }
    }

    /// <summary>Undoes the newest record's change to the outbox and the parked events (<see cref="IKeepsUndo"/>).</summary>
    public void UndoNewest()
    {
        var (id, oldSlot, oldParked, oldNext) = undoes[^1];
        undoes.RemoveAt(undoes.Count - 1);
        if (outbox.Remove(id, out var added))
        {
            order.Remove((added.Enqueued, id));
            if (oldSlot?.JsonAt != added.JsonAt)
            {
                stored.Remove(added.JsonAt); // its address will be written again
            }
        }

        parked.Remove(id);
        if (oldSlot is { } slot)
        {
            outbox[id] = slot;
            order.Add((slot.Enqueued, id));
        }

        if (oldParked is { } address)
        {
            parked[id] = address;
        }

        nextPlace = oldNext;
    }

    /// <summary>The newest record of the event, or null when the id was never seen (or forgotten).</summary>
    private EventRecord? Newest(Guid id)
    {
        EventRecord? found = null;
        var address = events.Find(KeyIndex.Hash(id), id, (wanted, at) => (found = Read(at)).EventId == wanted);
        return address == 0 ? null : found;
    }

    // A key check and a pending event's JSON read the record in place (StateLog.Read): no copy of the whole record.
    private bool IsEvent(Guid wanted, long address) => InPlace(address, wanted, static (payload, id) => EventRecord.Peek(payload).EventId == id);

    private EventRecord Read(long address)
    {
        var record = core.Log.ReadAt(address);
        return record.Kind == EventRecord.Kind
            ? EventRecord.Decode(record.Payload)
            : throw new InvalidDataException($"The state log holds a record of kind {record.Kind} at {address}, where an event's was expected.");
    }

    private byte[] Json(Slot slot) => Json(slot.JsonAt);

    private byte[] Json(long jsonAt) => InPlace(jsonAt, 0, static (payload, _) => EventRecord.JsonOf(payload).ToArray());

    private T InPlace<TState, T>(long address, TState state, Func<ReadOnlySpan<byte>, TState, T> read) =>
        core.ReadInPlace(address, EventRecord.Kind, "an event's", state, read);

    private static long Resolve(long pointer, long self) => pointer == 0 ? self : pointer;

    private string PartitionOf(Guid id) => Partitions.Name("e", Partitions.Of(id, partitions));

    /// <summary>A pending event in memory: its newest record's state, where its first sighting and current JSON are.</summary>
    private readonly record struct Slot(long Newest, long Added, long JsonAt, long Place, long Enqueued, long NotBefore, long StatusTicks, long SeenTicks,
        string? MessageId, string? DedupeKey)
    {
        /// <summary>The event's state as its next record starts from (without JSON: the current JSON stays where it is).</summary>
        public EventRecord Next(Guid id) => new(id, EventStatus.Pending, Newest, Added, JsonAt, Place, Enqueued, NotBefore, StatusTicks, SeenTicks, MessageId, DedupeKey,
            ReadOnlyMemory<byte>.Empty);
    }
}
