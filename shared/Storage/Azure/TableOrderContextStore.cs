using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using CtMparticle.Configuration;
using CtMparticle.Tracking;
using Microsoft.Extensions.Options;

namespace CtMparticle.Storage.Azure;

/// <summary>
/// Order context on Azure Tables: the context under <c>o{shard}/{orderId}</c>, and an index row per payment under
/// <c>p{shard}/{paymentId}</c> (payments carry no order reference, refunds arrive on payments). Inside a
/// <see cref="TableWriteBatch"/> saves wait for its flush, and reads see them.
/// </summary>
internal sealed class TableOrderContextStore(TableClient table, IOptions<RelayOptions> options, TableWriteBehind? writeBehind = null) : IOrderContextStore
{
    private int PartitionCount => options.Value.Partitions;

    public async Task SaveAsync(OrderContext order, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(Partitions.Name("o", Partitions.Of(order.OrderId, PartitionCount)), RowKeys.Encode(order.OrderId));
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
        var entity = await GetAsync(Partitions.Name("o", Partitions.Of(orderId, PartitionCount)), RowKeys.Encode(orderId), cancellationToken).ConfigureAwait(false);
        return entity is null ? null : JsonSerializer.Deserialize(Chunks.Read(entity, "Context"), RelayJsonContext.Default.OrderContext);
    }

    public async Task<OrderContext?> FindByPaymentAsync(string paymentId, CancellationToken cancellationToken)
    {
        var index = await GetAsync(Partitions.Name("p", Partitions.Of(paymentId, PartitionCount)), RowKeys.Encode(paymentId), cancellationToken).ConfigureAwait(false);
        return index?.GetString("OrderId") is { } orderId ? await FindByOrderAsync(orderId, cancellationToken).ConfigureAwait(false) : null;
    }

    public async Task<int> PurgeOrdersOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        // Orders (o###) and the payment index (p###) are saved together, so both go by their own last write.
        var orders = 0;
        foreach (var prefix in new[] { "o", "p" })
        {
            var filter = TableClient.CreateQueryFilter($"PartitionKey ge {prefix + "0"} and PartitionKey lt {prefix + ":"} and Timestamp lt {cutoff}");
            await foreach (var entity in table.QueryAsync<TableEntity>(filter, select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                await table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, ETag.All, cancellationToken).ConfigureAwait(false);
                orders += prefix == "o" ? 1 : 0;
            }
        }

        return orders;
    }

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
