using CtMparticle.Consent;
using CtMparticle.Storage;
using CtMparticle.Tracking;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// Each user's consent and region (<see cref="IConsentStore"/>) on the append-only log, ADR 0007's step 3 (the consent
/// half): a merge reads the user's newest <see cref="ConsentRecord"/> (found through a
/// <see cref="SpillingKeyIndex"/>) and appends the merged state. The semantics are <see cref="SqliteStore"/>'s, which
/// <c>LogConsentStoreTests</c> holds it to. A push beside the ingest reads consent as of its snapshot (step 5).
/// </summary>
internal sealed class LogConsentStore(LogCore core, TimeProvider time) : IConsentStore
{
    private readonly SpillingKeyIndex users = core.SpillingIndex("consent");

    /// <summary>Users with a consent state.</summary>
    public int Count => users.Count;

    /// <summary>A committed record of this store's kind, at open.</summary>
    public void Replay(LogRecord record) => Apply(ConsentRecord.Decode(record.Payload.Span), record.Address, replaying: true);

    public Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken) =>
        core.Locked(() => Newest(userKey) is { } found ? State(found.Record) : null, cancellationToken);

    /// <summary>The user's state as the open snapshot of the log saw it (<see cref="LogCore.BeginSnapshotAsync"/>): a push beside the ingest reads this.</summary>
    public Task<UserConsent?> GetAsOfSnapshotAsync(string userKey, CancellationToken cancellationToken) => core.Locked(() =>
        core.AsOf(users, KeyIndex.Hash(userKey), at => Read(at) is var record ? (record.UserKey == userKey, record, record.Previous, record.Forgotten) : default) is [var found, ..]
            ? State(found.Record)
            : null, cancellationToken);

    public Task<UserConsent> MergeAsync(string userKey, ConsentSnapshot? consent, StatedRegion? region, CancellationToken cancellationToken) => core.Changing(() =>
    {
        var newest = Newest(userKey);
        var merged = UserConsent.Merged(newest is { } found ? State(found.Record) : null, consent, region, time.GetUtcNow());
        Write(new ConsentRecord(userKey, newest?.Address ?? 0, Forgotten: false, merged.Consent, merged.Region?.Country, RegionColumns.State(merged.Region),
            merged.Region is null ? null : merged.RegionAt.UtcTicks, merged.UpdatedAt.UtcTicks));
        return merged;
    }, cancellationToken);

    /// <summary>
    /// Forgets the states last updated before <paramref name="cutoff"/> that <paramref name="keep"/> does not keep.
    /// Reads the whole log once (a retention job's cost, not a relay run's).
    /// </summary>
    public Task<int> PurgeConsentOlderThanAsync(DateTimeOffset cutoff, Func<UserConsent, bool> keep, CancellationToken cancellationToken) => core.Changing(() =>
    {
        var old = new List<(ConsentRecord Record, long Address)>();
        foreach (var entry in core.Log.ReadAll())
        {
            if (entry.Kind == ConsentRecord.Kind && ConsentRecord.Decode(entry.Payload.Span) is { Forgotten: false } record
                && record.UpdatedTicks < cutoff.UtcTicks && users.Holds(KeyIndex.Hash(record.UserKey), entry.Address))
            {
                old.Add((record, entry.Address));
            }
        }

        var purged = 0;
        foreach (var (record, address) in old.Where(o => !keep(State(o.Record))))
        {
            Write(record with { Previous = address, Forgotten = true });
            purged++;
        }

        return purged;
    }, cancellationToken);

    /// <summary>Hands <paramref name="entry"/> to a compaction of the log when it is its user's newest state (on its own there).</summary>
    public void CopyLive(LogRecord entry, LogCompaction to)
    {
        var record = ConsentRecord.Decode(entry.Payload.Span);
        if (!record.Forgotten && users.Holds(KeyIndex.Hash(record.UserKey), entry.Address))
        {
            to.Append(ConsentRecord.Kind, (record with { Previous = 0 }).Encode().Span);
        }
    }

    private void Write(ConsentRecord record) => Apply(record, core.Append(ConsentRecord.Kind, record.Encode().Span), replaying: false);

    private void Apply(ConsentRecord record, long address, bool replaying) =>
        core.Point(users, KeyIndex.Hash(record.UserKey), record.Previous, record.Forgotten ? 0 : address, replaying);

    private (ConsentRecord Record, long Address)? Newest(string userKey)
    {
        ConsentRecord? found = null;
        var address = users.Find(KeyIndex.Hash(userKey), userKey, (wanted, at) => (found = Read(at)).UserKey == wanted);
        return address == 0 ? null : (found!, address);
    }

    /// <summary>The state a record holds, read as the SQLite store reads its row.</summary>
    private static UserConsent State(ConsentRecord record) =>
        new(record.Consent, record.Country is null ? null : RegionColumns.Read(record.Country, record.State), new DateTimeOffset(record.UpdatedTicks, TimeSpan.Zero))
        {
            // Written before regions kept their time: the first region stated since replaces it.
            RegionAt = record.RegionTicks is { } ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : DateTimeOffset.MinValue,
        };

    /// <summary>The consent record at <paramref name="address"/>, decoded from the log in place (it copies what it keeps).</summary>
    private ConsentRecord Read(long address) => core.ReadInPlace(address, ConsentRecord.Kind, "a consent record", 0, static (payload, _) => ConsentRecord.Decode(payload));
}
