using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using CtMparticle.Configuration;
using CtMparticle.Consent;
using CtMparticle.Tracking;
using Microsoft.Extensions.Options;

namespace CtMparticle.Storage.Azure;

/// <summary>
/// Consent per user on Azure Tables. A user's state lives in the links table, in the range of their user key beside
/// its links (<see cref="UserRows"/>: a customer's own range, an anonymous user's or an e-mail's identifier's; one range
/// read gives the consent gate and link capture or identity resolution what they need); the consent table keeps the
/// job checkpoints. Merges are read-modify-write with optimistic concurrency (ETag), retried on conflict, so two
/// instances learning consent for the same user at once both land. Inside a <see cref="TableWriteBatch"/> a merge reads
/// the batch's own state of the user first and its write waits for the flush, under the same condition: should the
/// stored state have changed by then, the merge is done again on it.
/// </summary>
/// <remarks>
/// Versions before the move kept users' states in the consent table (<c>c{n}</c> partitions). Until
/// <see cref="UpgradeAsync"/> has moved them (at start) and recorded so, a state is read from both places and merged
/// (per purpose the newest), and written to the new one, so nothing learnt before the upgrade is missed meanwhile.
/// </remarks>
internal sealed class TableConsentStore(TableClient table, TableClient links, IOptions<RelayOptions> options, TimeProvider time, TableWriteBehind? writeBehind = null)
    : IConsentStore, ICheckpointStore, IStoreUpgrade
{
    private const int MaxAttempts = 8;

    /// <summary>The checkpoint recording that no user's state is left in the consent table.</summary>
    public const string LayoutCheckpoint = "layout:consent";

    private const string BesideLinks = "beside-links", InConsentTable = "in-consent-table";

    /// <summary>How often a store that still reads both places asks whether another instance has finished the move.</summary>
    private static readonly TimeSpan RecheckMoved = TimeSpan.FromMinutes(5);

    private volatile bool moved;
    private long movedCheckedAt = long.MinValue;

    public async Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken) =>
        (await ReadAsync(userKey, toWrite: false, cancellationToken).ConfigureAwait(false)).State;

    public async Task<UserConsent> MergeAsync(string userKey, ConsentSnapshot? consent, StatedRegion? region, CancellationToken cancellationToken)
    {
        if (writeBehind?.Current is { } batch)
        {
            var known = await ReadAsync(userKey, toWrite: false, cancellationToken).ConfigureAwait(false);
            var later = Merged(known.State, consent, region);
            // The write is conditional on the version read (default: on its absence); written over one the batch holds,
            // it keeps that write's condition.
            batch.ReplaceIfUnchanged(known.Table, known.Table == links ? TableWriteBehind.LinksOrder : TableWriteBehind.ConsentOrder,
                Write(known.Partition, known.Row, later), known.Stored?.ETag ?? default, ct => MergeAsync(userKey, consent, region, ct));
            return later;
        }

        for (var attempt = 1; ; attempt++)
        {
            var known = await ReadAsync(userKey, toWrite: true, cancellationToken).ConfigureAwait(false);
            var merged = Merged(known.State, consent, region);
            try
            {
                await WriteAsync(known, merged, cancellationToken).ConfigureAwait(false);
                return merged;
            }
            catch (RequestFailedException ex) when (ex.Status is 409 or 412 && attempt < MaxAttempts)
            {
                // Someone else changed it between our read and write: read again and merge again.
            }
        }
    }

    /// <summary>
    /// A user's state and where it is written: from the range of their user key in the links table (read once per batch
    /// or push run), merged with what the consent table still holds for them until the move is recorded; a key of no
    /// known kind from the consent table (once per batch).
    /// </summary>
    private async Task<Known> ReadAsync(string userKey, bool toWrite, CancellationToken cancellationToken)
    {
        var (partition, rowKey) = Key(userKey);
        if (UserRows.Of(userKey, options.Value.Partitions) is not var (userPartition, prefix))
        {
            var stored = await PointAsync(table, partition, rowKey, cancellationToken).ConfigureAwait(false);
            return new Known(table, partition, rowKey, stored, stored is null ? null : Read(stored));
        }

        var range = await TableRanges.ReadAsync(links, userPartition, prefix, writeBehind, toWrite, cancellationToken).ConfigureAwait(false);
        var beside = range.FirstOrDefault(e => e.RowKey == prefix);
        var state = beside is null ? null : Read(beside);
        if (!await MovedAsync(cancellationToken).ConfigureAwait(false))
        {
            var before = await PointAsync(table, partition, rowKey, cancellationToken).ConfigureAwait(false);
            state = Combined(state, before is null ? null : Read(before));
        }

        return new Known(links, userPartition, prefix, beside, state);
    }

    /// <summary>One entity, through the open write-behind batch (read once per batch, its writes applied) when there is one.</summary>
    private async Task<TableEntity?> PointAsync(TableClient client, string partition, string rowKey, CancellationToken cancellationToken)
    {
        var batch = writeBehind?.Current;
        if (batch is not null && batch.TryRead(client, partition, rowKey, out var known))
        {
            return known;
        }

        var response = await client.GetEntityIfExistsAsync<TableEntity>(partition, rowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        var stored = response.HasValue ? response.Value : null;
        batch?.Remember(client, partition, rowKey, stored);
        return stored;
    }

    private static Task WriteAsync(Known known, UserConsent state, CancellationToken cancellationToken) =>
        known.Stored is { } stored
            ? known.Table.UpdateEntityAsync(Write(known.Partition, known.Row, state), stored.ETag, TableUpdateMode.Replace, cancellationToken)
            : known.Table.AddEntityAsync(Write(known.Partition, known.Row, state), cancellationToken);

    /// <summary>A user's state as kept before the move and as kept beside their links, as one: per purpose the newest.</summary>
    private static UserConsent? Combined(UserConsent? beside, UserConsent? before)
    {
        if (beside is null || before is null)
        {
            return beside ?? before;
        }

        var (newer, older) = beside.UpdatedAt >= before.UpdatedAt ? (beside, before) : (before, beside);
        return UserConsent.Merged(older, newer.Consent, newer.StatedRegion, newer.UpdatedAt);
    }

    /// <summary>Whether no user's state is left in the consent table (asked again now and then while some may be).</summary>
    private async Task<bool> MovedAsync(CancellationToken cancellationToken)
    {
        if (moved)
        {
            return true;
        }

        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref movedCheckedAt);
        if (last != long.MinValue && time.GetElapsedTime(last, now) < RecheckMoved)
        {
            return false;
        }

        Interlocked.Exchange(ref movedCheckedAt, now);
        moved = await CheckpointAsync(LayoutCheckpoint, cancellationToken).ConfigureAwait(false) == BesideLinks;
        return moved;
    }

    public string Upgrade => "users' consent states moved beside their identity links";

    /// <summary>
    /// Moves every user's state the consent table still holds (written by a version before the move) into the range of
    /// their user key in the links table, merged with what is there, deletes it from the consent table, and records that
    /// none is left. Idempotent, and safe beside instances ingesting meanwhile: they read both places until it is recorded.
    /// </summary>
    public async Task<int> UpgradeAsync(CancellationToken cancellationToken)
    {
        if (await MovedAsync(cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }

        // Up to 8 states at a time (each a few requests), as the query pages them in.
        var count = 0;
        var filter = TableClient.CreateQueryFilter($"PartitionKey ge {"c0"} and PartitionKey lt {"c:"}");
        await Parallel.ForEachAsync(table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken),
            new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (entity, ct) =>
            {
                if (RowKeys.Decode(entity.RowKey) is { } userKey && UserRows.Of(userKey, options.Value.Partitions) is not null)
                {
                    await MoveAsync(userKey, entity, ct).ConfigureAwait(false);
                    Interlocked.Increment(ref count);
                }
            }).ConfigureAwait(false);

        await SetAsync(LayoutCheckpoint, BesideLinks, cancellationToken).ConfigureAwait(false);
        moved = true;
        return count;
    }

    /// <summary>
    /// Moves every user's state back from the links table into the consent table, merged with what is there, where
    /// versions before the move look for it, and records that they are there (a later start of this version moves them
    /// again). For a rollback, with this version stopped.
    /// </summary>
    public async Task<int> DowngradeAsync(CancellationToken cancellationToken)
    {
        // Recorded first: a run stopped half-way leaves a store this version reads from both places (and moves again at
        // its next start), and the older version's missing states are moved back by running this again.
        await SetAsync(LayoutCheckpoint, InConsentTable, cancellationToken).ConfigureAwait(false);
        moved = false;
        var count = 0;
        await Parallel.ForEachAsync(StatesBesideLinks(null, cancellationToken),
            new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (entity, ct) =>
            {
                if (UserRows.UserKeyOf(entity) is { } userKey)
                {
                    await MoveBackAsync(userKey, entity, ct).ConfigureAwait(false);
                    Interlocked.Increment(ref count);
                }
            }).ConfigureAwait(false);

        return count;
    }

    /// <summary>The rows of users' ranges in the links table (customers' and identifiers'), with a filter if given: links and states.</summary>
    private async IAsyncEnumerable<TableEntity> StatesBesideLinks(string? filter, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var (from, to) in new[] { ("i", "j"), ("k", "l") })
        {
            var range = TableClient.CreateQueryFilter($"PartitionKey ge {from} and PartitionKey lt {to}");
            await foreach (var entity in links.QueryAsync<TableEntity>(filter is null ? range : $"{range} and {filter}", cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                yield return entity;
            }
        }
    }

    private Task MoveBackAsync(string userKey, TableEntity beside, CancellationToken cancellationToken)
    {
        var (partition, rowKey) = Key(userKey);
        return MoveStateAsync(links, beside, async ct =>
        {
            var response = await table.GetEntityIfExistsAsync<TableEntity>(partition, rowKey, cancellationToken: ct).ConfigureAwait(false);
            var stored = response.HasValue ? response.Value : null;
            return new Known(table, partition, rowKey, stored, stored is null ? null : Read(stored));
        }, cancellationToken);
    }

    // ReadAsync merges what the consent table holds in while the move is not recorded.
    private Task MoveAsync(string userKey, TableEntity before, CancellationToken cancellationToken) =>
        MoveStateAsync(table, before, ct => ReadAsync(userKey, toWrite: true, ct), cancellationToken);

    /// <summary>
    /// Writes a state found in one place where <paramref name="target"/> reads it, merged with what is there, then
    /// deletes it where it was found; when either changed or went meanwhile, done again on what is there then (a state
    /// gone from where it was found was moved by another run).
    /// </summary>
    private static async Task MoveStateAsync(TableClient from, TableEntity found, Func<CancellationToken, Task<Known>> target, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var known = await target(cancellationToken).ConfigureAwait(false);
            try
            {
                await WriteAsync(known, Combined(Read(found), known.State)!, cancellationToken).ConfigureAwait(false);
                await from.DeleteEntityAsync(found.PartitionKey, found.RowKey, found.ETag, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (RequestFailedException ex) when (ex.Status is 404 or 409 or 412 && attempt < MaxAttempts)
            {
                var again = await from.GetEntityIfExistsAsync<TableEntity>(found.PartitionKey, found.RowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (!again.HasValue)
                {
                    return;
                }

                found = again.Value!;
            }
        }
    }

    /// <summary>What is stored after learning <paramref name="consent"/> and <paramref name="region"/>: per purpose the newest, and the newest region.</summary>
    private UserConsent Merged(UserConsent? existing, ConsentSnapshot? consent, StatedRegion? region) =>
        UserConsent.Merged(existing, consent, region, time.GetUtcNow());

    public async Task<int> PurgeConsentOlderThanAsync(DateTimeOffset cutoff, Func<UserConsent, bool> keep, CancellationToken cancellationToken)
    {
        // Users' states beside their links (link rows have no UpdatedAt), and what the consent table's c### partitions
        // still hold before the move (the job checkpoints, "checkpoint", sort after them and are never read here).
        var purged = 0;
        var older = TableClient.CreateQueryFilter($"UpdatedAt lt {cutoff}");
        await foreach (var entity in StatesBesideLinks(older, cancellationToken).ConfigureAwait(false))
        {
            purged += await PurgeAsync(links, entity).ConfigureAwait(false);
        }

        await foreach (var entity in table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey ge {"c0"} and PartitionKey lt {"c:"} and UpdatedAt lt {cutoff}"),
            cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            purged += await PurgeAsync(table, entity).ConfigureAwait(false);
        }

        return purged;

        async Task<int> PurgeAsync(TableClient client, TableEntity entity)
        {
            if (UserRows.IsLink(entity) || keep(Read(entity)))
            {
                return 0;
            }

            await client.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, entity.ETag, cancellationToken).ConfigureAwait(false);
            return 1;
        }
    }

    private async Task<string?> CheckpointAsync(string name, CancellationToken cancellationToken)
    {
        var response = await table.GetEntityIfExistsAsync<TableEntity>("checkpoint", RowKeys.Encode(name), cancellationToken: cancellationToken).ConfigureAwait(false);
        return response.HasValue ? response.Value!.GetString("Value") : null;
    }

    async Task<string?> ICheckpointStore.GetAsync(string name, CancellationToken cancellationToken) => await CheckpointAsync(name, cancellationToken).ConfigureAwait(false);

    public Task SetAsync(string name, string value, CancellationToken cancellationToken) =>
        table.UpsertEntityAsync(new TableEntity("checkpoint", RowKeys.Encode(name)) { ["Value"] = value }, TableUpdateMode.Replace, cancellationToken);

    private (string Partition, string RowKey) Key(string userKey) =>
        (Partitions.Name("c", Partitions.Of(userKey, options.Value.Partitions)), RowKeys.Encode(userKey));

    private static TableEntity Write(string partition, string rowKey, UserConsent state) => new(partition, rowKey)
    {
        ["Consent"] = JsonSerializer.Serialize(state.Consent, RelayJsonContext.Default.ConsentSnapshot),
        ["Country"] = state.Region?.Country,
        ["State"] = RegionColumns.State(state.Region),
        ["RegionAt"] = state.Region is null ? null : state.RegionAt,
        ["UpdatedAt"] = state.UpdatedAt,
    };

    /// <summary>Where a user's state is read and written, the entity there (with its ETag) and the state, as merged when read from both places.</summary>
    private sealed record Known(TableClient Table, string Partition, string Row, TableEntity? Stored, UserConsent? State);

    private static UserConsent Read(TableEntity entity)
    {
        var consent = entity.GetString("Consent") is { } json
            ? JsonSerializer.Deserialize(json, RelayJsonContext.Default.ConsentSnapshot) ?? ConsentSnapshot.Empty
            : ConsentSnapshot.Empty;
        var region = entity.GetString("Country") is { } country ? RegionColumns.Read(country, entity.GetString("State")) : null;
        return new UserConsent(consent, region, entity.GetDateTimeOffset("UpdatedAt") ?? DateTimeOffset.MinValue)
        {
            // Written before regions kept their time: the first region stated since replaces it.
            RegionAt = entity.GetDateTimeOffset("RegionAt") ?? DateTimeOffset.MinValue,
        };
    }
}
