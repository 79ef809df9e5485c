using System.Globalization;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using CtMparticle.Configuration;
using CtMparticle.Tracking;
using Microsoft.Extensions.Options;

namespace CtMparticle.Storage.Azure;

/// <summary>
/// Order context on Azure Tables: each version of an order's context in a row of its own, <c>o{shard}/{orderId}|{version}</c>
/// (a context without a version, as saved before versions were kept, under <c>o{shard}/{orderId}</c>), and an index row
/// per payment under <c>p{shard}/{paymentId}</c> (payments carry no order reference, refunds arrive on payments). A read
/// takes the order's range and the newest version in it, so an older context saved after a newer one (a replayed
/// <c>OrderCreated</c>) changes nothing, and a save costs no read. Inside a <see cref="TableWriteBatch"/> saves wait for
/// its flush, and reads see them.
/// </summary>
internal sealed class TableOrderContextStore(TableClient table, IOptions<RelayOptions> options, TableWriteBehind? writeBehind = null) : IOrderContextStore
{
    private int PartitionCount => options.Value.Partitions;

    public async Task SaveAsync(OrderContext order, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(OrderPartition(order.OrderId), RowKey(order.OrderId, order.Version));
        Chunks.Write(entity, "Context", JsonSerializer.SerializeToUtf8Bytes(order, RelayJsonContext.Default.OrderContext));
        var batch = writeBehind?.Current;
        await UpsertAsync(batch, entity, cancellationToken).ConfigureAwait(false);
        foreach (var payment in order.PaymentIds)
        {
            var index = new TableEntity(Partitions.Name("p", Partitions.Of(payment, PartitionCount)), RowKeys.Encode(payment))
            {
                ["OrderId"] = order.OrderId,
            };
            await UpsertAsync(batch, index, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<OrderContext?> FindByOrderAsync(string orderId, CancellationToken cancellationToken)
    {
        var versions = await VersionsAsync(orderId, cancellationToken).ConfigureAwait(false);
        return versions.Count == 0 ? null : Context(versions[^1]);
    }

    public async Task<OrderContext?> FindByPaymentAsync(string paymentId, CancellationToken cancellationToken)
    {
        var index = await GetAsync(Partitions.Name("p", Partitions.Of(paymentId, PartitionCount)), RowKeys.Encode(paymentId), cancellationToken).ConfigureAwait(false);
        return index?.GetString("OrderId") is { } orderId ? await FindByOrderAsync(orderId, cancellationToken).ConfigureAwait(false) : null;
    }

    public async Task<int> PurgeOrdersOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        // An order goes when its newest version was saved before the cutoff, with every older version (one saved since,
        // by a replay, says nothing newer); of an order kept, only older versions saved before the cutoff go.
        var orders = 0;
        var old = TableClient.CreateQueryFilter($"PartitionKey ge {"o0"} and PartitionKey lt {"o:"} and Timestamp lt {cutoff}");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var entity in table.QueryAsync<TableEntity>(old, select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (OrderIdOf(entity.RowKey) is not { } orderId || !seen.Add(orderId))
            {
                continue;
            }

            var versions = await VersionsAsync(orderId, cancellationToken, toWrite: true).ConfigureAwait(false);
            var forgotten = versions.Count > 0 && versions[^1].Timestamp < cutoff;
            foreach (var version in forgotten ? versions : versions.Take(versions.Count - 1).Where(v => v.Timestamp < cutoff))
            {
                await table.DeleteEntityAsync(version.PartitionKey, version.RowKey, ETag.All, cancellationToken).ConfigureAwait(false);
            }

            orders += forgotten ? 1 : 0;
        }

        // The payment index (p###) is written with every save, so it goes by its own last write.
        var index = TableClient.CreateQueryFilter($"PartitionKey ge {"p0"} and PartitionKey lt {"p:"} and Timestamp lt {cutoff}");
        await foreach (var entity in table.QueryAsync<TableEntity>(index, select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            await table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, ETag.All, cancellationToken).ConfigureAwait(false);
        }

        return orders;
    }

    private string OrderPartition(string orderId) => Partitions.Name("o", Partitions.Of(orderId, PartitionCount));

    /// <summary>A version's row key: sorts after the order's unversioned row and in version order (19 digits hold any <see cref="long"/>).</summary>
    private static string RowKey(string orderId, long version) =>
        version <= 0 ? RowKeys.Encode(orderId) : RowKeys.Encode(orderId) + RowKeys.Separator + version.ToString("D19", CultureInfo.InvariantCulture);

    private static string? OrderIdOf(string rowKey) => RowKeys.Decode(rowKey.Split(RowKeys.Separator)[0]);

    /// <summary>The stored versions of an order's context, oldest first (the order's range holds other orders whose encoded id extends this one's: left out).</summary>
    private async Task<IReadOnlyList<TableEntity>> VersionsAsync(string orderId, CancellationToken cancellationToken, bool toWrite = false)
    {
        var key = RowKeys.Encode(orderId);
        var range = await TableRanges.ReadAsync(table, OrderPartition(orderId), key, writeBehind, toWrite, cancellationToken).ConfigureAwait(false);
        return [.. range.Where(e => e.RowKey == key || e.RowKey.StartsWith(key + RowKeys.Separator, StringComparison.Ordinal)).OrderBy(e => e.RowKey, StringComparer.Ordinal)];
    }

    private static OrderContext? Context(TableEntity entity) => JsonSerializer.Deserialize(Chunks.Read(entity, "Context"), RelayJsonContext.Default.OrderContext);

    private async Task UpsertAsync(TableWriteBatch? batch, TableEntity entity, CancellationToken cancellationToken)
    {
        if (batch is not null)
        {
            batch.Upsert(table, TableWriteBehind.OrdersOrder, entity);
            return;
        }

        await table.UpsertEntityAsync(entity, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
    }

    private async Task<TableEntity?> GetAsync(string partition, string rowKey, CancellationToken cancellationToken)
    {
        var batch = writeBehind?.Current;
        if (batch is not null && batch.TryRead(table, partition, rowKey, out var known))
        {
            return known;
        }

        var response = await table.GetEntityIfExistsAsync<TableEntity>(partition, rowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        batch?.Remember(table, partition, rowKey, response.HasValue ? response.Value : null);
        return response.HasValue ? response.Value : null;
    }
}
