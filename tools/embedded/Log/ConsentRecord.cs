using System.Runtime.InteropServices;
using System.Text;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// A user's consent and region as merged at one moment, or their forgetting, in the log (ADR 0007, step 3): the
/// same fields as the SQLite store's row (the consent's JSON, country, state, when the region was stated and when
/// the state was updated), and the record it replaces.
/// </summary>
internal sealed record ConsentRecord(
    string UserKey,
    long Previous,
    bool Forgotten,
    string ConsentJson,
    string? Country,
    string? State,
    long? RegionTicks,
    long UpdatedTicks)
{
    public const byte Kind = 3;

    public ReadOnlyMemory<byte> Encode()
    {
        var writer = RecordCodec.Begin();
        writer.Write(UserKey);
        writer.Write(Previous);
        writer.Write(Forgotten);
        writer.Write(ConsentJson);
        WriteOptional(writer, Country);
        WriteOptional(writer, State);
        writer.Write(RegionTicks.HasValue);
        writer.Write(RegionTicks ?? 0);
        writer.Write(UpdatedTicks);

        return RecordCodec.End();
    }

    /// <exception cref="InvalidDataException">The payload is not a consent record.</exception>
    public static ConsentRecord Decode(ReadOnlyMemory<byte> payload)
    {
        var segment = MemoryMarshal.TryGetArray(payload, out var array) ? array : new ArraySegment<byte>(payload.ToArray());
        using var reader = new BinaryReader(new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false), Encoding.UTF8);
        try
        {
            var record = new ConsentRecord(reader.ReadString(), reader.ReadInt64(), reader.ReadBoolean(), reader.ReadString(), ReadOptional(reader), ReadOptional(reader),
                reader.ReadBoolean() ? reader.ReadInt64() : Skip(reader), reader.ReadInt64());
            return reader.BaseStream.Position == segment.Count ? record : throw new InvalidDataException("A consent record holds more than its fields.");
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException("A consent record ends before its fields do.", ex);
        }
    }

    private static long? Skip(BinaryReader reader)
    {
        reader.ReadInt64();
        return null;
    }

    private static void WriteOptional(BinaryWriter writer, string? value)
    {
        writer.Write(value is not null);
        writer.Write(value ?? "");
    }

    private static string? ReadOptional(BinaryReader reader)
    {
        var present = reader.ReadBoolean();
        var value = reader.ReadString();
        return present ? value : null;
    }
}
