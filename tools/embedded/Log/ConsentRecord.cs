using CtMparticle.Storage;
using CtMparticle.Tracking;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// A user's consent and region as merged at one moment, or their forgetting, in the log (ADR 0007, step 3): the
/// same fields as the SQLite store's row (the consent, country, state, when the region was stated and when the state
/// was updated), and the record it replaces.
/// <para>
/// The consent is written field by field (<see cref="StateCodec"/>), not as JSON. Records written before 2026-12-07
/// hold the consent's JSON where an empty string now stands; they are still read.
/// </para>
/// </summary>
internal sealed record ConsentRecord(
    string UserKey,
    long Previous,
    bool Forgotten,
    ConsentSnapshot Consent,
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
        writer.Write(""); // where the consent's JSON was: empty says its fields follow
        StateCodec.WriteConsent(writer, Consent);
        WriteOptional(writer, Country);
        WriteOptional(writer, State);
        writer.Write(RegionTicks.HasValue);
        writer.Write(RegionTicks ?? 0);
        writer.Write(UpdatedTicks);

        return RecordCodec.End();
    }

    /// <exception cref="InvalidDataException">The payload is not a consent record.</exception>
    public static ConsentRecord Decode(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadCursor(payload, "A consent record");
        var (userKey, previous, forgotten) = (reader.String(), reader.Int64(), reader.Boolean());
        var json = reader.Utf8String();
        var consent = json.IsEmpty ? StateCodec.ReadConsent(ref reader) : StateCodec.FromJson(json, RelayJsonContext.Default.ConsentSnapshot, "A consent record's consent");
        var (country, state) = (ReadOptional(ref reader), ReadOptional(ref reader));
        var hasRegion = reader.Boolean();
        var regionTicks = reader.Int64();
        var record = new ConsentRecord(userKey, previous, forgotten, consent, country, state, hasRegion ? regionTicks : null, reader.Int64());
        reader.End();
        return record;
    }

    // Consent records have always written an absent string as a flag and an empty string (records of form 1 too).
    private static void WriteOptional(BinaryWriter writer, string? value)
    {
        writer.Write(value is not null);
        writer.Write(value ?? "");
    }

    private static string? ReadOptional(ref PayloadCursor reader)
    {
        var present = reader.Boolean();
        var value = reader.String();
        return present ? value : null;
    }
}
