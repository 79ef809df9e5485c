using System.Collections.Concurrent;
using Azure;
using Azure.Data.Tables;

namespace CtMparticle.Storage.Azure;

/// <summary>
/// Write-behind for the ingest of one batch of inputs on Azure Tables (the function app's Service Bus batch, a collector
/// request's calls; opened by <c>Hosting.WriteBehindIngest</c>). While a
/// <see cref="TableWriteBatch"/> is open in the calling flow, the table stores put their ingest writes into it instead
/// of sending each at once, and read through it (every read sees the batch's own writes, and each entity or range is
/// read from the table once per batch); <see cref="TableWriteBatch.FlushAsync"/>
/// then sends them as entity-group transactions, up to 100 writes of one partition each, instead of one request per
/// write. A batch that is never flushed wrote nothing: the transport redelivers its inputs, and every stage is
/// idempotent. Without an open batch (the push, the command-line runner, the jobs) every store writes at once, as before.
/// </summary>
/// <remarks>
/// The batch is ambient to the calling flow (an <see cref="AsyncLocal{T}"/>), so the stores behind the shared ingest
/// pipeline need no second set of methods, and a push or a concurrent invocation in the same process never sees it.
/// </remarks>
internal sealed class TableWriteBehind : IReadScopes
{
    /// <summary>
    /// The order tables are flushed in: consent, order contexts and identity links before the outbox, so a push never
    /// reads an event of the batch before what the batch learnt with it.
    /// </summary>
    public const int ConsentOrder = 0, OrdersOrder = 1, LinksOrder = 2, EventsOrder = 3;

    private readonly AsyncLocal<TableWriteBatch?> current = new();
    private readonly AsyncLocal<TableReadScope?> reads = new();

    /// <summary>The batch open in the calling flow, if any.</summary>
    public TableWriteBatch? Current => current.Value;

    /// <summary>
    /// Opens a batch for the calling flow until it is disposed. Synchronous on purpose: an <see cref="AsyncLocal{T}"/>
    /// set in a synchronous method stays set for its caller (set in an async one, it would be gone on return).
    /// </summary>
    public TableWriteBatch Begin()
    {
        if (current.Value is not null)
        {
            throw new InvalidOperationException("A write-behind batch is already open in this flow; flush and dispose it first.");
        }

        var batch = new TableWriteBatch(() => current.Value = null);
        current.Value = batch;
        return batch;
    }

    /// <summary>The read scope open in the calling flow, if any (a push run's; writes still go at once).</summary>
    public TableReadScope? Reads => reads.Value;

    /// <summary>Opens a read scope for the calling flow until it is disposed (synchronous, as <see cref="Begin"/>).</summary>
    public TableReadScope BeginReads()
    {
        if (reads.Value is not null)
        {
            throw new InvalidOperationException("A read scope is already open in this flow; dispose it first.");
        }

        var scope = new TableReadScope(() => reads.Value = null);
        reads.Value = scope;
        return scope;
    }

    IDisposable IReadScopes.Begin() => BeginReads();
}

/// <summary>
/// Ranges a push run read (a user's consent and links), kept for the run: what is written meanwhile is seen by the
/// next run, as the push already kept each user's consent for its run. Thread-safe: a run reads many customers at once.
/// Only ranges read through <see cref="TableRanges.ReadAsync"/> are kept; the push writes nothing they hold.
/// </summary>
internal sealed class TableReadScope(Action close) : IDisposable
{
    private readonly ConcurrentDictionary<(string Table, string Partition, string Prefix), TableEntity[]> ranges = new();

    public bool TryReadRange(TableClient table, string partition, string prefix, out IReadOnlyList<TableEntity> entities)
    {
        var found = ranges.TryGetValue((table.Name, partition, prefix), out var kept);
        entities = kept ?? [];
        return found;
    }

    public void RememberRange(TableClient table, string partition, string prefix, IReadOnlyList<TableEntity> entities) =>
        ranges[(table.Name, partition, prefix)] = [.. entities];

    public void Dispose()
    {
        close();
        ranges.Clear();
    }
}

/// <summary>
/// The writes of one batch, one per entity (a later write of the same entity is folded into the earlier one, as an
/// entity-group transaction allows one operation per entity), what the batch read, and the order in which tables are
/// flushed. Not thread-safe, and need not be: one flow settles its inputs one at a time.
/// </summary>
internal sealed class TableWriteBatch : IDisposable
{
    /// <summary>At most 100 operations per entity-group transaction; its payload may be up to 4 MiB, kept well under.</summary>
    private const int MaxActions = 100;

    private const long MaxPayloadBytes = 2 * 1024 * 1024;

    private readonly Action close;
    private readonly Dictionary<(string Table, string Partition, string Row), Write> writes = [];
    private readonly Dictionary<string, (TableClient Client, int Order)> tables = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Table, string Partition, string Row), TableEntity?> read = [];
    private readonly Dictionary<(string Table, string Partition, string From, string To), TableEntity[]> ranges = [];
    private readonly ConcurrentDictionary<string, byte> unsettled = new(StringComparer.Ordinal);
    private int groups;
    private bool flushing;

    internal TableWriteBatch(Action close) => this.close = close;

    /// <summary>How many entities wait to be written.</summary>
    public int Count => writes.Count;

    /// <summary>
    /// Entities that must not exist yet, written in one transaction together (an event's dedupe record and its outbox
    /// entry). When they do exist at the flush (written by an earlier input, or by another instance after this batch
    /// looked), they are left as they are, and <paramref name="conflicted"/> runs if given. <paramref name="unread"/>:
    /// the batch did not read the first entity before (<see cref="IsUnread"/>), so its absence is an assumption the
    /// flush checks.
    /// </summary>
    public void Insert(TableClient table, int flushOrder, IReadOnlyList<TableEntity> entities, Func<CancellationToken, Task>? conflicted = null, bool unread = false)
    {
        var group = ++groups;
        foreach (var entity in entities)
        {
            Put(table, flushOrder, new Write(WriteKind.Insert, Copy(entity), default, conflicted, group) { Unread = unread });
        }
    }

    /// <summary>Whether the batch holds an insert of this entity made without reading it first (see <see cref="Insert"/>).</summary>
    public bool IsUnread(TableClient table, string partition, string row) =>
        writes.TryGetValue((table.Name, partition, row), out var write) && write is { Kind: WriteKind.Insert, Unread: true };

    /// <summary>
    /// An input whose outcome the batch gave on an assumption the flush found false (an event inserted unread was
    /// stored before by another input): its host settles it again, at once, once the batch is flushed.
    /// </summary>
    public void Unsettle(string inputId) => unsettled.TryAdd(inputId, 0);

    /// <summary>The inputs to settle again after the flush (<see cref="Unsettle"/>).</summary>
    public IReadOnlySet<string> Unsettled => unsettled.Keys.ToHashSet(StringComparer.Ordinal);

    /// <summary>An entity written whole, whether it exists or not.</summary>
    public void Upsert(TableClient table, int flushOrder, TableEntity entity) =>
        Put(table, flushOrder, new Write(WriteKind.Upsert, Copy(entity), default, null, ++groups));

    /// <summary>Properties merged into an entity that exists; nothing when it does not (any more).</summary>
    public void Merge(TableClient table, int flushOrder, TableEntity properties) =>
        Put(table, flushOrder, new Write(WriteKind.Merge, Copy(properties), default, null, ++groups));

    /// <summary>An entity deleted, whether it exists or not.</summary>
    public void Delete(TableClient table, int flushOrder, string partition, string row) =>
        Put(table, flushOrder, new Write(WriteKind.Delete, new TableEntity(partition, row), default, null, ++groups));

    /// <summary>
    /// An entity replaced only if it is still the version read (<paramref name="etag"/>), or added only if it is still
    /// absent (<c>default</c>); otherwise <paramref name="conflicted"/> runs at the flush (a read-modify-write done
    /// again on what is stored then). Written over an entity this batch already holds, it keeps that write's condition.
    /// </summary>
    public void ReplaceIfUnchanged(TableClient table, int flushOrder, TableEntity entity, ETag etag, Func<CancellationToken, Task> conflicted) =>
        Put(table, flushOrder, new Write(etag == default ? WriteKind.Insert : WriteKind.Replace, Copy(entity), etag, conflicted, ++groups));

    /// <summary>
    /// What the batch knows of an entity without asking the table: true with the entity as the batch wrote it (null:
    /// deleted), or as the table held it when the batch read it (<see cref="Remember"/>) with the batch's writes
    /// applied; false when the table must be asked. An entity read from the table carries that read's ETag.
    /// </summary>
    public bool TryRead(TableClient table, string partition, string row, out TableEntity? entity)
    {
        entity = null;
        var key = (table.Name, partition, row);
        var written = writes.TryGetValue(key, out var write);
        if (written && write!.Kind != WriteKind.Merge)
        {
            entity = write.Kind == WriteKind.Delete ? null : Copy(write.Entity);
            return true;
        }

        if (!read.TryGetValue(key, out var stored))
        {
            return false;
        }

        entity = written ? Applied(write!, stored) : stored is null ? null : Copy(stored, withETag: true);
        return true;
    }

    /// <summary>
    /// Keeps what the table held (null: absent) for the rest of the batch: a user's, an order's or an event's state is
    /// read once per batch. What other instances write meanwhile is not seen until the next batch, as if every read
    /// had been made at the first; the push checks consent again on what is stored then.
    /// </summary>
    public void Remember(TableClient table, string partition, string row, TableEntity? stored) =>
        read[(table.Name, partition, row)] = stored is null ? null : Copy(stored, withETag: true);

    /// <summary>A partition's row range [<paramref name="from"/>, <paramref name="to"/>) as the batch read it before, with its writes applied.</summary>
    public bool TryReadRange(TableClient table, string partition, string from, string to, out IReadOnlyList<TableEntity> entities)
    {
        entities = [];
        if (!ranges.TryGetValue((table.Name, partition, from, to), out var stored))
        {
            return false;
        }

        entities = ApplyRange(table, partition, from, to, stored.Select(e => Copy(e, withETag: true)));
        return true;
    }

    /// <summary>Keeps a row range as the table held it for the rest of the batch (see <see cref="Remember"/>).</summary>
    public void RememberRange(TableClient table, string partition, string from, string to, IEnumerable<TableEntity> stored) =>
        ranges[(table.Name, partition, from, to)] = [.. stored.Select(e => Copy(e, withETag: true))];

    /// <summary>An entity as read from the table (null: absent), with the batch's writes of it applied.</summary>
    public TableEntity? Apply(TableClient table, string partition, string row, TableEntity? stored) =>
        writes.TryGetValue((table.Name, partition, row), out var write) ? Applied(write, stored) : stored;

    /// <summary>The entities of a partition's row range [<paramref name="from"/>, <paramref name="to"/>) as read, with the batch's writes applied.</summary>
    public IReadOnlyList<TableEntity> ApplyRange(TableClient table, string partition, string from, string to, IEnumerable<TableEntity> stored)
    {
        var rows = stored.ToDictionary(e => e.RowKey, StringComparer.Ordinal);
        foreach (var ((name, p, row), write) in writes)
        {
            if (name != table.Name || p != partition || string.CompareOrdinal(row, from) < 0 || string.CompareOrdinal(row, to) >= 0)
            {
                continue;
            }

            if (Applied(write, rows.GetValueOrDefault(row)) is { } entity)
            {
                rows[row] = entity;
            }
            else
            {
                rows.Remove(row);
            }
        }

        return [.. rows.Values.OrderBy(e => e.RowKey, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Sends every write: table by table in their flush order (so what a later table's rows refer to is stored first),
    /// each table's partitions side by side, up to 100 writes of a partition per entity-group transaction. A transaction
    /// refused because of one write's condition is sent again without that write's group, which is settled on its own
    /// by its kind. A transient failure throws and leaves the rest unflushed, for the transport to redeliver.
    /// </summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        // Whatever runs from here (a conflicted write's read-modify-write) writes at once, not into this batch.
        close();
        flushing = true;
        foreach (var (name, (client, _)) in tables.OrderBy(t => t.Value.Order))
        {
            var partitions = writes.Where(w => w.Key.Table == name).GroupBy(w => w.Key.Partition, StringComparer.Ordinal).ToArray();
            await Parallel.ForEachAsync(partitions, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (partition, ct) =>
            {
                foreach (var transaction in Transactions(partition.Select(w => w.Value)))
                {
                    await SubmitAsync(client, transaction, ct).ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
        }

        writes.Clear();
        tables.Clear();
        read.Clear();
        ranges.Clear();
    }

    public void Dispose()
    {
        close();
        writes.Clear();
        read.Clear();
        ranges.Clear();
    }

    private void Put(TableClient table, int flushOrder, Write incoming)
    {
        if (flushing)
        {
            throw new InvalidOperationException("This write-behind batch was flushed; open another.");
        }

        tables.TryAdd(table.Name, (table, flushOrder));
        var key = (table.Name, incoming.Entity.PartitionKey, incoming.Entity.RowKey);
        writes[key] = writes.TryGetValue(key, out var existing) ? Folded(existing, incoming) : incoming;
    }

    /// <summary>Two writes of one entity as one: what the table would hold after both, under the first one's condition.</summary>
    private static Write Folded(Write first, Write then) => (first.Kind, then.Kind) switch
    {
        (_, WriteKind.Delete) => then,
        (WriteKind.Delete, WriteKind.Merge) => first, // merging into what is gone does nothing
        (WriteKind.Delete, _) => then with { Kind = WriteKind.Upsert, ETag = default },
        (_, WriteKind.Merge) => first with { Entity = Merged(first.Entity, then.Entity) },
        (WriteKind.Merge, _) => then,
        // Insert or Replace first keeps its condition (on what the table held before the batch); Upsert first stays an upsert.
        (WriteKind.Insert or WriteKind.Replace, _) => first with { Entity = then.Entity, Conflicted = Chained(first.Conflicted, then.Conflicted) },
        _ => then with { Kind = WriteKind.Upsert, ETag = default, Conflicted = null },
    };

    /// <summary>Both read-modify-writes, in their order: each done again on what is stored, as they were done on the batch.</summary>
    private static Func<CancellationToken, Task>? Chained(Func<CancellationToken, Task>? first, Func<CancellationToken, Task>? then) =>
        first is null || then is null ? then ?? first : async ct =>
        {
            await first(ct).ConfigureAwait(false);
            await then(ct).ConfigureAwait(false);
        };

    private static TableEntity? Applied(Write write, TableEntity? stored) => write.Kind switch
    {
        WriteKind.Delete => null,
        WriteKind.Merge => stored is null ? null : Merged(stored, write.Entity),
        _ => Copy(write.Entity),
    };

    private static TableEntity Merged(TableEntity into, TableEntity properties)
    {
        var merged = Copy(into);
        foreach (var (name, value) in properties)
        {
            if (name is not ("PartitionKey" or "RowKey" or "odata.etag" or "Timestamp"))
            {
                merged[name] = value;
            }
        }

        return merged;
    }

    private static TableEntity Copy(TableEntity entity, bool withETag = false)
    {
        var copy = new TableEntity(entity.PartitionKey, entity.RowKey);
        foreach (var (name, value) in entity)
        {
            if (name is not ("PartitionKey" or "RowKey" or "odata.etag" or "Timestamp"))
            {
                copy[name] = value;
            }
        }

        if (withETag)
        {
            copy.ETag = entity.ETag;
        }

        return copy;
    }

    /// <summary>A partition's writes in transactions of at most 100 and about 2 MiB, a group's writes never split.</summary>
    private static IEnumerable<IReadOnlyList<Write>> Transactions(IEnumerable<Write> partition)
    {
        var transaction = new List<Write>();
        long bytes = 0;
        foreach (var group in partition.GroupBy(w => w.Group))
        {
            var size = group.Sum(w => Size(w.Entity));
            if (transaction.Count > 0 && (transaction.Count + group.Count() > MaxActions || bytes + size > MaxPayloadBytes))
            {
                yield return transaction;
                transaction = [];
                bytes = 0;
            }

            transaction.AddRange(group);
            bytes += size;
        }

        if (transaction.Count > 0)
        {
            yield return transaction;
        }
    }

    /// <summary>An estimate of an entity's size in a transaction's body (binary goes as base64, text as UTF-8 JSON).</summary>
    private static long Size(TableEntity entity) =>
        256 + entity.Sum(p => (long)p.Key.Length + 16 + p.Value switch
        {
            byte[] binary => binary.Length * 4L / 3,
            string text => text.Length * 2L,
            _ => 32,
        });

    private static async Task SubmitAsync(TableClient table, IReadOnlyList<Write> transaction, CancellationToken cancellationToken)
    {
        var remaining = transaction.ToList();
        while (remaining.Count > 0)
        {
            try
            {
                await table.SubmitTransactionAsync(remaining.Select(Action), cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (TableTransactionFailedException ex) when (ex.Status is 404 or 409 or 412)
            {
                // One write's condition failed (an entity added or changed by another instance since this batch read
                // it, or a merge into one deleted meanwhile), and with it the whole transaction: that write's group is
                // settled on its own and the rest sent again together; each group on its own when the service did
                // not say which write failed.
                if (ex.FailedTransactionActionIndex is not { } index || index < 0 || index >= remaining.Count)
                {
                    foreach (var group in remaining.GroupBy(w => w.Group))
                    {
                        await SubmitAloneAsync(table, [.. group], cancellationToken).ConfigureAwait(false);
                    }

                    return;
                }

                var failed = remaining[index].Group;
                var failedGroup = remaining.Where(w => w.Group == failed).ToArray();
                if (ex.Status == 409 && remaining[index] is { Kind: WriteKind.Insert } insert && ReferenceEquals(insert, failedGroup[0]))
                {
                    // The group's first entity (an event's dedupe record) exists: sent alone it would fail the same way.
                    await ConflictedAsync(failedGroup, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await SubmitAloneAsync(table, failedGroup, cancellationToken).ConfigureAwait(false);
                }

                remaining.RemoveAll(w => w.Group == failed);
            }
        }
    }

    private static async Task SubmitAloneAsync(TableClient table, IReadOnlyList<Write> group, CancellationToken cancellationToken)
    {
        try
        {
            await table.SubmitTransactionAsync(group.Select(Action), cancellationToken).ConfigureAwait(false);
        }
        catch (TableTransactionFailedException ex) when (ex.Status is 404 or 409 or 412)
        {
            await ConflictedAsync(group, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task ConflictedAsync(IReadOnlyList<Write> group, CancellationToken cancellationToken)
    {
        if (group[0].Conflicted is { } conflicted)
        {
            await conflicted(cancellationToken).ConfigureAwait(false); // done again, or checked, on what is stored now
        }

        // Otherwise: inserts found their entities there (written by a redelivery or another instance: the same
        // content, by id), or a merge found its entity deleted. Nothing is missing.
    }

    private static TableTransactionAction Action(Write write) => write.Kind switch
    {
        WriteKind.Insert => new TableTransactionAction(TableTransactionActionType.Add, write.Entity),
        WriteKind.Upsert => new TableTransactionAction(TableTransactionActionType.UpsertReplace, write.Entity),
        WriteKind.Merge => new TableTransactionAction(TableTransactionActionType.UpdateMerge, write.Entity, ETag.All),
        WriteKind.Replace => new TableTransactionAction(TableTransactionActionType.UpdateReplace, write.Entity, write.ETag),
        _ => new TableTransactionAction(TableTransactionActionType.Delete, write.Entity, ETag.All),
    };

    private enum WriteKind
    {
        Insert,
        Upsert,
        Merge,
        Replace,
        Delete,
    }

    private sealed record Write(WriteKind Kind, TableEntity Entity, ETag ETag, Func<CancellationToken, Task>? Conflicted, int Group)
    {
        /// <summary>An insert made without reading the entity first: its absence is checked by the flush.</summary>
        public bool Unread { get; init; }
    }
}
