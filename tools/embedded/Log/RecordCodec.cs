using System.Text;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// The layout the log's keyed records share (identity's, the ledger's, the checkpoints'): the record of the same key
/// it replaces (0: none), whether it forgets its key, then its own fields; a payload must hold exactly its fields.
/// </summary>
internal static class RecordCodec
{
    /// <summary>A scratch buffer grown past this is dropped after use rather than kept for the thread's life.</summary>
    private const int KeptScratchBytes = 1 << 20;

    [ThreadStatic]
    private static MemoryStream? scratch;

    [ThreadStatic]
    private static BinaryWriter? scratchWriter;

    [ThreadStatic]
    private static byte[]? scratchBytes;

    [ThreadStatic]
    private static MemoryStream? valueScratch;

    [ThreadStatic]
    private static BinaryWriter? valueWriter;

    /// <summary>A keyed record's payload, in this thread's scratch buffer (see <see cref="Begin"/>).</summary>
    public static ReadOnlyMemory<byte> Encode(long previous, bool forgotten, Action<BinaryWriter> fields)
    {
        var writer = Begin();
        writer.Write(previous);
        writer.Write(forgotten);
        fields(writer);
        return End();
    }

    /// <summary>
    /// Starts a payload in this thread's scratch buffer, reused from record to record instead of a stream and an array
    /// for each: what <see cref="End"/> returns is valid only until the thread's next encode. That is enough because
    /// every record is appended to the log at once, which copies it.
    /// </summary>
    public static BinaryWriter Begin()
    {
        if (scratch is null || scratch.Capacity > KeptScratchBytes)
        {
            scratch = new MemoryStream(256);
            scratchWriter = new BinaryWriter(scratch, Encoding.UTF8, leaveOpen: true);
        }

        scratch.SetLength(0);
        return scratchWriter!;
    }

    /// <summary>The payload written since <see cref="Begin"/>: the scratch buffer itself, no copy.</summary>
    public static ReadOnlyMemory<byte> End()
    {
        scratchWriter!.Flush();
        return scratch!.GetBuffer().AsMemory(0, (int)scratch.Length);
    }

    /// <summary>This thread's scratch array of at least <paramref name="length"/> bytes, under the same rule as <see cref="Begin"/>.</summary>
    public static byte[] ScratchArray(int length)
    {
        if (scratchBytes is null || scratchBytes.Length < length || scratchBytes.Length > KeptScratchBytes)
        {
            scratchBytes = new byte[Math.Max(length, 256)];
        }

        return scratchBytes;
    }

    /// <summary>Whether a string is there, then the string if it is (<see cref="PayloadCursor.OptionalString"/> reads it).</summary>
    public static void WriteOptional(BinaryWriter writer, string? value)
    {
        writer.Write(value is not null);
        if (value is not null)
        {
            writer.Write(value);
        }
    }

    /// <summary>
    /// Starts a value that goes inside a record (an order context, a decision: <see cref="StateCodec"/>) in a second
    /// scratch buffer of this thread, under the same rule as <see cref="Begin"/>: the record's own encode uses the first.
    /// </summary>
    public static BinaryWriter BeginValue()
    {
        if (valueScratch is null || valueScratch.Capacity > KeptScratchBytes)
        {
            valueScratch = new MemoryStream(256);
            valueWriter = new BinaryWriter(valueScratch, Encoding.UTF8, leaveOpen: true);
        }

        valueScratch.SetLength(0);
        return valueWriter!;
    }

    /// <summary>The value written since <see cref="BeginValue"/>, copied: the record that holds it keeps it.</summary>
    public static byte[] EndValue()
    {
        valueWriter!.Flush();
        return valueScratch!.ToArray();
    }

    /// <exception cref="InvalidDataException">The payload is not such a record.</exception>
    public static T Decode<T>(ReadOnlySpan<byte> payload, FieldsReader<T> fields)
    {
        var cursor = new PayloadCursor(payload, "A record of the log");
        var previous = cursor.Int64();
        var forgotten = cursor.Boolean();
        var record = fields(previous, forgotten, ref cursor);
        cursor.End();
        return record;
    }
}

/// <summary>Reads a keyed record's own fields (<see cref="RecordCodec.Decode{T}"/>), after the record it replaces and whether it forgets its key.</summary>
internal delegate T FieldsReader<out T>(long previous, bool forgotten, ref PayloadCursor fields);
