namespace CtMparticle.Embedded.Log;

/// <summary>
/// One input's entry in the ledger as recorded or updated (ADR 0007, step 2's other half): the SQLite store's
/// <c>inputs</c> row with its events, flags and unenriched reason in one record. An update names the entry's record it
/// replaces (<see cref="Previous"/>). <see cref="MessageFrom"/> is where the message-id index pointed before this
/// record took its message's place there (0: nowhere), or -1 when the record leaves the index alone (a redelivery, an
/// update of an input a later one of the same message replaced), so a replay rebuilds the index without a read.
/// </summary>
internal sealed record InputRecord(
    long Previous,
    long Seq,
    long MessageFrom,
    string Source,
    string? MessageId,
    string? MessageType,
    string Outcome,
    string? Reason,
    string Detail,
    string? Quarantine,
    long ReceivedTicks,
    IReadOnlyList<Guid> EventIds,
    IReadOnlyList<string> Flags,
    string? Unenriched)
{
    public const byte Kind = 7;

    /// <summary>
    /// A redelivery's entry: it never answers <see cref="IRunLedger.FindInputAsync"/>. A duplicate without a reason
    /// counts as one too, as SQLite's query reads it (<c>NOT (outcome = 'duplicate' AND reason = 'redelivered')</c> is
    /// not true for a null reason); the relay never records one.
    /// </summary>
    public bool IsRedelivery => Outcome == "duplicate" && Reason is "redelivered" or null;

    public ReadOnlyMemory<byte> Encode() => RecordCodec.Encode(Previous, forgotten: false, writer =>
    {
        writer.Write(Seq);
        writer.Write(MessageFrom);
        writer.Write(Source);
        RecordCodec.WriteOptional(writer, MessageId);
        RecordCodec.WriteOptional(writer, MessageType);
        writer.Write(Outcome);
        RecordCodec.WriteOptional(writer, Reason);
        writer.Write(Detail);
        RecordCodec.WriteOptional(writer, Quarantine);
        writer.Write(ReceivedTicks);
        writer.Write(EventIds.Count);
        foreach (var id in EventIds)
        {
            writer.Write(id.ToByteArray());
        }

        writer.Write(Flags.Count);
        foreach (var flag in Flags)
        {
            writer.Write(flag);
        }

        RecordCodec.WriteOptional(writer, Unenriched);
    });

    /// <exception cref="InvalidDataException">The payload is not a ledger record.</exception>
    public static InputRecord Decode(ReadOnlySpan<byte> payload) => RecordCodec.Decode(payload, static (long previous, bool _, ref PayloadCursor reader) =>
    {
        var (seq, messageFrom, source) = (reader.Int64(), reader.Int64(), reader.String());
        var (messageId, messageType) = (reader.OptionalString(), reader.OptionalString());
        var (outcome, reason) = (reader.String(), reader.OptionalString());
        var (detail, quarantine, received) = (reader.String(), reader.OptionalString(), reader.Int64());
        var ids = new Guid[Count(ref reader, 16)];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = reader.Guid();
        }

        var flags = new string[Count(ref reader, 1)];
        for (var i = 0; i < flags.Length; i++)
        {
            flags[i] = reader.String();
        }

        return new InputRecord(previous, seq, messageFrom, source, messageId, messageType, outcome, reason, detail, quarantine, received, ids, flags, reader.OptionalString());
    });

    private static int Count(ref PayloadCursor reader, int bytesEach)
    {
        var count = reader.Int32();
        return count >= 0 && (long)count * bytesEach <= reader.Remaining ? count : throw new InvalidDataException("A ledger record counts more entries than it holds.");
    }

}

/// <summary>
/// The runner's ledger (<see cref="IRunLedger"/>) on the append-only log, ADR 0007's step 2 (the ledger half): each
/// input is an <see cref="InputRecord"/>, found by its sequence number through a <see cref="SpillingAddressList"/> and
/// by its message id through a <see cref="SpillingKeyIndex"/> (the older entries of both in files); the inputs
/// quarantined under each record id are listed in memory.
/// <para>
/// The reports join inputs with their events' fates, as <see cref="SqliteStore"/>'s do, including the fates of events
/// whose dedupe record retention forgot (SQLite keeps a sent event's fate for ever). The log's index forgets them, so
/// the reports read the whole log, twice: <c>ctmp report</c>'s cost (13 s for a log of 1,000,000 deliveries), never a run's.
/// </para>
/// </summary>
internal sealed class LogLedger : IRunLedger, IKeepsUndo
{
    private readonly LogCore core;
    private readonly LogEventStore events;
    private readonly TimeProvider time;
    private readonly SpillingAddressList inputs; // seq - 1 → the entry's newest record
    private readonly SpillingKeyIndex messages;
    private readonly List<(long Seq, long Replaced, string? WasQuarantinedAs)> undoes = []; // the open batch's, newest last (IKeepsUndo)
    private readonly Dictionary<long, string> quarantinedAs = [];
    private readonly Dictionary<string, SortedSet<long>> quarantined = new(StringComparer.Ordinal);
    private ReportScan? report;

    public LogLedger(LogCore core, LogEventStore events, TimeProvider time)
    {
        this.core = core;
        this.events = events;
        this.time = time;
        inputs = core.SpillingList("inputs");
        messages = core.SpillingIndex("messages");
        core.Committed += undoes.Clear;
    }

    /// <summary>Inputs recorded.</summary>
    public int Count => inputs.Count;

    /// <summary>A committed record of this store's kind, at open.</summary>
    public void Replay(LogRecord record) => Apply(InputRecord.Decode(record.Payload.Span), record.Address, replaying: true);

    public Task<LedgerInput?> FindInputAsync(string messageId, CancellationToken cancellationToken) => core.Locked(() =>
        NewestOf(messageId) is { } found ? new LedgerInput(found.Record.Seq, found.Record.Outcome, found.Record.Reason, found.Record.Quarantine) : null,
        cancellationToken);

    public Task<long> RecordInputAsync(string source, string? messageId, string? messageType, string outcome, string? reason, string detail,
        string? quarantine, IReadOnlyList<Guid> eventIds, IReadOnlyList<string> flags, string? unenriched, CancellationToken cancellationToken) => core.Changing(() =>
    {
        var record = new InputRecord(0, inputs.Count + 1, -1, source, messageId, messageType, outcome, reason, detail, quarantine, time.GetUtcNow().UtcTicks,
            [.. eventIds.Distinct()], [.. flags], unenriched);
        if (messageId is not null && !record.IsRedelivery)
        {
            record = record with { MessageFrom = NewestOf(messageId)?.Address ?? 0 };
        }

        Write(record);
        return record.Seq;
    }, cancellationToken);

    public Task UpdateInputAsync(long seq, string outcome, string? reason, string detail, string? quarantine, IReadOnlyList<Guid> eventIds,
        IReadOnlyList<string> flags, string? unenriched, CancellationToken cancellationToken) => core.Changing(() =>
    {
        if (seq < 1 || seq > inputs.Count)
        {
            return false; // as SQLite's UPDATE of no row
        }

        var newest = inputs[(int)seq - 1];
        var old = Read(newest);
        var updated = old with
        {
            Previous = newest, MessageFrom = -1, Outcome = outcome, Reason = reason, Detail = detail, Quarantine = quarantine,
            EventIds = [.. old.EventIds.Concat(eventIds).Distinct()], Flags = [.. flags], Unenriched = unenriched,
        };
        if (old.MessageId is not null && NewestOf(old.MessageId) is var current)
        {
            if (updated.IsRedelivery && current?.Address == newest)
            {
                throw new InvalidOperationException($"Input {seq} answers for its message: it is not updated to a redelivery's outcome.");
            }

            // It answers for its message now if it did, or if no later input of the message does (a redelivery's entry updated).
            updated = updated.IsRedelivery ? updated
                : current is not { } found ? updated with { MessageFrom = 0 }
                : found.Address == newest || found.Record.Seq < seq ? updated with { MessageFrom = found.Address }
                : updated;
        }

        Write(updated);
        return true;
    }, cancellationToken);

    public Task<IReadOnlyList<long>> InputsQuarantinedAsAsync(string quarantine, CancellationToken cancellationToken) =>
        core.Locked<IReadOnlyList<long>>(() => quarantined.TryGetValue(quarantine, out var seqs) ? [.. seqs] : [], cancellationToken);

    public Task<IReadOnlyList<LedgerRow>> LedgerAsync(CancellationToken cancellationToken) =>
        core.Locked<IReadOnlyList<LedgerRow>>(() => Scan().Rows, cancellationToken);

    public Task<EventTotals> EventTotalsAsync(CancellationToken cancellationToken) => core.Locked(() =>
    {
        var fates = Scan().Fates;
        var (pending, held) = events.OutboxCounts(time.GetUtcNow().UtcTicks);
        var withheld = fates.GetValueOrDefault(Fate.Withheld);
        return new EventTotals(events.Known - withheld, pending, fates.GetValueOrDefault(Fate.Delivered), fates.GetValueOrDefault(Fate.Withdrawn),
            fates.GetValueOrDefault(Fate.Quarantined), events.InFlightCount, withheld, held);
    }, cancellationToken);

    public Task<SortedDictionary<string, long>> UnenrichedAsync(CancellationToken cancellationToken) =>
        core.Locked(() => new SortedDictionary<string, long>(Scan().Unenriched, StringComparer.Ordinal), cancellationToken);

    public Task<(long Inputs, SortedDictionary<string, long> ByError)> FlagsAsync(CancellationToken cancellationToken) =>
        core.Locked(() => Scan() is var scan ? (scan.Flagged, new SortedDictionary<string, long>(scan.ByError, StringComparer.Ordinal)) : default, cancellationToken);

    /// <summary>
    /// Writes every input's newest entry to a compaction of the log, in input order (as <see cref="Apply"/> reads them
    /// back), each on its own; the entry that answers for its message keeps the message-id index's place.
    /// </summary>
    public void CopyLive(LogCompaction to)
    {
        foreach (var address in inputs.ToArray())
        {
            var record = Read(address);
            var answers = record.MessageId is not null && messages.Holds(KeyIndex.Hash(record.MessageId), address);
            to.Append(InputRecord.Kind, (record with { Previous = 0, MessageFrom = answers ? 0 : -1 }).Encode().Span);
        }
    }

    private void Write(InputRecord record) => Apply(record, core.Append(InputRecord.Kind, record.Encode().Span), replaying: false);

    /// <summary>What a record changes in memory, the same at open (replaying) and when it is written.</summary>
    /// <exception cref="InvalidDataException">The record does not follow the entries before it.</exception>
    private void Apply(InputRecord record, long address, bool replaying)
    {
        var index = (int)record.Seq - 1;
        long? replaced = null;
        if (record.Previous == 0 && index == inputs.Count)
        {
            inputs.Add(address);
        }
        else if (record.Previous != 0 && index >= 0 && index < inputs.Count && inputs[index] == record.Previous)
        {
            replaced = inputs[index];
            inputs[index] = address;
        }
        else
        {
            throw new InvalidDataException($"The state log holds a ledger entry for input {record.Seq} that does not follow the entries before it.");
        }

        if (record.MessageFrom >= 0 && record.MessageId is not null)
        {
            core.Point(messages, KeyIndex.Hash(record.MessageId), record.MessageFrom, address, replaying);
        }

        var wasQuarantinedAs = quarantinedAs.GetValueOrDefault(record.Seq);
        Unlist(record.Seq);
        if (record is { Outcome: "quarantined", Quarantine: { } id })
        {
            List(record.Seq, id);
        }

        if (!replaying)
        {
            undoes.Add((record.Seq, replaced ?? 0, wasQuarantinedAs));
            core.Remember(this);
        }
    }

    /// <summary>Undoes the newest entry's change (<see cref="IKeepsUndo"/>): the undo goes newest first, so a new entry is the last.</summary>
    public void UndoNewest()
    {
        var (seq, replaced, wasQuarantinedAs) = undoes[^1];
        undoes.RemoveAt(undoes.Count - 1);
        Unlist(seq);
        if (wasQuarantinedAs is not null)
        {
            List(seq, wasQuarantinedAs);
        }

        if (replaced != 0)
        {
            inputs[(int)seq - 1] = replaced; // an address is never 0
        }
        else
        {
            inputs.RemoveLast();
        }
    }

    private void List(long seq, string quarantine)
    {
        quarantinedAs[seq] = quarantine;
        if (!quarantined.TryGetValue(quarantine, out var seqs))
        {
            quarantined[quarantine] = seqs = [];
        }

        seqs.Add(seq);
    }

    private void Unlist(long seq)
    {
        if (quarantinedAs.Remove(seq, out var quarantine) && quarantined.TryGetValue(quarantine, out var seqs) && seqs.Remove(seq) && seqs.Count == 0)
        {
            quarantined.Remove(quarantine);
        }
    }

    private (InputRecord Record, long Address)? NewestOf(string messageId)
    {
        InputRecord? found = null;
        var address = messages.Find(KeyIndex.Hash(messageId), messageId, (wanted, at) => (found = Read(at)).MessageId == wanted);
        return address == 0 ? null : (found!, address);
    }

    /// <summary>
    /// What the reports read, from two passes over the log (the events' fates, then each input's newest entry), kept
    /// until the log changes: <c>ctmp report</c> asks for the ledger, the totals, the flags and the reasons in turn.
    /// Each input becomes its row as it is read; nothing of its detail is held.
    /// </summary>
    private ReportScan Scan()
    {
        if (report is { } kept && kept.Version == core.Version)
        {
            return kept;
        }

        var fates = Fates();
        var newest = inputs.ToArray(); // the file read once, not once an input
        var rows = new LedgerRow[newest.Length];
        var unenriched = new Dictionary<string, long>(StringComparer.Ordinal);
        var byError = new Dictionary<string, long>(StringComparer.Ordinal);
        var words = new Dictionary<string, string>(StringComparer.Ordinal); // one string per outcome and reason, not one per row
        long flagged = 0;
        foreach (var entry in core.Log.ReadAll())
        {
            if (entry.Kind != InputRecord.Kind || InputRecord.Decode(entry.Payload.Span) is not { } input || newest[(int)input.Seq - 1] != entry.Address)
            {
                continue;
            }

            int pending = 0, delivered = 0, withdrawn = 0, quarantinedAtPush = 0;
            foreach (var id in input.EventIds)
            {
                pending += events.IsPending(id) ? 1 : 0;
                var fate = fates.GetValueOrDefault(id).Fate;
                delivered += fate == Fate.Delivered ? 1 : 0;
                withdrawn += fate == Fate.Withdrawn ? 1 : 0;
                quarantinedAtPush += fate == Fate.Quarantined ? 1 : 0;
            }

            rows[input.Seq - 1] = new LedgerRow(Word(input.Outcome)!, Word(input.Reason), pending, delivered, withdrawn, quarantinedAtPush, input.EventIds.Count);
            if (input is { Outcome: "accepted", Unenriched: { } reason })
            {
                unenriched[reason] = unenriched.GetValueOrDefault(reason) + 1;
            }

            flagged += input.Flags.Count > 0 ? 1 : 0;
            foreach (var error in input.Flags)
            {
                byError[error] = byError.GetValueOrDefault(error) + 1;
            }
        }

        var byFate = new Dictionary<Fate, long>();
        foreach (var (_, fate) in fates.Values)
        {
            byFate[fate] = byFate.GetValueOrDefault(fate) + 1;
        }

        return (report = new ReportScan(core.Version, rows, byFate, unenriched, flagged, byError));

        string? Word(string? word) => word is null ? null : words.TryGetValue(word, out var kept) ? kept : words[word] = word;
    }

    /// <summary>
    /// Each event's fate as the SQLite store's <c>fates</c> table holds it, from one pass over the log: set when the
    /// event left the outbox (delivered, withdrawn, quarantined) or was withheld, dropped when a replay restored it
    /// from the parked events, and kept after retention forgot its dedupe record (a withholding's, which only marks
    /// that record, excepted).
    /// </summary>
    private Dictionary<Guid, (EventStatus Last, Fate Fate)> Fates()
    {
        var fates = new Dictionary<Guid, (EventStatus Last, Fate Fate)>();
        foreach (var entry in core.Log.ReadAll())
        {
            if (entry.Kind != EventRecord.Kind)
            {
                continue;
            }

            var (id, status) = EventRecord.Peek(entry.Payload.Span);
            var (last, fate) = fates.GetValueOrDefault(id);
            fates[id] = (status, status switch
            {
                EventStatus.Delivered => Fate.Delivered,
                EventStatus.Withdrawn => Fate.Withdrawn,
                EventStatus.Parked or EventStatus.Quarantined => Fate.Quarantined,
                EventStatus.Withheld => Fate.Withheld,
                EventStatus.Pending when last == EventStatus.Parked => Fate.None,
                EventStatus.Forgotten when fate == Fate.Withheld => Fate.None,
                _ => fate,
            });
        }

        return fates;
    }

    /// <summary>The ledger entry at <paramref name="address"/>, decoded from the log in place (it copies what it keeps).</summary>
    private InputRecord Read(long address) => core.ReadInPlace(address, InputRecord.Kind, "a ledger entry", 0, static (payload, _) => InputRecord.Decode(payload));

    private enum Fate : byte { None, Delivered, Withdrawn, Quarantined, Withheld }

    private sealed record ReportScan(long Version, LedgerRow[] Rows, Dictionary<Fate, long> Fates, Dictionary<string, long> Unenriched, long Flagged,
        Dictionary<string, long> ByError);
}
