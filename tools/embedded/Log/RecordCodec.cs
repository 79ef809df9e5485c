using System.Runtime.InteropServices;
using System.Text;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// The layout the log's keyed records share (identity's, the ledger's, the checkpoints'): the record of the same key
/// it replaces (0: none), whether it forgets its key, then its own fields; a payload must hold exactly its fields.
/// </summary>
internal static class RecordCodec
{
    public static ReadOnlyMemory<byte> Encode(long previous, bool forgotten, Action<BinaryWriter> fields)
    {
        using var stream = new MemoryStream(128);
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(previous);
            writer.Write(forgotten);
            fields(writer);
        }

        return stream.GetBuffer().AsMemory(0, (int)stream.Length); // the stream's own buffer: no copy
    }

    /// <exception cref="InvalidDataException">The payload is not such a record.</exception>
    public static T Decode<T>(ReadOnlyMemory<byte> payload, Func<long, bool, BinaryReader, T> fields)
    {
        var segment = MemoryMarshal.TryGetArray(payload, out var array) ? array : new ArraySegment<byte>(payload.ToArray());
        using var reader = new BinaryReader(new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false), Encoding.UTF8);
        try
        {
            var record = fields(reader.ReadInt64(), reader.ReadBoolean(), reader);
            return reader.BaseStream.Position == segment.Count ? record : throw new InvalidDataException("A record of the log holds more than its fields.");
        }
        catch (Exception ex) when (ex is EndOfStreamException or ArgumentException)
        {
            throw new InvalidDataException("A record of the log ends before its fields do, or holds a field it cannot.", ex);
        }
    }
}
