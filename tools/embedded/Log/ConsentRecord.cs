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
    public static ConsentRecord Decode(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadCursor(payload, "A consent record");
        var (userKey, previous, forgotten, json) = (reader.String(), reader.Int64(), reader.Boolean(), reader.String());
        var (country, state) = (ReadOptional(ref reader), ReadOptional(ref reader));
        var hasRegion = reader.Boolean();
        var regionTicks = reader.Int64();
        var record = new ConsentRecord(userKey, previous, forgotten, json, country, state, hasRegion ? regionTicks : null, reader.Int64());
        reader.End();
        return record;
    }

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
