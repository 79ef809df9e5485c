using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using CtMparticle.Configuration;
using CtMparticle.Consent;
using CtMparticle.Tracking;
using Microsoft.Extensions.Options;

namespace CtMparticle.Storage.Azure;

/// <summary>
/// Consent per user on Azure Tables. Merges are read-modify-write with optimistic concurrency (ETag), retried on
/// conflict, so two instances learning consent for the same user at once both land. Inside a
/// <see cref="TableWriteBatch"/> a merge reads the batch's own state of the user first and its write waits for the
/// flush, under the same condition: should the stored state have changed by then, the merge is done again on it.
/// </summary>
internal sealed class TableConsentStore(TableClient table, IOptions<RelayOptions> options, TimeProvider time, TableWriteBehind? writeBehind = null)
    : IConsentStore, ICheckpointStore
{
    private const int MaxAttempts = 8;

    public async Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken)
    {
        var (partition, rowKey) = Key(userKey);
        var batch = writeBehind?.Current;
        if (batch is not null && batch.TryRead(table, partition, rowKey, out var known))
        {
            return known is null ? null : Read(known);
        }

        var response = await table.GetEntityIfExistsAsync<TableEntity>(partition, rowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        batch?.Remember(table, partition, rowKey, response.HasValue ? response.Value : null);
        return response.HasValue ? Read(response.Value!) : null;
    }

    public async Task<UserConsent> MergeAsync(string userKey, ConsentSnapshot? consent, Region? region, CancellationToken cancellationToken)
    {
        var (partition, rowKey) = Key(userKey);
        if (writeBehind?.Current is { } batch)
        {
            return await MergeLaterAsync(batch, userKey, partition, rowKey, consent, region, cancellationToken).ConfigureAwait(false);
        }

        for (var attempt = 1; ; attempt++)
        {
            var response = await table.GetEntityIfExistsAsync<TableEntity>(partition, rowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
            var existing = response.HasValue ? Read(response.Value!) : null;
            var merged = Merged(existing, consent, region);
            var entity = Write(partition, rowKey, merged);
            try
            {
                if (response.HasValue)
                {
                    await table.UpdateEntityAsync(entity, response.Value!.ETag, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await table.AddEntityAsync(entity, cancellationToken).ConfigureAwait(false);
                }

                return merged;
            }
            catch (RequestFailedException ex) when (ex.Status is 409 or 412 && attempt < MaxAttempts)
            {
                // Someone else changed it between our read and write: read again and merge again.
            }
        }
    }

    private async Task<UserConsent> MergeLaterAsync(
        TableWriteBatch batch, string userKey, string partition, string rowKey, ConsentSnapshot? consent, Region? region, CancellationToken cancellationToken)
    {
        // As the batch wrote it (its write keeps the condition of its first read), as the batch read it, or as stored now;
        // the write is conditional on the version read (default: on its absence).
        if (!batch.TryRead(table, partition, rowKey, out var known))
        {
            var response = await table.GetEntityIfExistsAsync<TableEntity>(partition, rowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
            known = response.HasValue ? response.Value : null;
        }

        var merged = Merged(known is null ? null : Read(known), consent, region);
        var etag = known?.ETag ?? default;
        batch.ReplaceIfUnchanged(table, TableWriteBehind.ConsentOrder, Write(partition, rowKey, merged), etag,
            ct => MergeAsync(userKey, consent, region, ct));
        return merged;
    }

    /// <summary>What is stored after learning <paramref name="consent"/> and <paramref name="region"/>: per purpose the newest, the region given or kept.</summary>
    private UserConsent Merged(UserConsent? existing, ConsentSnapshot? consent, Region? region) =>
        new(ConsentMerge.Newest(existing?.Consent, consent) ?? ConsentSnapshot.Empty, region ?? existing?.Region, time.GetUtcNow());

    public async Task<int> PurgeConsentOlderThanAsync(DateTimeOffset cutoff, Func<UserConsent, bool> keep, CancellationToken cancellationToken)
    {
        // Users' states live in c### partitions; the job checkpoints ("checkpoint") sort after them and are never read here.
        var filter = TableClient.CreateQueryFilter($"PartitionKey ge {"c0"} and PartitionKey lt {"c:"} and UpdatedAt lt {cutoff}");
        var purged = 0;
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (!keep(Read(entity)))
            {
                await table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, entity.ETag, cancellationToken).ConfigureAwait(false);
                purged++;
            }
        }

        return purged;
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
        ["UpdatedAt"] = state.UpdatedAt,
    };

    private static UserConsent Read(TableEntity entity)
    {
        var consent = entity.GetString("Consent") is { } json
            ? JsonSerializer.Deserialize(json, RelayJsonContext.Default.ConsentSnapshot) ?? ConsentSnapshot.Empty
            : ConsentSnapshot.Empty;
        var region = entity.GetString("Country") is { } country ? RegionColumns.Read(country, entity.GetString("State")) : null;
        return new UserConsent(consent, region, entity.GetDateTimeOffset("UpdatedAt") ?? DateTimeOffset.MinValue);
    }
}
