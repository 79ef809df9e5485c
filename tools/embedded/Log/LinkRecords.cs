using CtMparticle.Storage;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// Identity's records in the log (ADR 0007, step 4): a link's state as recorded or changed, an event withheld from
/// link capture, an event's identity decision; each names the record of the same key it replaces, and a forgetting
/// (deletion, retention) names the one it drops.
/// </summary>
internal static class LinkRecords
{
    public const byte LinkKind = 4;
    public const byte WithheldKind = 5;
    public const byte DecisionKind = 6;
}

/// <summary>A link as stored (<see cref="IdentityLink"/>), or its forgetting.</summary>
internal sealed record LinkRecord(long Previous, bool Forgotten, IdentityLink Link)
{
    public string Key => LinkKey(Link.CustomerId, Link.Type, Link.Value);

    public static string LinkKey(string customerId, string type, string value) => $"{customerId}\u0000{type}\u0000{value}";

    public ReadOnlyMemory<byte> Encode() => RecordCodec.Encode(Previous, Forgotten, writer =>
    {
        writer.Write(Link.CustomerId);
        writer.Write(Link.Type);
        writer.Write(Link.Value);
        writer.Write(Link.SourceEventId.ToByteArray());
        writer.Write(Link.FirstSeen.UtcTicks);
        writer.Write(Link.LastSeen.UtcTicks);
        writer.Write((byte)Link.State);
        writer.Write(Link.RulesVersion);
    });

    public static LinkRecord Decode(ReadOnlySpan<byte> payload) => RecordCodec.Decode(payload, static (long previous, bool forgotten, ref PayloadCursor reader) =>
        new LinkRecord(previous, forgotten, new IdentityLink(reader.String(), reader.RepeatedString(), reader.String(), reader.Guid(),
            new DateTimeOffset(reader.Int64(), TimeSpan.Zero), new DateTimeOffset(reader.Int64(), TimeSpan.Zero), State(reader.Byte()), reader.RepeatedString())));

    private static LinkState State(byte value) =>
        Enum.IsDefined((LinkState)value) ? (LinkState)value : throw new InvalidDataException($"A link record holds the unknown state {value}.");
}

/// <summary>A customer's event withheld from link capture (<see cref="IIdentityLinkStore.RecordWithheldAsync"/>), or its forgetting.</summary>
internal sealed record WithheldRecord(long Previous, bool Forgotten, string CustomerId, Guid EventId, long AtTicks)
{
    public string Key => WithheldKey(CustomerId, EventId);

    public static string WithheldKey(string customerId, Guid eventId) => $"{customerId}\u0000{eventId:N}";

    public ReadOnlyMemory<byte> Encode() => RecordCodec.Encode(Previous, Forgotten, writer =>
    {
        writer.Write(CustomerId);
        writer.Write(EventId.ToByteArray());
        writer.Write(AtTicks);
    });

    public static WithheldRecord Decode(ReadOnlySpan<byte> payload) => RecordCodec.Decode(payload, static (long previous, bool forgotten, ref PayloadCursor reader) =>
        new WithheldRecord(previous, forgotten, reader.String(), reader.Guid(), reader.Int64()));
}

/// <summary>
/// An event's identity decision (<see cref="IdentityDecision"/>, in <see cref="StateCodec"/>'s form, or its JSON in
/// records written before 2026-12-07), or its forgetting (no decision).
/// </summary>
internal sealed record DecisionRecord(long Previous, bool Forgotten, Guid EventId, long DecidedTicks, byte[] Decision)
{
    public ReadOnlyMemory<byte> Encode() => RecordCodec.Encode(Previous, Forgotten, writer =>
    {
        writer.Write(EventId.ToByteArray());
        writer.Write(DecidedTicks);
        writer.Write(Decision.Length);
        writer.Write(Decision);
    });

    public static DecisionRecord Decode(ReadOnlySpan<byte> payload) => RecordCodec.Decode(payload, static (long previous, bool forgotten, ref PayloadCursor reader) =>
        new DecisionRecord(previous, forgotten, reader.Guid(), reader.Int64(), reader.Bytes(reader.Int32())));
}
