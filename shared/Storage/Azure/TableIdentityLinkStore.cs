using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using CtMparticle.Configuration;
using Microsoft.Extensions.Options;

namespace CtMparticle.Storage.Azure;

/// <summary>
/// Identity links on Azure Tables, one row per side: under the customer (<c>k{n}</c> partitions, row
/// <c>{customer}|{type}|{value}</c>) and under the identifier (<c>i{n}</c>, row <c>{type}|{value}|{customer}</c>), each range beside the consent state of the user it is keyed by (<see cref="UserRows"/>), so
/// both lookups are one partition range query. Identity decisions (what each event was sent with) live under
/// <c>d{n}</c> partitions by event id. The identifier's row is written first; a crash between the two leaves
/// a row the next record of the same link completes (every write is an idempotent upsert). Inside a
/// <see cref="TableWriteBatch"/> link writes wait for its flush, and reads see them.
/// </summary>
internal sealed class TableIdentityLinkStore(TableClient table, IOptions<RelayOptions> options, TableWriteBehind? writeBehind = null) : IIdentityLinkStore
{
    private const char Separator = UserRows.Separator;

    public async Task<IdentityLink> RecordAsync(IdentityLink link, CancellationToken cancellationToken)
    {
        var (partition, row) = CustomerKey(link.CustomerId, link.Type, link.Value);
        var existing = await table.GetEntityIfExistsAsync<TableEntity>(partition, row, cancellationToken: cancellationToken).ConfigureAwait(false);
        var entity = existing.HasValue ? existing.Value : null;
        entity = writeBehind?.Current is { } batch ? batch.Apply(table, partition, row, entity) : entity;
        var stored = entity is null ? null : Read(entity);
        var merged = stored is null ? link : stored with { LastSeen = link.LastSeen > stored.LastSeen ? link.LastSeen : stored.LastSeen };
        if (stored != merged)
        {
            await WriteAsync(merged, cancellationToken).ConfigureAwait(false);
        }

        return merged;
    }

    public async Task<IdentityLink> RecordNewAsync(IdentityLink link, CancellationToken cancellationToken)
    {
        await WriteAsync(link, cancellationToken).ConfigureAwait(false);
        return link;
    }

    public async Task SeenAgainAsync(IdentityLink stored, DateTimeOffset at, CancellationToken cancellationToken)
    {
        if (at <= stored.LastSeen)
        {
            return;
        }

        // Only LastSeen is merged into each side (a state set meanwhile is kept); an update, not an upsert, so a link
        // forgotten meanwhile is not brought back as a row holding nothing but a time.
        foreach (var (partition, row) in new[] { IdentifierKey(stored.CustomerId, stored.Type, stored.Value), CustomerKey(stored.CustomerId, stored.Type, stored.Value) })
        {
            if (writeBehind?.Current is { } batch)
            {
                batch.Merge(table, TableWriteBehind.LinksOrder, new TableEntity(partition, row) { ["LastSeen"] = at });
                continue;
            }

            try
            {
                await table.UpdateEntityAsync(new TableEntity(partition, row) { ["LastSeen"] = at }, ETag.All, TableUpdateMode.Merge, cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
            }
        }
    }

    public Task<IReadOnlyList<IdentityLink>> ByIdentifierAsync(string type, string value, CancellationToken cancellationToken)
    {
        return RangeAsync(IdentifierPartition(type, value), UserRows.IdentifierPrefix(type, value), cancellationToken);
    }

    /// <summary>One range read per identifier (each in its own partition), up to 8 at a time.</summary>
    public Task<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>> ByIdentifiersAsync(
        IReadOnlyCollection<(string Type, string Value)> identifiers, CancellationToken cancellationToken) =>
        ManyAsync(identifiers, EqualityComparer<(string Type, string Value)>.Default, (id, ct) => ByIdentifierAsync(id.Type, id.Value, ct), cancellationToken);

    public Task<IReadOnlyList<IdentityLink>> ByCustomerAsync(string customerId, CancellationToken cancellationToken) =>
        RangeAsync(CustomerPartition(customerId), UserRows.CustomerPrefix(customerId), cancellationToken);

    /// <summary>One range read per customer (each on the customer's side, in its partition), up to 8 at a time.</summary>
    public Task<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>> ByCustomersAsync(IReadOnlyCollection<string> customerIds, CancellationToken cancellationToken) =>
        ManyAsync(customerIds, StringComparer.Ordinal, ByCustomerAsync, cancellationToken);

    /// <summary>One read per distinct key, up to 8 at a time: every key asked for is in the answer.</summary>
    private static async Task<IReadOnlyDictionary<TKey, IReadOnlyList<IdentityLink>>> ManyAsync<TKey>(
        IReadOnlyCollection<TKey> keys, IEqualityComparer<TKey> comparer, Func<TKey, CancellationToken, Task<IReadOnlyList<IdentityLink>>> read, CancellationToken cancellationToken)
        where TKey : notnull
    {
        var links = new System.Collections.Concurrent.ConcurrentDictionary<TKey, IReadOnlyList<IdentityLink>>(comparer);
        await Parallel.ForEachAsync(keys.Distinct(comparer), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (key, ct) =>
            links[key] = await read(key, ct).ConfigureAwait(false)).ConfigureAwait(false);
        return links;
    }

    public Task SetStateAsync(IdentityLink link, LinkState state, string rulesVersion, CancellationToken cancellationToken) =>
        WriteAsync(link with { State = state, RulesVersion = rulesVersion }, cancellationToken);

    /// <summary>A row in the customer's range (row <c>{customer}|~|{event}</c>: <c>~</c> is never in an encoded key part, so it is no link's row).</summary>
    public async Task RecordWithheldAsync(string customerId, Guid eventId, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(CustomerPartition(customerId), WithheldRow(customerId, eventId)) { [WithheldEventId] = eventId, ["LastSeen"] = at };
        if (writeBehind?.Current is { } batch)
        {
            batch.Upsert(table, TableWriteBehind.LinksOrder, entity);
            return;
        }

        await table.UpsertEntityAsync(entity, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Read from the customer's range, which link capture reads anyway (inside a write-behind batch, once).</summary>
    public async Task<bool> WasWithheldAsync(string customerId, Guid eventId, CancellationToken cancellationToken)
    {
        var row = WithheldRow(customerId, eventId);
        var range = await TableRanges.ReadAsync(table, CustomerPartition(customerId), UserRows.CustomerPrefix(customerId), writeBehind, toWrite: false, cancellationToken).ConfigureAwait(false);
        return range.Any(e => e.RowKey == row);
    }

    public async Task<int> ForgetCustomerAsync(string customerId, CancellationToken cancellationToken)
    {
        var partition = CustomerPartition(customerId);
        var range = await TableRanges.ReadAsync(table, partition, UserRows.CustomerPrefix(customerId), writeBehind, toWrite: true, cancellationToken).ConfigureAwait(false);
        foreach (var withheld in range.Where(IsWithheld))
        {
            if (writeBehind?.Current is { } pending)
            {
                pending.Delete(table, TableWriteBehind.LinksOrder, partition, withheld.RowKey);
                continue;
            }

            await table.DeleteEntityAsync(partition, withheld.RowKey, ETag.All, cancellationToken).ConfigureAwait(false);
        }

        var links = Links(range);
        foreach (var link in links)
        {
            var (ip, ir) = IdentifierKey(link.CustomerId, link.Type, link.Value);
            var (cp, cr) = CustomerKey(link.CustomerId, link.Type, link.Value);
            if (writeBehind?.Current is { } batch)
            {
                batch.Delete(table, TableWriteBehind.LinksOrder, ip, ir);
                batch.Delete(table, TableWriteBehind.LinksOrder, cp, cr);
                continue;
            }

            await table.DeleteEntityAsync(ip, ir, ETag.All, cancellationToken).ConfigureAwait(false);
            await table.DeleteEntityAsync(cp, cr, ETag.All, cancellationToken).ConfigureAwait(false);
        }

        return links.Count;
    }

    public async Task<int> PurgeOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        // The customer side (k partitions) names every link once; each is deleted from both sides.
        var filter = TableClient.CreateQueryFilter($"PartitionKey ge {"k"} and PartitionKey lt {"l"} and LastSeen lt {cutoff}");
        var purged = 0;
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (IsWithheld(entity))
            {
                await table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, ETag.All, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (!UserRows.IsLink(entity))
            {
                continue; // a customer's consent state (it has no LastSeen; its own retention purges it)
            }

            var link = Read(entity);
            var (ip, ir) = IdentifierKey(link.CustomerId, link.Type, link.Value);
            await table.DeleteEntityAsync(ip, ir, ETag.All, cancellationToken).ConfigureAwait(false);
            await table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, ETag.All, cancellationToken).ConfigureAwait(false);
            purged++;
        }

        return purged;
    }

    public async Task SaveDecisionsAsync(IReadOnlyList<IdentityDecision> decisions, CancellationToken cancellationToken)
    {
        // Under d{n} partitions by event id, 100 to a transaction; an upsert replaces an older decision of the event.
        foreach (var partition in decisions.GroupBy(d => DecisionPartition(d.EventId), StringComparer.Ordinal))
        {
            foreach (var chunk in partition.DistinctBy(d => d.EventId).Chunk(100))
            {
                var actions = chunk.Select(d => new TableTransactionAction(TableTransactionActionType.UpsertReplace, new TableEntity(partition.Key, d.EventId.ToString("N"))
                {
                    ["DecidedAt"] = d.DecidedAt,
                    ["Json"] = JsonSerializer.Serialize(d, RelayJsonContext.Default.IdentityDecision),
                })).ToArray();
                await table.SubmitTransactionAsync(actions, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async Task<IdentityDecision?> DecisionAsync(Guid eventId, CancellationToken cancellationToken)
    {
        var entity = await table.GetEntityIfExistsAsync<TableEntity>(DecisionPartition(eventId), eventId.ToString("N"), cancellationToken: cancellationToken).ConfigureAwait(false);
        return entity.HasValue && entity.Value!.GetString("Json") is { } json ? JsonSerializer.Deserialize(json, RelayJsonContext.Default.IdentityDecision) : null;
    }

    public async Task<int> PurgeDecisionsOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        var filter = TableClient.CreateQueryFilter($"PartitionKey ge {"d"} and PartitionKey lt {"e"} and DecidedAt lt {cutoff}");
        var purged = 0;
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            await table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, ETag.All, cancellationToken).ConfigureAwait(false);
            purged++;
        }

        return purged;
    }

    private async Task WriteAsync(IdentityLink link, CancellationToken cancellationToken)
    {
        var (ip, ir) = IdentifierKey(link.CustomerId, link.Type, link.Value);
        var (cp, cr) = CustomerKey(link.CustomerId, link.Type, link.Value);
        if (writeBehind?.Current is { } batch)
        {
            batch.Upsert(table, TableWriteBehind.LinksOrder, Entity(ip, ir, link));
            batch.Upsert(table, TableWriteBehind.LinksOrder, Entity(cp, cr, link));
            return;
        }

        await table.UpsertEntityAsync(Entity(ip, ir, link), TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
        await table.UpsertEntityAsync(Entity(cp, cr, link), TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<IdentityLink>> RangeAsync(string partition, string prefix, CancellationToken cancellationToken) =>
        Links(await TableRanges.ReadAsync(table, partition, prefix, writeBehind, toWrite: false, cancellationToken).ConfigureAwait(false));

    /// <summary>The links among a range's rows (a range may also hold a user's consent state, <see cref="UserRows"/>).</summary>
    private static IReadOnlyList<IdentityLink> Links(IEnumerable<TableEntity> entities) =>
        [.. entities.Where(UserRows.IsLink).Select(Read).OrderBy(l => l.FirstSeen).ThenBy(l => l.CustomerId, StringComparer.Ordinal)];

    private const string WithheldEventId = "WithheldEventId";

    private static string WithheldRow(string customerId, Guid eventId) => UserRows.CustomerPrefix(customerId) + "~" + Separator + eventId.ToString("N");

    private static bool IsWithheld(TableEntity entity) => entity.ContainsKey(WithheldEventId);

    private string DecisionPartition(Guid eventId) => Partitions.Name("d", Partitions.Of(eventId, options.Value.Partitions));

    private string CustomerPartition(string customerId) => UserRows.CustomerPartition(customerId, options.Value.Partitions);

    private string IdentifierPartition(string type, string value) => UserRows.IdentifierPartition(type, value, options.Value.Partitions);

    private (string Partition, string Row) CustomerKey(string customerId, string type, string value) =>
        (CustomerPartition(customerId), UserRows.CustomerPrefix(customerId) + RowKeys.Encode(type) + Separator + RowKeys.Encode(value));

    private (string Partition, string Row) IdentifierKey(string customerId, string type, string value) =>
        (IdentifierPartition(type, value), UserRows.IdentifierPrefix(type, value) + RowKeys.Encode(customerId));

    private static TableEntity Entity(string partition, string row, IdentityLink link) => new(partition, row)
    {
        ["CustomerId"] = link.CustomerId,
        ["Type"] = link.Type,
        ["Value"] = link.Value,
        ["SourceEventId"] = link.SourceEventId,
        ["FirstSeen"] = link.FirstSeen,
        ["LastSeen"] = link.LastSeen,
        ["State"] = link.State.ToString(),
        ["RulesVersion"] = link.RulesVersion,
    };

    private static IdentityLink Read(TableEntity entity) => new(
        entity.GetString("CustomerId")!,
        entity.GetString("Type")!,
        entity.GetString("Value")!,
        entity.GetGuid("SourceEventId") ?? Guid.Empty,
        entity.GetDateTimeOffset("FirstSeen") ?? DateTimeOffset.MinValue,
        entity.GetDateTimeOffset("LastSeen") ?? DateTimeOffset.MinValue,
        Enum.TryParse<LinkState>(entity.GetString("State"), out var state) ? state : LinkState.Active,
        entity.GetString("RulesVersion") ?? "");
}
