using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Azure.Data.Tables;

namespace CtMparticle.Storage.Azure;

/// <summary>Stable partition keys (never <c>string.GetHashCode</c>, which differs per process).</summary>
internal static class Partitions
{
    public static int Of(Guid id, int partitions)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.TryWriteBytes(bytes, bigEndian: true, out _);
        return (int)(BinaryPrimitives.ReadUInt32BigEndian(bytes) % (uint)partitions);
    }

    public static int Of(string key, int partitions)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), hash);
        return (int)(BinaryPrimitives.ReadUInt32BigEndian(hash) % (uint)partitions);
    }

    public static string Name(string prefix, int shard) => $"{prefix}{shard:D3}";
}

/// <summary>
/// Large values on table entities: a binary property holds at most 64 KiB, so bytes are split over
/// <c>{name}0</c>, <c>{name}1</c>, … (an entity holds at most 1 MiB).
/// </summary>
internal static class Chunks
{
    private const int ChunkBytes = 64 * 1024 - 1;
    private const int MaxChunks = 14;

    public static void Write(TableEntity entity, string name, byte[] value)
    {
        var count = (value.Length + ChunkBytes - 1) / ChunkBytes;
        if (count > MaxChunks)
        {
            throw new ValueTooLargeException($"A value of {value.Length:N0} bytes does not fit a table entity ({MaxChunks} chunks of {ChunkBytes:N0} bytes).");
        }

        entity[$"{name}Chunks"] = count;
        for (var i = 0; i < count; i++)
        {
            entity[$"{name}{i}"] = value.AsSpan(i * ChunkBytes, Math.Min(ChunkBytes, value.Length - (i * ChunkBytes))).ToArray();
        }
    }

    public static byte[] Read(TableEntity entity, string name)
    {
        var count = entity.GetInt32($"{name}Chunks") ?? 0;
        using var buffer = new MemoryStream();
        for (var i = 0; i < count; i++)
        {
            buffer.Write(entity.GetBinary($"{name}{i}"));
        }

        return buffer.ToArray();
    }

    /// <summary>The properties to select to read a value back (all chunks a value of that size could have).</summary>
    public static IEnumerable<string> Columns(string name) =>
        Enumerable.Range(0, MaxChunks).Select(i => $"{name}{i}").Prepend($"{name}Chunks");
}

/// <summary>Row keys may not contain '/', '\', '#', '?' or control characters: arbitrary ids are encoded.</summary>
internal static class RowKeys
{
    /// <summary>Joins encoded key parts: never in an <see cref="Encode"/>d part (base64url), and after every character that is, so prefixes never run into each other.</summary>
    public const char Separator = '|';

    public static string Encode(string value) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(value)).Replace('/', '_').Replace('+', '-').TrimEnd('=');

    /// <summary>What <see cref="Encode"/> encoded; null when the key is not such an encoding.</summary>
    public static string? Decode(string key)
    {
        var base64 = key.Replace('_', '/').Replace('-', '+');
        base64 += (base64.Length % 4) switch { 2 => "==", 3 => "=", _ => "" };
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(base64));
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
