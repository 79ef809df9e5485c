using System.Buffers.Binary;
using System.Text;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// Reads a payload written by <see cref="BinaryWriter"/> (UTF-8 strings after a 7-bit length, little-endian numbers)
/// from a span: the log's records are decoded with it (no stream and reader per record), and reads that need a field
/// or two take them in place (<see cref="StateLog.Read{TState, TResult}"/>). Every step is bounds-checked: a payload
/// that ends early is damage, reported as <see cref="InvalidDataException"/> with <c>what</c> in the message.
/// </summary>
internal ref struct PayloadCursor
{
    private readonly ReadOnlySpan<byte> payload;
    private readonly string what;

    public PayloadCursor(ReadOnlySpan<byte> payload, string what)
    {
        this.payload = payload;
        this.what = what;
    }

    /// <summary>How far the cursor has read.</summary>
    public int Position { get; private set; }

    /// <summary>The bytes not read yet.</summary>
    public readonly int Remaining => payload.Length - Position;

    public byte Byte() => Take(1)[0];

    public bool Boolean() => Byte() != 0;

    public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(sizeof(int)));

    public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(sizeof(long)));

    /// <summary>A string, as <see cref="BinaryWriter.Write(string)"/> wrote it (and <see cref="BinaryReader.ReadString"/> reads it).</summary>
    public string String() => Encoding.UTF8.GetString(Utf8String());

    /// <summary>
    /// As <see cref="String"/>, for a field whose few values repeat across records (an identifier's type, the identity
    /// rules' version): the string decoded last for the same bytes on this thread, when there is one, is given again.
    /// </summary>
    public string RepeatedString()
    {
        var utf8 = Utf8String();
        var seen = repeated ??= new string?[RepeatedSlots];
        ref var slot = ref seen[(int)(System.IO.Hashing.XxHash3.HashToUInt64(utf8) % RepeatedSlots)];
        return slot is { } known && Matches(utf8, known) ? known : slot = Encoding.UTF8.GetString(utf8);
    }

    private const int RepeatedSlots = 31;

    [ThreadStatic]
    private static string?[]? repeated;

    /// <summary>A string or null, as <see cref="RecordCodec.WriteOptional"/> wrote it.</summary>
    public string? OptionalString() => Boolean() ? String() : null;

    /// <summary>A <see cref="System.Guid"/> written as its 16 bytes.</summary>
    public Guid Guid() => new(Take(16));

    /// <summary>The next <paramref name="count"/> bytes, copied.</summary>
    public byte[] Bytes(int count) => Take(count).ToArray();

    /// <summary>Refuses a payload with bytes left after its fields.</summary>
    public readonly void End()
    {
        if (Remaining != 0)
        {
            throw new InvalidDataException($"{what} holds more than its fields.");
        }
    }

    /// <summary>A string's UTF-8 bytes, as <see cref="BinaryWriter.Write(string)"/> wrote them.</summary>
    public ReadOnlySpan<byte> Utf8String() => Take(Length7());

    /// <summary>The next <paramref name="count"/> bytes.</summary>
    public ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > payload.Length - Position)
        {
            throw new InvalidDataException($"{what} ends before its fields do.");
        }

        var taken = payload.Slice(Position, count);
        Position += count;
        return taken;
    }

    /// <summary>
    /// Whether <paramref name="utf8"/> decodes to <paramref name="value"/>: the same answer as comparing
    /// <see cref="Encoding.GetString(ReadOnlySpan{byte})"/> with it (invalid bytes decode to U+FFFD alike), without the string.
    /// </summary>
    public static bool Matches(ReadOnlySpan<byte> utf8, string value)
    {
        // A UTF-8 byte decodes to at most one UTF-16 unit, so fewer bytes than the value's units cannot match.
        if (utf8.Length < value.Length)
        {
            return false;
        }

        Span<char> decoded = utf8.Length <= 256 ? stackalloc char[utf8.Length] : new char[utf8.Length];
        var count = Encoding.UTF8.GetChars(utf8, decoded);
        return decoded[..count].SequenceEqual(value);
    }

    /// <summary>A 7-bit encoded length (<see cref="BinaryWriter.Write7BitEncodedInt(int)"/>).</summary>
    private int Length7()
    {
        var result = 0;
        for (var shift = 0; shift < 35; shift += 7)
        {
            var part = Byte();
            result |= (part & 0x7F) << shift;
            if ((part & 0x80) == 0)
            {
                return result >= 0 ? result : throw new InvalidDataException($"{what} holds a negative length.");
            }
        }

        throw new InvalidDataException($"{what} holds a length of more than five bytes.");
    }
}
