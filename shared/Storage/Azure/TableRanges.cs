using Azure.Data.Tables;

namespace CtMparticle.Storage.Azure;

/// <summary>Row ranges read through the open write-behind batch or push read scope, so a range is read once per batch or run.</summary>
internal static class TableRanges
{
    /// <summary>
    /// The rows of a partition whose keys start with <paramref name="prefix"/>: from the open write-behind batch (with its
    /// writes applied) or the open read scope when they read it before, else from the table, then kept by either. A read
    /// made to write (<paramref name="toWrite"/>) at once goes past a read scope: it must see the stored version.
    /// </summary>
    public static async Task<IReadOnlyList<TableEntity>> ReadAsync(
        TableClient table, string partition, string prefix, TableWriteBehind? writeBehind, bool toWrite, CancellationToken cancellationToken)
    {
        var end = prefix[..^1] + (char)(prefix[^1] + 1);
        var batch = writeBehind?.Current;
        if (batch is not null && batch.TryReadRange(table, partition, prefix, end, out var known))
        {
            return known;
        }

        var scope = batch is null && !toWrite ? writeBehind?.Reads : null;
        if (scope is not null && scope.TryReadRange(table, partition, prefix, out var kept))
        {
            return kept;
        }

        var entities = new List<TableEntity>();
        await foreach (var entity in table.QueryAsync<TableEntity>(
            e => e.PartitionKey == partition && string.Compare(e.RowKey, prefix) >= 0 && string.Compare(e.RowKey, end) < 0,
            cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            entities.Add(entity);
        }

        scope?.RememberRange(table, partition, prefix, entities);
        if (batch is null)
        {
            return entities;
        }

        batch.RememberRange(table, partition, prefix, end, entities);
        return batch.ApplyRange(table, partition, prefix, end, entities);
    }
}
