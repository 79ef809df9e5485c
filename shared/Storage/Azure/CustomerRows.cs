using Azure.Data.Tables;

namespace CtMparticle.Storage.Azure;

/// <summary>
/// A customer's rows in the links table, one partition range (<c>k{n}</c>, rows <c>{customer}|…</c>): their side of
/// each identity link, and their consent state under the range's prefix itself, so it sorts first. One range read gives
/// both, to the consent gate and to link capture or identity resolution; inside a write-behind batch or a push's read
/// scope it is read once.
/// </summary>
internal static class CustomerRows
{
    public const char Separator = '|'; // never in an encoded (base64url) key part, so prefixes never run into each other

    public static string Partition(string customerId, int partitions) => Partitions.Name("k", Partitions.Of(customerId, partitions));

    /// <summary>The range's prefix, and the consent state's row key.</summary>
    public static string Prefix(string customerId) => RowKeys.Encode(customerId) + Separator;

    /// <summary>Whether a row of the links table is a link (not a customer's consent state).</summary>
    public static bool IsLink(TableEntity entity) => entity.ContainsKey("CustomerId");

    /// <summary>
    /// The rows of a partition whose keys start with <paramref name="prefix"/>: from the open write-behind batch (with its
    /// writes applied) or the open read scope when they read it before, else from the table, then kept by either. A read
    /// made to write (<paramref name="toWrite"/>) at once goes past a read scope: it must see the stored version.
    /// </summary>
    public static async Task<IReadOnlyList<TableEntity>> RangeAsync(
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
