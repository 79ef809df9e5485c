using CtMparticle.Storage;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// Identity links, withheld events and identity decisions (<see cref="IIdentityLinkStore"/>) on the append-only log,
/// ADR 0007's step 4. Indexes (<see cref="SpillingKeyIndex"/>, their older entries in files) of each link, withheld
/// event and decision by its key, and each customer's and each identifier's set of link-key hashes
/// (<see cref="HashLists"/>), so both sides of a link are read without a scan (a hash shared by two keys costs a read,
/// never a wrong answer: every record read is checked against the key asked for). Deletion
/// and retention of withheld events and decisions read the whole log once (a rare job's cost). The semantics are
/// <see cref="SqliteStore"/>'s, which <c>LogLinkStoreTests</c> holds it to.
/// </summary>
internal sealed class LogLinkStore(LogCore core) : IIdentityLinkStore
{
    private readonly SpillingKeyIndex links = core.SpillingIndex("links");
    private readonly SpillingKeyIndex withheld = core.SpillingIndex("withheld");
    private readonly SpillingKeyIndex decisions = core.SpillingIndex("decisions");
    private readonly HashLists byCustomer = new(core.SpillingIndex("by-customer"));
    private readonly HashLists byIdentifier = new(core.SpillingIndex("by-identifier"));

    /// <summary>Links stored (not forgotten).</summary>
    public int Count => links.Count;

    /// <summary>A committed record of one of this store's kinds, at open.</summary>
    public void Replay(LogRecord record)
    {
        switch (record.Kind)
        {
            case LinkRecords.LinkKind:
                ApplyLink(LinkRecord.Decode(record.Payload.Span), record.Address, replaying: true);
                break;
            case LinkRecords.WithheldKind:
                var withheldRecord = WithheldRecord.Decode(record.Payload.Span);
                core.Point(withheld, KeyIndex.Hash(withheldRecord.Key), withheldRecord.Previous, withheldRecord.Forgotten ? 0 : record.Address, replaying: true);
                break;
            default:
                var decision = DecisionRecord.Decode(record.Payload.Span);
                core.Point(decisions, KeyIndex.Hash(decision.EventId), decision.Previous, decision.Forgotten ? 0 : record.Address, replaying: true);
                break;
        }
    }

    /// <summary>Hands <paramref name="entry"/> (a record of one of this store's kinds) to a compaction of the log when it is its key's newest (on its own there).</summary>
    public void CopyLive(LogRecord entry, LogCompaction to)
    {
        var payload = entry.Payload.Span;
        if (entry.Kind == LinkRecords.LinkKind)
        {
            if (LinkRecord.Decode(payload) is { Forgotten: false } link && links.Holds(KeyIndex.Hash(link.Key), entry.Address))
            {
                to.Append(entry.Kind, (link with { Previous = 0 }).Encode().Span);
            }
        }
        else if (entry.Kind == LinkRecords.WithheldKind)
        {
            if (WithheldRecord.Decode(payload) is { Forgotten: false } held && withheld.Holds(KeyIndex.Hash(held.Key), entry.Address))
            {
                to.Append(entry.Kind, (held with { Previous = 0 }).Encode().Span);
            }
        }
        else if (DecisionRecord.Decode(payload) is { Forgotten: false } decision && decisions.Holds(KeyIndex.Hash(decision.EventId), entry.Address))
        {
            to.Append(entry.Kind, (decision with { Previous = 0 }).Encode().Span);
        }
    }

    public Task<IdentityLink> RecordAsync(IdentityLink link, CancellationToken cancellationToken) => core.Changing(() =>
    {
        // A new link as given; an existing one only moves its last sighting forward (state and first sighting kept).
        if (Find(link.CustomerId, link.Type, link.Value) is not { } stored)
        {
            WriteLink(new LinkRecord(0, false, link));
            return link;
        }

        if (link.LastSeen.UtcTicks <= stored.Record.Link.LastSeen.UtcTicks)
        {
            return stored.Record.Link;
        }

        var moved = stored.Record.Link with { LastSeen = link.LastSeen };
        WriteLink(new LinkRecord(stored.Address, false, moved));
        return moved;
    }, cancellationToken);

    /// <remarks>The log's store reads the link anyway: the same as <see cref="RecordAsync"/>, as on SQLite.</remarks>
    public Task<IdentityLink> RecordNewAsync(IdentityLink link, CancellationToken cancellationToken) => RecordAsync(link, cancellationToken);

    public Task SeenAgainAsync(IdentityLink stored, DateTimeOffset at, CancellationToken cancellationToken) => core.Changing(() =>
    {
        if (Find(stored.CustomerId, stored.Type, stored.Value) is { } current && at.UtcTicks > current.Record.Link.LastSeen.UtcTicks)
        {
            WriteLink(new LinkRecord(current.Address, false, current.Record.Link with { LastSeen = at }));
        }

        return true;
    }, cancellationToken);

    public Task<IReadOnlyList<IdentityLink>> ByIdentifierAsync(string type, string value, CancellationToken cancellationToken) =>
        core.Locked(() => OfIdentifier(type, value), cancellationToken);

    public Task<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>> ByIdentifiersAsync(
        IReadOnlyCollection<(string Type, string Value)> identifiers, CancellationToken cancellationToken) =>
        core.Locked<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>>(
            () => identifiers.Distinct().ToDictionary(id => id, id => OfIdentifier(id.Type, id.Value)), cancellationToken);

    public Task<IReadOnlyList<IdentityLink>> ByCustomerAsync(string customerId, CancellationToken cancellationToken) =>
        core.Locked(() => OfCustomer(customerId), cancellationToken);

    public Task<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>> ByCustomersAsync(IReadOnlyCollection<string> customerIds, CancellationToken cancellationToken) =>
        core.Locked<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>>(
            () => customerIds.Distinct(StringComparer.Ordinal).ToDictionary(id => id, OfCustomer, StringComparer.Ordinal), cancellationToken);

    /// <summary>As <see cref="ByIdentifiersAsync"/>, as the open snapshot of the log saw them (<see cref="LogCore.BeginSnapshotAsync"/>): a push beside the ingest reads this.</summary>
    public async Task<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>> ByIdentifiersAsOfSnapshotAsync(
        IReadOnlyCollection<(string Type, string Value)> identifiers, CancellationToken cancellationToken) =>
        await AsOfSnapshotAsync([.. identifiers.Distinct()], null,
            id => Sorted(ListedAsOf(byIdentifier, KeyIndex.Hash(IdentifierKey(id.Type, id.Value)), link => link.Type == id.Type && link.Value == id.Value)),
            cancellationToken).ConfigureAwait(false);

    /// <summary>As <see cref="ByCustomersAsync"/>, as the open snapshot of the log saw them (<see cref="LogCore.BeginSnapshotAsync"/>).</summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>> ByCustomersAsOfSnapshotAsync(IReadOnlyCollection<string> customerIds, CancellationToken cancellationToken) =>
        await AsOfSnapshotAsync([.. customerIds.Distinct(StringComparer.Ordinal)], StringComparer.Ordinal,
            id => Sorted(ListedAsOf(byCustomer, KeyIndex.Hash(id), link => link.CustomerId == id)), cancellationToken).ConfigureAwait(false);

    /// <summary>Keys whose links a push reads under one hold of the log's lock while a snapshot is open (<see cref="AsOfSnapshotAsync"/>).</summary>
    internal const int ReadsPerHold = 32;

    /// <summary>
    /// Each key's links as <paramref name="read"/> finds them. While a snapshot is open (the push beside the ingest),
    /// <see cref="ReadsPerHold"/> keys per hold of the lock, the writer let in between: reads as of the snapshot see
    /// the same whatever it writes meanwhile, and one hold for a whole push's customers (up to a few milliseconds)
    /// held the writer, the run's slowest thread, for all of it. Without a snapshot a read of now is one hold: one state.
    /// </summary>
    private async Task<IReadOnlyDictionary<TKey, IReadOnlyList<IdentityLink>>> AsOfSnapshotAsync<TKey>(
        TKey[] keys, IEqualityComparer<TKey>? comparer, Func<TKey, IReadOnlyList<IdentityLink>> read, CancellationToken cancellationToken)
        where TKey : notnull
    {
        var found = new Dictionary<TKey, IReadOnlyList<IdentityLink>>(keys.Length, comparer);
        long? snapshot = null;
        var done = 0;
        while (done < keys.Length)
        {
            if (done > 0)
            {
                await Task.Yield(); // the lock is free until this goes on: a writer woken for it takes it meanwhile
            }

            done = await core.Locked(() =>
            {
                if (snapshot is { } begun && begun != core.SnapshotEnd)
                {
                    // The snapshot ended or another began between holds (the push ends it only once it is done, so a
                    // caller outside a push): read every key again, at once.
                    found.Clear();
                    done = 0;
                }

                snapshot = core.SnapshotEnd;
                var end = snapshot == 0 ? keys.Length : Math.Min(keys.Length, done + ReadsPerHold);
                for (var i = done; i < end; i++)
                {
                    found[keys[i]] = read(keys[i]);
                }

                return end;
            }, cancellationToken).ConfigureAwait(false);
        }

        return found;
    }

    public Task SetStateAsync(IdentityLink link, LinkState state, string rulesVersion, CancellationToken cancellationToken) => core.Changing(() =>
    {
        if (Find(link.CustomerId, link.Type, link.Value) is { } current)
        {
            WriteLink(new LinkRecord(current.Address, false, current.Record.Link with { State = state, RulesVersion = rulesVersion }));
        }

        return true;
    }, cancellationToken);

    public Task RecordWithheldAsync(string customerId, Guid eventId, DateTimeOffset at, CancellationToken cancellationToken) => core.Changing(() =>
    {
        if (FindWithheld(customerId, eventId) == 0)
        {
            WriteWithheld(new WithheldRecord(0, false, customerId, eventId, at.UtcTicks));
        }

        return true;
    }, cancellationToken);

    public Task<bool> WasWithheldAsync(string customerId, Guid eventId, CancellationToken cancellationToken) =>
        core.Locked(() => FindWithheld(customerId, eventId) != 0, cancellationToken);

    public Task<int> ForgetCustomerAsync(string customerId, CancellationToken cancellationToken) => core.Changing(() =>
    {
        ForgetWithheld(record => record.CustomerId == customerId);
        var forgotten = 0;
        foreach (var (record, address) in LinksOf(customerId))
        {
            WriteLink(new LinkRecord(address, true, record.Link));
            forgotten++;
        }

        return forgotten;
    }, cancellationToken);

    public Task<int> PurgeOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => core.Changing(() =>
    {
        ForgetWithheld(record => record.AtTicks < cutoff.UtcTicks);
        var old = Current(LinkRecords.LinkKind, LinkRecord.Decode, record => !record.Forgotten && record.Link.LastSeen.UtcTicks < cutoff.UtcTicks);
        foreach (var (record, address) in old)
        {
            WriteLink(new LinkRecord(address, true, record.Link));
        }

        return old.Count;
    }, cancellationToken);

    public Task SaveDecisionsAsync(IReadOnlyList<IdentityDecision> decisions, CancellationToken cancellationToken)
    {
        // Encoded before the lock is taken: a push saves a window's decisions at once, beside the writer that waits for it.
        var encoded = decisions.Select(StateCodec.EncodeDecision).ToArray();
        return core.Changing(() =>
        {
            for (var i = 0; i < decisions.Count; i++)
            {
                var previous = FindDecision(decisions[i].EventId);
                WriteDecision(new DecisionRecord(previous, false, decisions[i].EventId, decisions[i].DecidedAt.UtcTicks, encoded[i]));
            }

            return decisions.Count;
        }, cancellationToken);
    }

    public Task<IdentityDecision?> DecisionAsync(Guid eventId, CancellationToken cancellationToken) => core.Locked(() =>
    {
        var address = FindDecision(eventId);
        return address == 0 ? null : StateCodec.DecodeDecision(Read(address, DecisionRecord.Decode).Decision);
    }, cancellationToken);

    public Task<int> PurgeDecisionsOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => core.Changing(() =>
    {
        var old = Current(LinkRecords.DecisionKind, DecisionRecord.Decode, record => !record.Forgotten && record.DecidedTicks < cutoff.UtcTicks);
        foreach (var (record, address) in old)
        {
            WriteDecision(record with { Previous = address, Forgotten = true, Decision = [] });
        }

        return old.Count;
    }, cancellationToken);

    // ---- links ---------------------------------------------------------------------------------------------------

    private void WriteLink(LinkRecord record) => ApplyLink(record, core.Append(LinkRecords.LinkKind, record.Encode().Span), replaying: false);

    /// <summary>Points the link's index entry at the record; a new link joins its customer's and identifier's lists, a forgotten one leaves them.</summary>
    private void ApplyLink(LinkRecord record, long address, bool replaying)
    {
        var hash = KeyIndex.Hash(record.Key);
        core.Point(links, hash, record.Previous, record.Forgotten ? 0 : address, replaying);
        var customer = KeyIndex.Hash(record.Link.CustomerId);
        var identifier = KeyIndex.Hash(IdentifierKey(record.Link.Type, record.Link.Value));
        if (record.Previous == 0)
        {
            Join(byCustomer, customer, hash, replaying);
            Join(byIdentifier, identifier, hash, replaying);
        }
        else if (record.Forgotten && links.All(hash).Count == 0 && (replaying || core.SnapshotEnd == 0))
        {
            // While a snapshot is open the lists keep the hash, for the reads as of it (the writer's own reads skip a
            // hash no index entry holds); it goes at the next open.
            Leave(byCustomer, customer, hash, replaying);
            Leave(byIdentifier, identifier, hash, replaying);
        }
    }

    private void Join(HashLists lists, ulong owner, ulong hash, bool replaying)
    {
        if (lists.Add(owner, hash) && !replaying)
        {
            lists.Remember(core, owner, hash, added: true);
        }
    }

    private void Leave(HashLists lists, ulong owner, ulong hash, bool replaying)
    {
        if (lists.Remove(owner, hash) && !replaying)
        {
            lists.Remember(core, owner, hash, added: false);
        }
    }

    private (LinkRecord Record, long Address)? Find(string customerId, string type, string value)
    {
        var key = LinkRecord.LinkKey(customerId, type, value);
        LinkRecord? found = null;
        var address = links.Find(KeyIndex.Hash(key), key, (wanted, at) => (found = Read(at, LinkRecord.Decode)).Key == wanted);
        return address == 0 ? null : (found!, address);
    }

    /// <summary>The customer's links with the addresses of their newest records.</summary>
    private List<(LinkRecord Record, long Address)> LinksOf(string customerId) =>
        Listed(byCustomer, KeyIndex.Hash(customerId), link => link.CustomerId == customerId);

    private IReadOnlyList<IdentityLink> OfCustomer(string customerId) => Sorted(LinksOf(customerId));

    private IReadOnlyList<IdentityLink> OfIdentifier(string type, string value) =>
        Sorted(Listed(byIdentifier, KeyIndex.Hash(IdentifierKey(type, value)), link => link.Type == type && link.Value == value));

    private List<(LinkRecord Record, long Address)> Listed(HashLists lists, ulong owner, Func<IdentityLink, bool> belongs)
    {
        var found = new List<(LinkRecord, long)>();
        foreach (var address in lists.Of(owner).SelectMany(links.All).Distinct())
        {
            var record = Read(address, LinkRecord.Decode);
            if (belongs(record.Link))
            {
                found.Add((record, address));
            }
        }

        return found;
    }

    /// <summary>The links of an owner's list as the open snapshot saw them (each hash's keys, followed back to their records before its end).</summary>
    private List<(LinkRecord Record, long Address)> ListedAsOf(HashLists lists, ulong owner, Func<IdentityLink, bool> belongs)
    {
        var found = new List<(LinkRecord, long)>();
        foreach (var hash in lists.Of(owner))
        {
            found.AddRange(core.AsOf(links, hash, at => Read(at, LinkRecord.Decode) is var record ? (belongs(record.Link), record, record.Previous, record.Forgotten) : default));
        }

        return found;
    }

    // Oldest first, then by customer, as SQLite orders them (ordinal: its text comparison is by bytes); links it
    // leaves tied (one customer's, first seen at once) go by type and value here, so a read is always the same.
    private static List<IdentityLink> Sorted(List<(LinkRecord Record, long Address)> found) =>
        [.. found.Select(f => f.Record.Link).OrderBy(l => l.FirstSeen.UtcTicks).ThenBy(l => l.CustomerId, StringComparer.Ordinal)
            .ThenBy(l => l.Type, StringComparer.Ordinal).ThenBy(l => l.Value, StringComparer.Ordinal)];

    private static string IdentifierKey(string type, string value) => $"{type}\u0000{value}";

    // ---- withheld events and decisions --------------------------------------------------------------------------

    private void WriteWithheld(WithheldRecord record)
    {
        var address = core.Append(LinkRecords.WithheldKind, record.Encode().Span);
        core.Point(withheld, KeyIndex.Hash(record.Key), record.Previous, record.Forgotten ? 0 : address, replaying: false);
    }

    private void WriteDecision(DecisionRecord record)
    {
        var address = core.Append(LinkRecords.DecisionKind, record.Encode().Span);
        core.Point(decisions, KeyIndex.Hash(record.EventId), record.Previous, record.Forgotten ? 0 : address, replaying: false);
    }

    private long FindWithheld(string customerId, Guid eventId)
    {
        var key = WithheldRecord.WithheldKey(customerId, eventId);
        return withheld.Find(KeyIndex.Hash(key), key, (wanted, at) => Read(at, WithheldRecord.Decode).Key == wanted);
    }

    private long FindDecision(Guid eventId) => decisions.Find(KeyIndex.Hash(eventId), eventId, (wanted, at) => Read(at, DecisionRecord.Decode).EventId == wanted);

    private void ForgetWithheld(Func<WithheldRecord, bool> which)
    {
        foreach (var (record, address) in Current(LinkRecords.WithheldKind, WithheldRecord.Decode, record => !record.Forgotten && which(record)))
        {
            WriteWithheld(record with { Previous = address, Forgotten = true });
        }
    }

    /// <summary>The records of <paramref name="kind"/> that <paramref name="which"/> picks and that are still their key's newest (one read of the log).</summary>
    private List<(T Record, long Address)> Current<T>(byte kind, Func<ReadOnlySpan<byte>, T> decode, Func<T, bool> which)
    {
        IKeyIndex index = kind switch { LinkRecords.LinkKind => links, LinkRecords.WithheldKind => withheld, _ => decisions };
        var found = new List<(T, long)>();
        foreach (var entry in core.Log.ReadAll())
        {
            if (entry.Kind == kind && decode(entry.Payload.Span) is var record && which(record) && index.Holds(HashOf(record), entry.Address))
            {
                found.Add((record, entry.Address));
            }
        }

        return found;
    }

    private static ulong HashOf<T>(T record) => record switch
    {
        LinkRecord link => KeyIndex.Hash(link.Key),
        WithheldRecord withheldRecord => KeyIndex.Hash(withheldRecord.Key),
        DecisionRecord decision => KeyIndex.Hash(decision.EventId),
        _ => throw new ArgumentOutOfRangeException(nameof(record)),
    };

    /// <summary>The identity record at <paramref name="address"/>, decoded from the log in place (no copy of the record first).</summary>
    private T Read<T>(long address, Func<ReadOnlySpan<byte>, T> decode) =>
        core.Log.Read(address, (Decode: decode, Address: address), static (kind, payload, read) => kind is LinkRecords.LinkKind or LinkRecords.WithheldKind or LinkRecords.DecisionKind
            ? read.Decode(payload)
            : throw new InvalidDataException($"The state log holds a record of kind {kind} at {read.Address}, where an identity record was expected."));
}
