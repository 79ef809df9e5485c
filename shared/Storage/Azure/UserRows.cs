using Azure.Data.Tables;
using CtMparticle.Identity;

namespace CtMparticle.Storage.Azure;

/// <summary>
/// A user's rows in the links table, one partition range: a customer's (<c>k{n}</c>, rows <c>{customer}|…</c>) holds
/// their side of each identity link, an identifier's (<c>i{n}</c>, rows <c>{type}|{value}|…</c>) its side of each; and
/// the user's consent state sits in the range of their user key (a customer's own, an anonymous user's or an e-mail's
/// identifier's) under the range's prefix itself, so it sorts first. One range read gives both, to the consent gate and
/// to link capture or identity resolution; inside a write-behind batch or a push's read scope it is read once.
/// </summary>
internal static class UserRows
{
    public const char Separator = RowKeys.Separator;

    public static string CustomerPartition(string customerId, int partitions) => Partitions.Name("k", Partitions.Of(customerId, partitions));

    /// <summary>A customer's range's prefix, and their consent state's row key.</summary>
    public static string CustomerPrefix(string customerId) => RowKeys.Encode(customerId) + Separator;

    public static string IdentifierPartition(string type, string value, int partitions) => Partitions.Name("i", Partitions.Of(type + ":" + value, partitions));

    /// <summary>An identifier's range's prefix, and the consent state's row key of the user keyed by it.</summary>
    public static string IdentifierPrefix(string type, string value) => RowKeys.Encode(type) + Separator + RowKeys.Encode(value) + Separator;

    /// <summary>The range a user's consent state lives in (<see cref="UserKeys.Of"/>), or null for a key of no known kind.</summary>
    public static (string Partition, string Prefix)? Of(string userKey, int partitions) =>
        UserKeys.CustomerIdOfKey(userKey) is { } customer ? (CustomerPartition(customer, partitions), CustomerPrefix(customer))
        : UserKeys.IdentifierOfKey(userKey) is { } id ? (IdentifierPartition(id.Type, id.Value, partitions), IdentifierPrefix(id.Type, id.Value))
        : null;

    /// <summary>The user key a consent row of the links table is kept for (<see cref="Of"/>'s inverse), or null for a link or a row of no known kind.</summary>
    public static string? UserKeyOf(TableEntity row)
    {
        if (IsLink(row))
        {
            return null;
        }

        var parts = row.RowKey.Split(Separator);
        return (row.PartitionKey[0], parts.Length) switch
        {
            ('k', 2) when RowKeys.Decode(parts[0]) is { Length: > 0 } customer => UserKeys.Customer(customer),
            ('i', 3) when RowKeys.Decode(parts[0]) is { } type && RowKeys.Decode(parts[1]) is { Length: > 0 } value => UserKeys.KeyOfIdentifier(type, value),
            _ => null,
        };
    }

    /// <summary>Whether a row of the links table is a link (not a user's consent state).</summary>
    public static bool IsLink(TableEntity entity) => entity.ContainsKey("CustomerId");
}
