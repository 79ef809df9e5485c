using System.Globalization;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using CtMparticle.Configuration;
using CtMparticle.Tracking;
using Microsoft.Extensions.Options;

namespace CtMparticle.Storage.Azure;

/// <summary>
/// The dedupe table and the outbox on Azure Tables, in one table. Each event lives in the partition its id hashes
/// to, as two rows written in one entity-group transaction: <c>seen|{id}</c> (the dedupe record, kept for the
/// retention) and <c>pending|{ticks}|{id}</c> (the outbox entry, deleted once sent). The transaction fails as a
/// whole when the id was seen, so "seen" is never recorded without the event being stored.
/// In-flight requests live in partition <c>inflight</c>. An event quarantined at push is parked as
/// <c>parked|{id}</c> in its partition (the pending row moved, in one transaction) until a replay restores it or the
/// quarantine retention ends.
/// Inside a <see cref="TableWriteBatch"/> an event the batch does not know is taken as new without a read, and its rows
/// are written at the batch's flush, after the batch's consent, order contexts and links; the flush finds out whether
/// it was (<see cref="AddLaterAsync"/>).
/// </summary>
internal sealed class TableEventStore(TableClient table, IOptions<RelayOptions> options, TimeProvider time, TableWriteBehind? writeBehind = null) : IEventStore
{
    private const string Seen = "seen|";
    private const string Pending = "pending|";
    private const string Parked = "parked|";
    private const string ParkedAt = "ParkedAt";
    private const string EnqueuedAt = "EnqueuedAt";

    /// <summary>On a seen row: the row key of the event's outbox entry, so it can be found without a scan.</summary>
    private const string PendingKey = "PendingRowKey";
    private const string InFlightPartition = "inflight";
    private const string Payload = "Payload";

    /// <summary>When a pending row is due; later than its enqueue time while it is held for consent.</summary>
    private const string NotBefore = "NotBefore";

    private int PartitionCount => options.Value.Partitions;

    public async Task<AddResult> TryAddAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken)
    {
        var id = trackingEvent.Context.EventId;
        var partition = Partitions.Name("e", Partitions.Of(id, PartitionCount));
        var now = time.GetUtcNow();
        var seen = new TableEntity(partition, Seen + id.ToString("N"))
        {
            ["MessageId"] = messageId,
            ["DedupeKey"] = trackingEvent.Context.DedupeKey,
            ["SeenAt"] = now,
            [PendingKey] = PendingRowKey(now, id),
        };
        var pending = new TableEntity(partition, PendingRowKey(now, id))
        {
            ["MessageId"] = messageId,
            [NotBefore] = now,
        };
        Chunks.Write(pending, Payload, JsonSerializer.SerializeToUtf8Bytes(trackingEvent, RelayJsonContext.Default.TrackingEvent));
        if (writeBehind?.Current is { } batch)
        {
            return await AddLaterAsync(batch, [seen, pending], messageId, withheld: false, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await table.SubmitTransactionAsync(
                [new TableTransactionAction(TableTransactionActionType.Add, seen), new TableTransactionAction(TableTransactionActionType.Add, pending)],
                cancellationToken).ConfigureAwait(false);
            return AddResult.Added;
        }
        catch (TableTransactionFailedException ex) when (ex.Status == 409)
        {
            if (messageId is null)
            {
                return AddResult.Duplicate;
            }

            // Stored before by this message (a redelivery after a crash); an event it withheld was never stored.
            var existing = await table.GetEntityIfExistsAsync<TableEntity>(partition, seen.RowKey, ["MessageId", "Withheld"], cancellationToken).ConfigureAwait(false);
            return existing.HasValue ? AddedBefore(existing.Value!, messageId, withheld: false) : AddResult.Duplicate;
        }
    }

    /// <summary>
    /// An event seen before counts as added by this message only when this message recorded it (a redelivery after a
    /// crash), and as the same fate: stored, or withheld.
    /// </summary>
    private static AddResult AddedBefore(TableEntity seen, string messageId, bool withheld) =>
        seen.GetString("MessageId") == messageId && (seen.GetBoolean("Withheld") == true) == withheld ? AddResult.AddedBefore : AddResult.Duplicate;

    /// <summary>
    /// Inside a batch. An event the batch knows (it wrote or read its dedupe record) is answered from that record, as
    /// <see cref="TryAddAsync"/> answers a conflict. One it does not know is taken as new without a read, since an
    /// input's events almost always are: its rows go at the flush, which finds out whether the record existed after
    /// all. Stored before by the same input with the same fate (a redelivery) is the answer given; anything else
    /// (another input's event) leaves the input to be settled again after the flush (<see cref="TableWriteBatch.Unsettle"/>).
    /// </summary>
    private async Task<AddResult> AddLaterAsync(TableWriteBatch batch, TableEntity[] rows, string? messageId, bool withheld, CancellationToken cancellationToken)
    {
        var (partition, row) = (rows[0].PartitionKey, rows[0].RowKey);
        TableEntity? earlier;
        if (messageId is null || withheld)
        {
            // Looked up: with no input to settle again; or a withholding, on whose outcome the input writes more (the
            // consent it learnt goes as an update only when the withholding is new), which settling again could not take back.
            earlier = await SeenAsync(batch, partition, row, cancellationToken).ConfigureAwait(false);
        }
        else if (!batch.TryRead(table, partition, row, out earlier))
        {
            batch.Insert(table, TableWriteBehind.EventsOrder, rows, ct => CheckAsync(batch, partition, row, messageId, withheld, ct), unread: true);
            return AddResult.Added;
        }
        else if (earlier?.GetString("MessageId") != messageId && batch.IsUnread(table, partition, row))
        {
            // Another input of the batch took it as new: whether it was is known from the table alone.
            earlier = await SeenAsync(batch, partition, row, cancellationToken).ConfigureAwait(false);
        }

        if (earlier is null)
        {
            batch.Insert(table, TableWriteBehind.EventsOrder, rows, messageId is null ? null : ct => CheckAsync(batch, partition, row, messageId, withheld, ct));
            return AddResult.Added;
        }

        return messageId is null ? AddResult.Duplicate : AddedBefore(earlier, messageId, withheld);
    }

    /// <summary>
    /// At the flush, an event's rows found their dedupe record there: the outcome given (added) stands for a redelivery
    /// of the input that stored it with the same fate; otherwise the input is settled again.
    /// </summary>
    private async Task CheckAsync(TableWriteBatch batch, string partition, string row, string messageId, bool withheld, CancellationToken cancellationToken)
    {
        var stored = await table.GetEntityIfExistsAsync<TableEntity>(partition, row, ["MessageId", "Withheld"], cancellationToken).ConfigureAwait(false);
        if (!stored.HasValue || AddedBefore(stored.Value!, messageId, withheld) != AddResult.AddedBefore)
        {
            batch.Unsettle(messageId);
        }
    }

    /// <summary>
    /// The dedupe record of an event (null: never seen): as this batch wrote or read it, or as the table holds it. An
    /// insert the batch made unread is checked against the table, which wins when it holds the record.
    /// </summary>
    private async Task<TableEntity?> SeenAsync(TableWriteBatch batch, string partition, string row, CancellationToken cancellationToken)
    {
        var unread = batch.IsUnread(table, partition, row);
        if (batch.TryRead(table, partition, row, out var known) && !unread)
        {
            return known;
        }

        var stored = await table.GetEntityIfExistsAsync<TableEntity>(partition, row, [PendingKey, "MessageId", "Withheld"], cancellationToken).ConfigureAwait(false);
        batch.Remember(table, partition, row, stored.HasValue ? stored.Value : null);
        return stored.HasValue ? stored.Value : known;
    }

    public async Task<AddResult> WithholdAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken)
    {
        var id = trackingEvent.Context.EventId;
        var partition = Partitions.Name("e", Partitions.Of(id, PartitionCount));
        var seen = new TableEntity(partition, Seen + id.ToString("N"))
        {
            ["MessageId"] = messageId,
            ["DedupeKey"] = trackingEvent.Context.DedupeKey,
            ["SeenAt"] = time.GetUtcNow(),
            ["Withheld"] = true,
        };
        if (writeBehind?.Current is { } batch)
        {
            return await AddLaterAsync(batch, [seen], messageId, withheld: true, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await table.AddEntityAsync(seen, cancellationToken).ConfigureAwait(false);
            return AddResult.Added;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            if (messageId is null)
            {
                return AddResult.Duplicate;
            }

            // Only this message's own earlier withholding (a redelivery after a crash) counts as done before.
            var existing = await table.GetEntityIfExistsAsync<TableEntity>(partition, seen.RowKey, ["MessageId", "Withheld"], cancellationToken).ConfigureAwait(false);
            return existing.HasValue ? AddedBefore(existing.Value!, messageId, withheld: true) : AddResult.Duplicate;
        }
    }

    public async Task<bool> ReplacePendingAsync(Guid eventId, Func<TrackingEvent, TrackingEvent?> replace, CancellationToken cancellationToken)
    {
        var partition = Partitions.Name("e", Partitions.Of(eventId, PartitionCount));
        var batch = writeBehind?.Current;
        var seen = batch is not null
            ? await SeenAsync(batch, partition, Seen + eventId.ToString("N"), cancellationToken).ConfigureAwait(false)
            : (await table.GetEntityIfExistsAsync<TableEntity>(partition, Seen + eventId.ToString("N"), [PendingKey], cancellationToken).ConfigureAwait(false)) is { HasValue: true } s ? s.Value : null;
        if (seen?.GetString(PendingKey) is not { } rowKey)
        {
            return false; // never stored, or stored before seen rows named their outbox entry
        }

        // Stored by this batch (not sent by anyone yet: replaced where it waits for the flush), or as the table holds it.
        var inBatch = false;
        TableEntity? pending;
        if (batch is not null && batch.TryRead(table, partition, rowKey, out var written))
        {
            (inBatch, pending) = (true, written);
        }
        else
        {
            var found = await table.GetEntityIfExistsAsync<TableEntity>(partition, rowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
            pending = found.HasValue ? found.Value : null;
        }

        if (pending is null
            || JsonSerializer.Deserialize(Chunks.Read(pending, Payload), RelayJsonContext.Default.TrackingEvent) is not { } stored
            || replace(stored) is not { } replacement)
        {
            return false;
        }

        var updated = new TableEntity(partition, rowKey) { ["MessageId"] = pending.GetString("MessageId"), [NotBefore] = time.GetUtcNow() };
        Chunks.Write(updated, Payload, JsonSerializer.SerializeToUtf8Bytes(replacement, RelayJsonContext.Default.TrackingEvent));
        if (inBatch)
        {
            batch!.Upsert(table, TableWriteBehind.EventsOrder, updated);
            return true;
        }

        try
        {
            // The ETag makes it a compare-and-swap: a push removing it meanwhile wins, and the replacement is not written.
            await table.UpdateEntityAsync(updated, pending.ETag, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 412)
        {
            return false;
        }
    }

    public async Task HoldPendingAsync(IReadOnlyCollection<PendingEventKey> events, DateTimeOffset until, CancellationToken cancellationToken)
    {
        foreach (var partition in events.GroupBy(e => e.Partition, StringComparer.Ordinal))
        {
            foreach (var chunk in partition.Chunk(100))
            {
                var actions = chunk.Select(k => new TableTransactionAction(TableTransactionActionType.UpdateMerge,
                    new TableEntity(k.Partition, PendingRowKey(k.EnqueuedAt, k.EventId)) { [NotBefore] = until }, ETag.All)).ToArray();
                try
                {
                    await table.SubmitTransactionAsync(actions, cancellationToken).ConfigureAwait(false);
                }
                catch (TableTransactionFailedException ex) when (ex.Status == 404)
                {
                    // One was sent or withdrawn meanwhile: hold the others one by one.
                    foreach (var action in actions)
                    {
                        try
                        {
                            await table.UpdateEntityAsync(action.Entity, ETag.All, TableUpdateMode.Merge, cancellationToken).ConfigureAwait(false);
                        }
                        catch (RequestFailedException gone) when (gone.Status == 404)
                        {
                            // Gone: nothing to hold.
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Reads a fair share of <paramref name="max"/> from each partition (oldest first within it), then tops up from the
    /// partitions that had more while the total is short: never more than about <paramref name="max"/> entities with
    /// payloads per run, however large the backlog (reading <paramref name="max"/> from every partition loaded
    /// partitions × max entities and stalled the drain after an outage).
    /// </summary>
    public async Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken)
    {
        max = Math.Max(1, max);
        var share = (max + PartitionCount - 1) / PartitionCount;
        var now = time.GetUtcNow();
        var all = new List<PendingEvent>(max);
        var fuller = new List<(string Partition, string LastRowKey)>();
        for (var shard = 0; shard < PartitionCount && all.Count < max; shard++)
        {
            var partition = Partitions.Name("e", shard);
            var (read, last) = await ReadPartitionAsync(partition, Pending, Math.Min(share, max - all.Count), now, all, cancellationToken).ConfigureAwait(false);
            if (read == share && last is not null)
            {
                fuller.Add((partition, last));
            }
        }

        foreach (var (partition, last) in fuller)
        {
            if (all.Count >= max)
            {
                break;
            }

            await ReadPartitionAsync(partition, last + "\0", max - all.Count, now, all, cancellationToken).ConfigureAwait(false);
        }

        return all.OrderBy(p => p.EnqueuedAt).ThenBy(p => p.EventId).ToArray();
    }

    /// <summary>Up to <paramref name="take"/> due pending rows of one partition from <paramref name="fromRowKey"/> on; how many, and the last row key.</summary>
    private async Task<(int Read, string? LastRowKey)> ReadPartitionAsync(
        string partition, string fromRowKey, int take, DateTimeOffset now, List<PendingEvent> into, CancellationToken cancellationToken)
    {
        if (take <= 0)
        {
            return (0, null);
        }

        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition} and RowKey ge {fromRowKey} and RowKey lt {"pending}"} and NotBefore le {now}");
        var read = 0;
        string? last = null;
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, maxPerPage: Math.Min(1000, take), cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            var (enqueuedAt, eventId) = ParsePendingRowKey(entity.RowKey);
            into.Add(new PendingEvent(partition, eventId, enqueuedAt, entity.GetString("MessageId"), Chunks.Read(entity, Payload)));
            last = entity.RowKey;
            if (++read >= take)
            {
                break;
            }
        }

        return (read, last);
    }

    public async Task RemovePendingAsync(IReadOnlyCollection<PendingEventKey> events, EventFate fate, CancellationToken cancellationToken)
    {
        if (fate == EventFate.Quarantined)
        {
            foreach (var key in events)
            {
                await ParkAsync(key, cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        foreach (var partition in events.GroupBy(e => e.Partition, StringComparer.Ordinal))
        {
            foreach (var chunk in partition.Chunk(100))
            {
                var actions = chunk.Select(k => new TableTransactionAction(TableTransactionActionType.Delete,
                    new TableEntity(k.Partition, PendingRowKey(k.EnqueuedAt, k.EventId)), ETag.All)).ToArray();
                try
                {
                    await table.SubmitTransactionAsync(actions, cancellationToken).ConfigureAwait(false);
                }
                catch (TableTransactionFailedException ex) when (ex.Status == 404)
                {
                    // One of them was removed already (a resend after a crash): remove the rest one by one.
                    foreach (var action in actions)
                    {
                        await DeleteIfExistsAsync(action.Entity.PartitionKey, action.Entity.RowKey, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
        }
    }

    /// <summary>Moves one pending row to <c>parked|{id}</c> in one transaction; a row already moved is left alone.</summary>
    private async Task ParkAsync(PendingEventKey key, CancellationToken cancellationToken)
    {
        var rowKey = PendingRowKey(key.EnqueuedAt, key.EventId);
        var pending = await table.GetEntityIfExistsAsync<TableEntity>(key.Partition, rowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!pending.HasValue || pending.Value is not { } row)
        {
            return;
        }

        var parked = new TableEntity(key.Partition, Parked + key.EventId.ToString("N"))
        {
            ["MessageId"] = row.GetString("MessageId"),
            [EnqueuedAt] = key.EnqueuedAt.UtcTicks,
            [ParkedAt] = time.GetUtcNow(),
        };
        Chunks.Write(parked, Payload, Chunks.Read(row, Payload));
        await table.SubmitTransactionAsync(
            [new TableTransactionAction(TableTransactionActionType.UpsertReplace, parked), new TableTransactionAction(TableTransactionActionType.Delete, row, ETag.All)],
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<int> RestoreParkedAsync(IReadOnlyCollection<Guid> eventIds, CancellationToken cancellationToken)
    {
        var restored = 0;
        foreach (var id in eventIds.Distinct())
        {
            var partition = Partitions.Name("e", Partitions.Of(id, PartitionCount));
            var found = await table.GetEntityIfExistsAsync<TableEntity>(partition, Parked + id.ToString("N"), cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!found.HasValue || found.Value is not { } parked)
            {
                continue;
            }

            var enqueuedAt = new DateTimeOffset(parked.GetInt64(EnqueuedAt) ?? 0, TimeSpan.Zero);
            var pending = new TableEntity(partition, PendingRowKey(enqueuedAt, id))
            {
                ["MessageId"] = parked.GetString("MessageId"),
                [NotBefore] = enqueuedAt,
            };
            Chunks.Write(pending, Payload, Chunks.Read(parked, Payload));
            await table.SubmitTransactionAsync(
                [new TableTransactionAction(TableTransactionActionType.UpsertReplace, pending), new TableTransactionAction(TableTransactionActionType.Delete, parked, ETag.All)],
                cancellationToken).ConfigureAwait(false);
            restored++;
        }

        return restored;
    }

    public async Task<int> PurgeParkedAsync(DateTimeOffset olderThan, CancellationToken cancellationToken)
    {
        var purged = 0;
        for (var shard = 0; shard < PartitionCount; shard++)
        {
            var partition = Partitions.Name("e", shard);
            var keys = await RowKeysAsync(TableClient.CreateQueryFilter(
                $"PartitionKey eq {partition} and RowKey ge {Parked} and RowKey lt {"parked}"} and ParkedAt lt {olderThan}"), cancellationToken).ConfigureAwait(false);
            purged += await DeleteRowsAsync(partition, keys, cancellationToken).ConfigureAwait(false);
        }

        return purged;
    }

    public async Task SaveInFlightAsync(InFlightRequest request, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(InFlightPartition, request.RequestId)
        {
            ["InputName"] = request.InputName,
            ["CreatedAt"] = request.CreatedAt,
        };
        Chunks.Write(entity, "Body", request.Body);
        Chunks.Write(entity, "Batches", JsonSerializer.SerializeToUtf8Bytes(request.Batches.ToList(), RelayJsonContext.Default.ListInFlightBatch));
        await table.UpsertEntityAsync(entity, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<InFlightRequest>> ReadInFlightAsync(CancellationToken cancellationToken)
    {
        var requests = new List<InFlightRequest>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {InFlightPartition}");
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            var batches = JsonSerializer.Deserialize(Chunks.Read(entity, "Batches"), RelayJsonContext.Default.ListInFlightBatch) ?? [];
            requests.Add(new InFlightRequest(entity.RowKey, entity.GetString("InputName") ?? "", Chunks.Read(entity, "Body"), batches,
                entity.GetDateTimeOffset("CreatedAt") ?? DateTimeOffset.MinValue));
        }

        return requests;
    }

    public Task DeleteInFlightAsync(string requestId, CancellationToken cancellationToken) =>
        DeleteIfExistsAsync(InFlightPartition, requestId, cancellationToken);

    public async Task<PendingStats> PendingStatsAsync(CancellationToken cancellationToken)
    {
        long count = 0, held = 0;
        var now = time.GetUtcNow();
        DateTimeOffset? oldest = null;
        for (var shard = 0; shard < PartitionCount; shard++)
        {
            var partition = Partitions.Name("e", shard);
            var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition} and RowKey ge {Pending} and RowKey lt {"pending}"}");
            await foreach (var entity in table.QueryAsync<TableEntity>(filter, select: ["RowKey", NotBefore], cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                count++;
                held += entity.GetDateTimeOffset(NotBefore) > now ? 1 : 0;
                var (at, _) = ParsePendingRowKey(entity.RowKey);
                if (oldest is null || at < oldest)
                {
                    oldest = at;
                }
            }
        }

        return new PendingStats(count, oldest, held);
    }

    public async Task<int> PurgeSeenAsync(DateTimeOffset olderThan, CancellationToken cancellationToken)
    {
        var purged = 0;
        for (var shard = 0; shard < PartitionCount; shard++)
        {
            var partition = Partitions.Name("e", shard);
            var keys = await RowKeysAsync(TableClient.CreateQueryFilter(
                $"PartitionKey eq {partition} and RowKey ge {Seen} and RowKey lt {"seen}"} and SeenAt lt {olderThan}"), cancellationToken).ConfigureAwait(false);

            if (keys.Count > 0)
            {
                // An event still in the outbox or parked keeps its dedupe record, however old: forgetting it would let a copy in.
                // "parked|" and "pending|" are adjacent key ranges, read in one query.
                var stillPending = new HashSet<string>(StringComparer.Ordinal);
                var pendingFilter = TableClient.CreateQueryFilter($"PartitionKey eq {partition} and RowKey ge {Parked} and RowKey lt {"pending}"}");
                await foreach (var entity in table.QueryAsync<TableEntity>(pendingFilter, select: ["RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    if (entity.RowKey.StartsWith(Parked, StringComparison.Ordinal))
                    {
                        stillPending.Add(Seen + entity.RowKey[Parked.Length..]);
                    }
                    else if (entity.RowKey.StartsWith(Pending, StringComparison.Ordinal))
                    {
                        stillPending.Add(Seen + ParsePendingRowKey(entity.RowKey).EventId.ToString("N"));
                    }
                }

                keys.RemoveAll(stillPending.Contains);
            }

            purged += await DeleteRowsAsync(partition, keys, cancellationToken).ConfigureAwait(false);
        }

        return purged;
    }

    private async Task<List<string>> RowKeysAsync(string filter, CancellationToken cancellationToken)
    {
        var keys = new List<string>();
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, select: ["RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            keys.Add(entity.RowKey);
        }

        return keys;
    }

    /// <summary>Deletes rows of one partition, 100 per entity-group transaction; returns how many.</summary>
    private async Task<int> DeleteRowsAsync(string partition, IReadOnlyList<string> rowKeys, CancellationToken cancellationToken)
    {
        foreach (var chunk in rowKeys.Chunk(100))
        {
            await table.SubmitTransactionAsync(
                chunk.Select(k => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(partition, k), ETag.All)),
                cancellationToken).ConfigureAwait(false);
        }

        return rowKeys.Count;
    }

    private async Task DeleteIfExistsAsync(string partition, string rowKey, CancellationToken cancellationToken)
    {
        try
        {
            await table.DeleteEntityAsync(partition, rowKey, ETag.All, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // Already gone: deleting is idempotent.
        }
    }

    // The enqueue time is read back from the row key itself, so the key rebuilt for deletion is exact
    // (a DateTime property may come back with less precision than it was written with).
    private static string PendingRowKey(DateTimeOffset enqueuedAt, Guid id) =>
        string.Create(CultureInfo.InvariantCulture, $"{Pending}{enqueuedAt.UtcTicks:D19}|{id:N}");

    private static (DateTimeOffset EnqueuedAt, Guid EventId) ParsePendingRowKey(string rowKey)
    {
        var ticks = long.Parse(rowKey.AsSpan(Pending.Length, 19), NumberStyles.None, CultureInfo.InvariantCulture);
        var id = Guid.ParseExact(rowKey.AsSpan(Pending.Length + 20), "N");
        return (new DateTimeOffset(ticks, TimeSpan.Zero), id);
    }
}
