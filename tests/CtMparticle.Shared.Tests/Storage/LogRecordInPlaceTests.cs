using CsCheck;
using CtMparticle.Embedded.Log;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The log's finds read a field or two of a record in place (<see cref="StateLog.Read{TState, TResult}"/>) instead of
/// decoding it. Each such read must say exactly what the full decoder says of the same payload, for any ids (non-ASCII,
/// lone surrogates, empty) and payments, and a cut payload must be refused as damage, never read past its end.
/// </summary>
public sealed class LogRecordInPlaceTests
{
    // Ids as the relay may meet them: ordinary, non-ASCII, a lone surrogate (which UTF-8 cannot hold), empty.
    private static readonly Gen<string> Id = Gen.OneOf(
        Gen.String[Gen.Char.AlphaNumeric, 0, 40],
        Gen.String[Gen.Char, 0, 12],
        Gen.Const("ü-Bestellung-ß"),
        Gen.Const("\ud800x"),
        Gen.Const("\ufffdx"));

    private static readonly Gen<OrderRecord> Order =
        Gen.Select(Id, Gen.Long, Gen.Long, Gen.Bool, Gen.Long[0, long.MaxValue], Gen.Select(Id, Gen.Long[0, long.MaxValue], (p, a) => new PaymentMapping(p, a)).Array[0, 4],
                Gen.Byte.Array[0, 300])
            .Select((id, version, saved, applied, previous, payments, json) => new OrderRecord(id, version, saved, applied, Forgotten: false, previous, payments, json));

    [Fact]
    public void OrderRecord_ReadInPlace_SaysWhatTheDecoderSays()
    {
        Gen.Select(Order, Id).Sample((record, probe) =>
        {
            var payload = record.Encode().ToArray();
            var decoded = OrderRecord.Decode(payload);

            Assert.Equal(decoded.OrderId == record.OrderId, OrderRecord.IsOf(payload, record.OrderId));
            Assert.Equal(decoded.OrderId == probe, OrderRecord.IsOf(payload, probe));
            Assert.Equal(decoded.OrderId, OrderRecord.OrderIdOf(payload));
            Assert.Equal(decoded.Version, OrderRecord.VersionOf(payload));
            Assert.Equal(decoded.Json.ToArray(), OrderRecord.JsonOf(payload).ToArray());
            Assert.Equal(decoded.Payments.Any(p => p.PaymentId == probe), OrderRecord.Maps(payload, probe));
            Assert.All(decoded.Payments, p => Assert.True(OrderRecord.Maps(payload, p.PaymentId)));
        }, iter: 2_000);
    }

    [Fact]
    public void OrderRecord_ReadInPlace_OfACutPayload_IsRefusedAsDamage()
    {
        Gen.Select(Order, Gen.Int[0, 1_000]).Sample((record, seed) =>
        {
            var payload = record.Encode().ToArray();
            var cut = payload.AsSpan(0, seed % payload.Length).ToArray(); // every shorter length, including nothing

            Assert.Throws<InvalidDataException>(() => OrderRecord.JsonOf(cut));
            Assert.Throws<InvalidDataException>(() => OrderRecord.Decode(cut));
            if (cut.Length == 0)
            {
                Assert.Throws<InvalidDataException>(() => OrderRecord.IsOf(cut, record.OrderId));
                Assert.Throws<InvalidDataException>(() => OrderRecord.VersionOf(cut));
            }
        }, iter: 2_000);
    }

    [Fact]
    public void EventRecord_JsonInPlace_IsTheDecodersJson_AndACutPayloadIsRefused()
    {
        var events = Gen.Select(Gen.Guid, Id.Null(), Id.Null(), Gen.Byte.Array[0, 400], Gen.Long[0, long.MaxValue])
            .Select((id, message, dedupe, json, previous) =>
                new EventRecord(id, EventStatus.Pending, previous, 0, 0, 1, 2, 3, 4, 5, message, dedupe, json));
        Gen.Select(events, Gen.Int[0, 1_000]).Sample((record, seed) =>
        {
            var payload = record.Encode().ToArray();
            Assert.Equal(EventRecord.Decode(payload).Json.ToArray(), EventRecord.JsonOf(payload).ToArray());
            Assert.Equal(record.EventId, EventRecord.Peek(payload).EventId);

            var cut = payload.AsSpan(0, seed % payload.Length).ToArray();
            Assert.Throws<InvalidDataException>(() => EventRecord.JsonOf(cut));
            Assert.Throws<InvalidDataException>(() => EventRecord.Decode(cut));
        }, iter: 2_000);
    }
}
