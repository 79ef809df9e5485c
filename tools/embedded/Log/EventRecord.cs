using System.Buffers.Binary;
using System.Text;

namespace CtMparticle.Embedded.Log;

/// <summary>Where an event stands, as its newest record says.</summary>
internal enum EventStatus : byte
{
    Pending = 1,
    Delivered = 2,
    Withdrawn = 3,
    /// <summary>Quarantined at push and parked: restorable by a replay of its quarantine record.</summary>
    Parked = 4,
    /// <summary>Quarantined at push, parked no longer (its retention is over).</summary>
    Quarantined = 5,
    /// <summary>Refused by consent at ingest: seen, never stored for push.</summary>
    Withheld = 6,
    /// <summary>Its dedupe record's retention is over: the id may be stored again.</summary>
    Forgotten = 7,
}

/// <summary>
/// One record of an event's life in the log (ADR 0007, step 2): every change of an event appends its whole state, so
/// the newest record alone says where the event stands, and replaying the log rebuilds the outbox without reading
/// older records. <see cref="Added"/> points at the record that first stored or withheld it (its message, dedupe
/// key and the time it was seen); <see cref="JsonAt"/> at the record holding the event's current JSON; 0 in either
/// means "this record".
/// </summary>
internal sealed record EventRecord(
    Guid EventId,
    EventStatus Status,
    long Previous,
    long Added,
    long JsonAt,
    long Place,
    long EnqueuedTicks,
    long NotBeforeTicks,
    long StatusTicks,
    long SeenTicks,
    string? MessageId,
    string? DedupeKey,
    ReadOnlyMemory<byte> Json)
{
    public const byte Kind = 1;
    private const int FixedBytes = 16 + 1 + 8 * 8;

    /// <summary>The record's payload in the log.</summary>
    public ReadOnlyMemory<byte> Encode()
    {
        var message = MessageId is null ? 0 : Encoding.UTF8.GetByteCount(MessageId);
        var dedupe = DedupeKey is null ? 0 : Encoding.UTF8.GetByteCount(DedupeKey);
        var length = FixedBytes + 4 + message + 4 + dedupe + 4 + Json.Length;
        var bytes = RecordCodec.ScratchArray(length); // reused: valid until this thread's next encode (RecordCodec.Begin)
        var span = bytes.AsSpan(0, length);
        EventId.TryWriteBytes(span);
        span[16] = (byte)Status;
        var at = 17;
        foreach (var value in (ReadOnlySpan<long>)[Previous, Added, JsonAt, Place, EnqueuedTicks, NotBeforeTicks, StatusTicks, SeenTicks])
        {
            BinaryPrimitives.WriteInt64LittleEndian(span[at..], value);
            at += 8;
        }

        at = WriteString(span, at, MessageId, message);
        at = WriteString(span, at, DedupeKey, dedupe);
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], Json.Length);
        Json.Span.CopyTo(span[(at + 4)..]);
        return bytes.AsMemory(0, length);
    }

    /// <exception cref="InvalidDataException">The payload is not an event record (a wrong address, or damage the checksum missed).</exception>
    public static EventRecord Decode(ReadOnlyMemory<byte> payload)
    {
        var span = payload.Span;
        if (span.Length < FixedBytes + 12)
        {
            throw new InvalidDataException("An event record is shorter than its fixed part.");
        }

        var at = FixedBytes;
        var message = ReadString(span, ref at);
        var dedupe = ReadString(span, ref at);
        var length = BinaryPrimitives.ReadInt32LittleEndian(span[at..]);
        if (length < 0 || at + 4 + length != span.Length)
        {
            throw new InvalidDataException("An event record's JSON does not fill the rest of it.");
        }

        return new EventRecord(new Guid(span[..16]), (EventStatus)span[16], Fixed(span, 0), Fixed(span, 1), Fixed(span, 2), Fixed(span, 3), Fixed(span, 4),
            Fixed(span, 5), Fixed(span, 6), Fixed(span, 7), message, dedupe, payload.Slice(at + 4, length));
    }

    /// <summary>The event's JSON alone, in place, without decoding the rest (what the push reads of a pending event).</summary>
    /// <exception cref="InvalidDataException">The payload is not an event record.</exception>
    public static ReadOnlySpan<byte> JsonOf(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < FixedBytes + 12)
        {
            throw new InvalidDataException("An event record is shorter than its fixed part.");
        }

        var at = FixedBytes;
        SkipString(payload, ref at); // the message id
        SkipString(payload, ref at); // the dedupe key
        var length = BinaryPrimitives.ReadInt32LittleEndian(payload[at..]);
        return length >= 0 && at + 4 + length == payload.Length
            ? payload[(at + 4)..]
            : throw new InvalidDataException("An event record's JSON does not fill the rest of it.");
    }

    /// <summary>The event and its status alone, without decoding the rest (the report's pass over the whole log).</summary>
    /// <exception cref="InvalidDataException">The payload is too short to be an event record.</exception>
    public static (Guid EventId, EventStatus Status) Peek(ReadOnlySpan<byte> payload) => payload.Length < FixedBytes + 12
        ? throw new InvalidDataException("An event record is shorter than its fixed part.")
        : (new Guid(payload[..16]), (EventStatus)payload[16]);

    private static long Fixed(ReadOnlySpan<byte> span, int i) => BinaryPrimitives.ReadInt64LittleEndian(span[(17 + (8 * i))..]);

    private static int WriteString(Span<byte> span, int at, string? value, int length)
    {
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], value is null ? -1 : length);
        if (value is not null)
        {
            Encoding.UTF8.GetBytes(value, span[(at + 4)..]);
        }

        return at + 4 + length;
    }

    private static void SkipString(ReadOnlySpan<byte> span, ref int at)
    {
        var length = BinaryPrimitives.ReadInt32LittleEndian(span[at..]);
        at += 4;
        if (Math.Max(length, 0) > span.Length - at - 4) // as in ReadString
        {
            throw new InvalidDataException("An event record's text runs past its end.");
        }

        at += Math.Max(length, 0);
    }

    private static string? ReadString(ReadOnlySpan<byte> span, ref int at)
    {
        var length = BinaryPrimitives.ReadInt32LittleEndian(span[at..]);
        at += 4;
        if (Math.Max(length, 0) > span.Length - at - 4) // a text (or its absence) is followed by at least the next length
        {
            throw new InvalidDataException("An event record's text runs past its end.");
        }

        if (length < 0)
        {
            return null;
        }

        var value = Encoding.UTF8.GetString(span.Slice(at, length));
        at += length;
        return value;
    }
}
