using System.Text;

namespace CtMparticle.Embedded.Log;

/// <summary>A payment id a save maps to its order, and the record that mapped it before (0: none).</summary>
internal readonly record struct PaymentMapping(string PaymentId, long Previous);

/// <summary>
/// One save of an order's context, or its forgetting, in the log (ADR 0007, step 3). A save that is not older than
/// the stored context is <see cref="Applied"/>: it becomes the order's context and names the record it replaces
/// (<see cref="Previous"/>). Every save maps its payment ids to the order, applied or not, as the SQLite store's
/// payment table does; each mapping names the record that held it before, so a replay rebuilds the indexes without
/// reading a record. A forgetting (retention) names the order's last context and the mappings it drops. The context
/// is <see cref="StateCodec"/>'s bytes (its JSON in records written before 2026-12-07).
/// </summary>
internal sealed record OrderRecord(
    string OrderId,
    long Version,
    long SavedTicks,
    bool Applied,
    bool Forgotten,
    long Previous,
    IReadOnlyList<PaymentMapping> Payments,
    ReadOnlyMemory<byte> Context)
{
    public const byte Kind = 2;

    public ReadOnlyMemory<byte> Encode()
    {
        var writer = RecordCodec.Begin();
        writer.Write(OrderId);
        writer.Write(Version);
        writer.Write(SavedTicks);
        writer.Write((byte)((Applied ? 1 : 0) | (Forgotten ? 2 : 0)));
        writer.Write(Previous);
        writer.Write(Payments.Count);
        foreach (var payment in Payments)
        {
            writer.Write(payment.PaymentId);
            writer.Write(payment.Previous);
        }

        writer.Write(Context.Length);
        writer.Write(Context.Span);

        return RecordCodec.End();
    }

    /// <summary>Whether the record in place is <paramref name="orderId"/>'s (a find's key check), without decoding it.</summary>
    /// <exception cref="InvalidDataException">The payload is not an order record.</exception>
    public static bool IsOf(ReadOnlySpan<byte> payload, string orderId) => PayloadCursor.Matches(Cursor(payload).Utf8String(), orderId);

    /// <summary>The order id alone, read in place.</summary>
    /// <exception cref="InvalidDataException">The payload is not an order record.</exception>
    public static string OrderIdOf(ReadOnlySpan<byte> payload) => Encoding.UTF8.GetString(Cursor(payload).Utf8String());

    /// <summary>The version alone, read in place.</summary>
    /// <exception cref="InvalidDataException">The payload is not an order record.</exception>
    public static long VersionOf(ReadOnlySpan<byte> payload)
    {
        var cursor = Cursor(payload);
        cursor.Utf8String();
        return cursor.Int64();
    }

    /// <summary>Whether the record in place maps <paramref name="paymentId"/> to its order, without decoding it.</summary>
    /// <exception cref="InvalidDataException">The payload is not an order record.</exception>
    public static bool Maps(ReadOnlySpan<byte> payload, string paymentId)
    {
        var cursor = Cursor(payload);
        var count = ToPayments(ref cursor);
        for (var i = 0; i < count; i++)
        {
            if (PayloadCursor.Matches(cursor.Utf8String(), paymentId))
            {
                return true;
            }

            cursor.Int64();
        }

        return false;
    }

    /// <summary>The context's bytes alone (<see cref="StateCodec.DecodeContext"/>), in place (empty for a save that was not applied, and for a forgetting).</summary>
    /// <exception cref="InvalidDataException">The payload is not an order record.</exception>
    public static ReadOnlySpan<byte> ContextOf(ReadOnlySpan<byte> payload)
    {
        var cursor = Cursor(payload);
        var count = ToPayments(ref cursor);
        for (var i = 0; i < count; i++)
        {
            cursor.Utf8String();
            cursor.Int64();
        }

        var length = cursor.Int32();
        return length >= 0 && cursor.Position + length == payload.Length
            ? payload[cursor.Position..]
            : throw new InvalidDataException("An order record's context does not fill the rest of it.");
    }

    private static PayloadCursor Cursor(ReadOnlySpan<byte> payload) => new(payload, "An order record");

    /// <summary>Moves past the fields before the payments; returns their count.</summary>
    private static int ToPayments(ref PayloadCursor cursor)
    {
        cursor.Utf8String(); // the order id
        cursor.Take((2 * sizeof(long)) + 1 + sizeof(long)); // version, save time, flags, previous
        var count = cursor.Int32();
        return count >= 0 ? count : throw new InvalidDataException("An order record counts fewer than no payments.");
    }

    /// <exception cref="InvalidDataException">The payload is not an order record.</exception>
    public static OrderRecord Decode(ReadOnlyMemory<byte> payload)
    {
        var reader = Cursor(payload.Span);
        var (orderId, version, saved, flags, previous) = (reader.String(), reader.Int64(), reader.Int64(), reader.Byte(), reader.Int64());
        var count = reader.Int32();
        if (count < 0 || count > reader.Remaining)
        {
            throw new InvalidDataException("An order record counts more payments than it holds.");
        }

        var payments = new PaymentMapping[count];
        for (var i = 0; i < count; i++)
        {
            payments[i] = new PaymentMapping(reader.String(), reader.Int64());
        }

        var length = reader.Int32();
        var at = reader.Position;
        if (length < 0 || at + length != payload.Length)
        {
            throw new InvalidDataException("An order record's context does not fill the rest of it.");
        }

        return new OrderRecord(orderId, version, saved, (flags & 1) != 0, (flags & 2) != 0, previous, payments, payload.Slice(at, length));
    }
}
