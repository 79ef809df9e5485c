using CsCheck;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using CtMparticle.Tracking;

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

    /// <summary>
    /// A repeated string (a link's type, the rules' version) is given from a small table of those decoded before: it
    /// must read as the plain decode does for any bytes, when the table's slots collide and the bytes are not UTF-8.
    /// </summary>
    [Fact]
    public void ARepeatedString_ReadsAsThePlainDecodeDoes_WhateverWasReadBefore()
    {
        var value = Gen.OneOf(Gen.String[0, 12], Gen.Const("email_sha256"), Gen.Const("customer_id"), Gen.Const("anonymous_id"));
        var bytes = Gen.OneOf(value.Select(v => System.Text.Encoding.UTF8.GetBytes(v)), Gen.Byte.Array[0, 8]);
        bytes.Array[1, 200].Sample(all =>
        {
            using var written = new MemoryStream();
            using (var writer = new BinaryWriter(written, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                foreach (var b in all)
                {
                    writer.Write7BitEncodedInt(b.Length);
                    writer.Write(b);
                }
            }

            var payload = written.ToArray();
            var plain = new PayloadCursor(payload, "a test payload");
            var repeated = new PayloadCursor(payload, "a test payload");
            foreach (var _ in all)
            {
                Assert.Equal(plain.String(), repeated.RepeatedString());
            }
        }, iter: 300);
    }

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
            Assert.Equal(decoded.Context.ToArray(), OrderRecord.ContextOf(payload).ToArray());
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

            Assert.Throws<InvalidDataException>(() => OrderRecord.ContextOf(cut));
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

    // What a text reads back as once written in UTF-8 (a lone surrogate becomes U+FFFD): names equal so are one purpose.
    private static string AsWritten(string text) => System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(text));

    // Texts past 127 UTF-8 bytes take a two-byte length: the span reader must read BinaryWriter's 7-bit lengths as BinaryReader did.
    private static readonly Gen<string> Text = Gen.OneOf(Id, Gen.String[Gen.Char, 100, 400]);

    /// <summary>
    /// The keyed records are written by <see cref="BinaryWriter"/> and read from a span. Each must read back exactly
    /// what was written: decoded and encoded again, the bytes are the same. One byte more or any byte fewer is damage.
    /// </summary>
    [Fact]
    public void KeyedRecords_ReadFromASpan_GiveBackWhatBinaryWriterWrote_AndRefuseCutOrPaddedPayloads()
    {
        var link = Gen.Select(Gen.Long[0, long.MaxValue], Gen.Bool, Gen.Select(Text, Text, Text, Gen.Guid, Gen.Long[0, DateTimeOffset.MaxValue.UtcTicks], Gen.Int[0, 2], Text))
            .Select((previous, forgotten, l) => new LinkRecord(previous, forgotten,
                new IdentityLink(l.Item1, l.Item2, l.Item3, l.Item4, new DateTimeOffset(l.Item5, TimeSpan.Zero), new DateTimeOffset(l.Item5, TimeSpan.Zero), (LinkState)l.Item6, l.Item7)));
        var input = Gen.Select(Gen.Long, Gen.Long, Text, Text.Null(), Text.Null(), Text, Text.Null())
            .Select(Gen.Select(Text, Text.Null(), Gen.Long, Gen.Guid.Array[0, 5], Text.Array[0, 4], Text.Null()), (a, b) =>
                new InputRecord(0, a.Item1, a.Item2, a.Item3, a.Item4, a.Item5, a.Item6, a.Item7, b.Item1, b.Item2, b.Item3, b.Item4, b.Item5, b.Item6));
        // Any instant with any whole-minute offset a DateTimeOffset takes (±14 hours), as the consent's JSON kept them.
        var at = Gen.Select(Gen.Long[TimeSpan.TicksPerDay, DateTime.MaxValue.Ticks - TimeSpan.TicksPerDay], Gen.Int[-840, 840])
            .Select((ticks, minutes) => new DateTimeOffset(ticks, TimeSpan.FromMinutes(minutes)));
        var purpose = Gen.Select(Gen.Bool, at, Text.Null(), Text.Null(), Gen.Long.Nullable())
            .Select((consented, when, document, location, sequence) => new ConsentPurpose(consented, when, document, location, sequence));
        var snapshot = Gen.Select(Gen.Select(Text, purpose).Array[0, 4], purpose.Null())
            .Select((gdpr, ccpa) => new ConsentSnapshot(gdpr.DistinctBy(p => AsWritten(p.Item1)).ToDictionary(p => p.Item1, p => p.Item2), ccpa));
        var consent = Gen.Select(Text, Gen.Long, Gen.Bool, snapshot, Text.Null(), Text.Null(), Gen.Long.Nullable(), Gen.Long)
            .Select((user, previous, forgotten, state, country, subdivision, region, updated) => new ConsentRecord(user, previous, forgotten, state, country, subdivision, region, updated));
        var cases = Gen.OneOf(
            link.Select(r => (Encode: (Func<byte[]>)(() => r.Encode().ToArray()), Decode: (Func<byte[], byte[]>)(p => LinkRecord.Decode(p).Encode().ToArray()))),
            Gen.Select(Gen.Long, Gen.Bool, Text, Gen.Guid, Gen.Long).Select((previous, forgotten, customer, id, at) => new WithheldRecord(previous, forgotten, customer, id, at))
                .Select(r => (Encode: (Func<byte[]>)(() => r.Encode().ToArray()), Decode: (Func<byte[], byte[]>)(p => WithheldRecord.Decode(p).Encode().ToArray()))),
            Gen.Select(Gen.Long, Gen.Bool, Gen.Guid, Gen.Long, Gen.Byte.Array[0, 300]).Select((previous, forgotten, id, at, json) => new DecisionRecord(previous, forgotten, id, at, json))
                .Select(r => (Encode: (Func<byte[]>)(() => r.Encode().ToArray()), Decode: (Func<byte[], byte[]>)(p => DecisionRecord.Decode(p).Encode().ToArray()))),
            Gen.Select(Gen.Long, Text, Text).Select((previous, name, value) => new CheckpointRecord(previous, name, value))
                .Select(r => (Encode: (Func<byte[]>)(() => r.Encode().ToArray()), Decode: (Func<byte[], byte[]>)(p => CheckpointRecord.Decode(p).Encode().ToArray()))),
            input.Select(r => (Encode: (Func<byte[]>)(() => r.Encode().ToArray()), Decode: (Func<byte[], byte[]>)(p => InputRecord.Decode(p).Encode().ToArray()))),
            consent.Select(r => (Encode: (Func<byte[]>)(() => r.Encode().ToArray()), Decode: (Func<byte[], byte[]>)(p => ConsentRecord.Decode(p).Encode().ToArray()))),
            Order.Select(r => (Encode: (Func<byte[]>)(() => r.Encode().ToArray()), Decode: (Func<byte[], byte[]>)(p => OrderRecord.Decode(p).Encode().ToArray()))));

        Gen.Select(cases, Gen.Int[0, 10_000]).Sample((record, seed) =>
        {
            var payload = record.Encode();
            Assert.Equal(payload, record.Decode(payload));
            Assert.Throws<InvalidDataException>(() => record.Decode(payload.AsSpan(0, seed % payload.Length).ToArray()));
            Assert.Throws<InvalidDataException>(() => record.Decode([.. payload, 0]));
        }, iter: 3_000);
    }
}
