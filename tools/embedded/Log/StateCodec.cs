using System.Text.Json;
using CtMparticle.Storage;
using CtMparticle.Tracking;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// The consent, order-context and identity-decision values of the log's records, written field by field with
/// <see cref="BinaryWriter"/> and read with a <see cref="PayloadCursor"/>. Until 2026-12-07 they were kept as
/// <see cref="RelayJsonContext"/>'s JSON, and every ingest and push read some back from it, inside the log's lock:
/// most of such a read's time, in a string or a copy of the record. Records of that time are still read (the JSON
/// path below); a compaction writes their consent again in this form, an order's next save its context and an event's
/// next decision its decision. A field
/// added to one of these types must be added here too; <c>StateCodecTests</c> lists the fields it knows and fails
/// first when a type changes.
/// </summary>
internal static class StateCodec
{
    /// <summary>The first byte of an order context or a decision in this form (their JSON starts with <c>{</c>).</summary>
    private const byte Format = 1;

    public static void WriteConsent(BinaryWriter writer, ConsentSnapshot consent)
    {
        WriteMap(writer, consent.Gdpr, WritePurpose);
        WriteOptional(writer, consent.CcpaDataSaleOptOut, WritePurpose);
    }

    /// <exception cref="InvalidDataException">The bytes are not a consent as <see cref="WriteConsent"/> wrote it.</exception>
    public static ConsentSnapshot ReadConsent(ref PayloadCursor reader)
    {
        var count = reader.Int32();
        if (count < 0 || count > reader.Remaining)
        {
            throw new InvalidDataException($"A consent states {count} purposes in {reader.Remaining} bytes; the log is damaged.");
        }

        var gdpr = new Dictionary<string, ConsentPurpose>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            // Two names that UTF-8 cannot tell apart (lone surrogates) become one, the later winning, as the JSON did.
            gdpr[reader.String()] = ReadPurpose(ref reader);
        }

        var ccpa = reader.Boolean() ? ReadPurpose(ref reader) : null;
        return new ConsentSnapshot(gdpr, ccpa);
    }

    /// <summary>An order context's bytes for an <see cref="OrderRecord"/> (a new array: the record's own encode reuses the thread's scratch).</summary>
    public static byte[] EncodeContext(OrderContext context)
    {
        var writer = BeginValue();
        RecordCodec.WriteOptional(writer, context.ProjectKey);
        writer.Write(context.OrderId);
        RecordCodec.WriteOptional(writer, context.OrderNumber);
        RecordCodec.WriteOptional(writer, context.StoreKey);
        writer.Write(context.Currency);
        RecordCodec.WriteOptional(writer, context.Locale);
        WriteUser(writer, context.User);
        WriteOptional(writer, context.Region, static (w, region) =>
        {
            w.Write(region.Country);
            RecordCodec.WriteOptional(w, region.State);
            w.Write(region.SubdivisionUnknown);
        });

        RecordCodec.WriteOptional(writer, context.Channel);
        writer.Write(context.PaymentIds.Count);
        foreach (var payment in context.PaymentIds)
        {
            writer.Write(payment);
        }

        WriteMap(writer, context.Lines, WriteLine);
        WriteOptional(writer, context.Consent, WriteConsent);

        writer.Write(context.Version);
        return RecordCodec.EndValue();
    }

    /// <summary>An order context from an <see cref="OrderRecord"/>'s bytes: this form, or the JSON of a record written before it.</summary>
    /// <exception cref="InvalidDataException">The bytes are neither.</exception>
    public static OrderContext DecodeContext(ReadOnlySpan<byte> bytes) => Decode(bytes, RelayJsonContext.Default.OrderContext, "An order context", ReadContext);

    private static OrderContext ReadContext(ref PayloadCursor reader)
    {
        var (projectKey, orderId, orderNumber, storeKey, currency, locale) =
            (reader.OptionalString(), reader.String(), reader.OptionalString(), reader.OptionalString(), reader.String(), reader.OptionalString());
        var user = ReadUser(ref reader);
        var region = reader.Boolean() ? new Region(reader.String(), reader.OptionalString()) { SubdivisionUnknown = reader.Boolean() } : null;
        var channel = reader.OptionalString();
        var payments = new string[Count(ref reader, "payments")];
        for (var i = 0; i < payments.Length; i++)
        {
            payments[i] = reader.String();
        }

        var count = Count(ref reader, "lines");
        var lines = new Dictionary<string, ProductLine>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            lines[reader.String()] = ReadLine(ref reader);
        }

        var consent = reader.Boolean() ? ReadConsent(ref reader) : null;
        return new OrderContext(projectKey, orderId, orderNumber, storeKey, currency, locale, user, region, channel, payments, lines, consent, reader.Int64());
    }

    /// <summary>An identity decision's bytes for a <see cref="DecisionRecord"/> (a new array).</summary>
    public static byte[] EncodeDecision(IdentityDecision decision)
    {
        var writer = BeginValue();
        writer.Write(decision.EventId.ToByteArray());
        writer.Write(decision.EventName);
        WriteTime(writer, decision.DecidedAt);
        writer.Write(decision.RulesVersion);
        writer.Write(decision.Regime);
        writer.Write(decision.Choices.Count);
        foreach (var choice in decision.Choices)
        {
            writer.Write(choice.Type);
            writer.Write(choice.Value);
            writer.Write(choice.Sent);
            writer.Write(choice.Rule);
        }

        return RecordCodec.EndValue();
    }

    /// <summary>An identity decision from a <see cref="DecisionRecord"/>'s bytes: this form, or the JSON of a record written before it.</summary>
    /// <exception cref="InvalidDataException">The bytes are neither.</exception>
    public static IdentityDecision DecodeDecision(ReadOnlySpan<byte> bytes) =>
        Decode(bytes, RelayJsonContext.Default.IdentityDecision, "An identity decision", ReadDecision);

    private static IdentityDecision ReadDecision(ref PayloadCursor reader)
    {
        var (eventId, eventName, decidedAt, rulesVersion, regime) = (reader.Guid(), reader.String(), ReadTime(ref reader), reader.String(), reader.String());
        var choices = new IdentityChoice[Count(ref reader, "choices", "An identity decision")];
        for (var i = 0; i < choices.Length; i++)
        {
            choices[i] = new IdentityChoice(reader.String(), reader.String(), reader.Boolean(), reader.String());
        }

        return new IdentityDecision(eventId, eventName, decidedAt, rulesVersion, regime, choices);
    }

    private delegate T ValueReader<T>(ref PayloadCursor reader);

    /// <summary>A value in this form (its first byte <see cref="Format"/>, all its bytes read), or else its JSON.</summary>
    private static T Decode<T>(ReadOnlySpan<byte> bytes, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> json, string what, ValueReader<T> read)
    {
        if (bytes.IsEmpty || bytes[0] != Format)
        {
            return FromJson(bytes, json, what);
        }

        var reader = new PayloadCursor(bytes[1..], what);
        var value = read(ref reader);
        reader.End();
        return value;
    }

    /// <summary>A value of a record written before 2026-12-07, as <see cref="RelayJsonContext"/> serialized it.</summary>
    /// <exception cref="InvalidDataException">It is not that JSON.</exception>
    public static T FromJson<T>(ReadOnlySpan<byte> json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, string what)
    {
        try
        {
            return JsonSerializer.Deserialize(json, type) ?? throw new InvalidDataException($"{what} is JSON null; the log is damaged.");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{what}'s JSON cannot be read ({ex.Message}); the log is damaged.", ex);
        }
    }

    /// <summary>A map's count, then each key and its value.</summary>
    private static void WriteMap<T>(BinaryWriter writer, IReadOnlyDictionary<string, T> map, Action<BinaryWriter, T> write)
    {
        writer.Write(map.Count);
        foreach (var (key, value) in map)
        {
            writer.Write(key);
            write(writer, value);
        }
    }

    /// <summary>Whether the value is there, then the value if it is.</summary>
    private static void WriteOptional<T>(BinaryWriter writer, T? value, Action<BinaryWriter, T> write)
        where T : class
    {
        writer.Write(value is not null);
        if (value is not null)
        {
            write(writer, value);
        }
    }

    private static int Count(ref PayloadCursor reader, string items, string of = "An order context")
    {
        var count = reader.Int32();
        return count >= 0 && count <= reader.Remaining
            ? count
            : throw new InvalidDataException($"{of} counts {count} {items} in {reader.Remaining} bytes; the log is damaged.");
    }

    /// <summary>The thread's buffer for a value, emptied, with the value's first byte (<see cref="Format"/>) written.</summary>
    private static BinaryWriter BeginValue()
    {
        var writer = RecordCodec.BeginValue();
        writer.Write(Format);
        return writer;
    }

    private static void WritePurpose(BinaryWriter writer, ConsentPurpose purpose)
    {
        writer.Write(purpose.Consented);
        WriteTime(writer, purpose.At);
        RecordCodec.WriteOptional(writer, purpose.Document);
        RecordCodec.WriteOptional(writer, purpose.Location);
        WriteOptional(writer, purpose.Sequence);
    }

    private static ConsentPurpose ReadPurpose(ref PayloadCursor reader)
    {
        var consented = reader.Boolean();
        var at = ReadTime(ref reader);
        var (document, location) = (reader.OptionalString(), reader.OptionalString());
        return new ConsentPurpose(consented, at, document, location, ReadOptionalInt64(ref reader));
    }

    private static void WriteUser(BinaryWriter writer, UserIds user)
    {
        RecordCodec.WriteOptional(writer, user.CustomerId);
        RecordCodec.WriteOptional(writer, user.Email);
        RecordCodec.WriteOptional(writer, user.AnonymousId);
        RecordCodec.WriteOptional(writer, user.SessionId);
        WriteOptional(writer, user.Devices, static (w, devices) =>
        {
            RecordCodec.WriteOptional(w, devices.IosAdvertisingId);
            RecordCodec.WriteOptional(w, devices.IosVendorId);
            RecordCodec.WriteOptional(w, devices.AndroidAdvertisingId);
            RecordCodec.WriteOptional(w, devices.AndroidUuid);
        });
    }

    private static UserIds ReadUser(ref PayloadCursor reader)
    {
        var (customer, email, anonymous, session) = (reader.OptionalString(), reader.OptionalString(), reader.OptionalString(), reader.OptionalString());
        var devices = reader.Boolean()
            ? new DeviceIds(reader.OptionalString(), reader.OptionalString(), reader.OptionalString(), reader.OptionalString())
            : null;
        return new UserIds(customer, email, anonymous, session, devices);
    }

    private static void WriteLine(BinaryWriter writer, ProductLine line)
    {
        writer.Write(line.Sku);
        RecordCodec.WriteOptional(writer, line.Name);
        RecordCodec.WriteOptional(writer, line.Variant);
        RecordCodec.WriteOptional(writer, line.Brand);
        RecordCodec.WriteOptional(writer, line.Category);
        WriteOptional(writer, line.UnitPrice);
        writer.Write(line.Quantity);
        WriteOptional(writer, line.LineTotal);
        WriteOptional(writer, line.ListPrice);
        RecordCodec.WriteOptional(writer, line.ProductId);
    }

    private static ProductLine ReadLine(ref PayloadCursor reader)
    {
        var (sku, name, variant, brand, category) = (reader.String(), reader.OptionalString(), reader.OptionalString(), reader.OptionalString(), reader.OptionalString());
        var (unitPrice, quantity, lineTotal, listPrice) = (ReadOptionalDecimal(ref reader), reader.Int64(), ReadOptionalDecimal(ref reader), ReadOptionalDecimal(ref reader));
        return new ProductLine(sku, name, variant, brand, category, unitPrice, quantity, lineTotal, listPrice, reader.OptionalString());
    }

    private static void WriteOptional(BinaryWriter writer, long? value)
    {
        writer.Write(value.HasValue);
        writer.Write(value ?? 0);
    }

    private static long? ReadOptionalInt64(ref PayloadCursor reader)
    {
        var present = reader.Boolean();
        var value = reader.Int64();
        return present ? value : null;
    }

    private static void WriteOptional(BinaryWriter writer, decimal? value)
    {
        writer.Write(value.HasValue);
        writer.Write(value ?? 0m); // its scale too: 10.50 stays 10.50, as in the JSON
    }

    private static decimal? ReadOptionalDecimal(ref PayloadCursor reader)
    {
        var present = reader.Boolean();
        Span<int> bits = [reader.Int32(), reader.Int32(), reader.Int32(), reader.Int32()];
        try
        {
            var value = new decimal(bits);
            return present ? value : null;
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException("A decimal in an order context is not one; the log is damaged.", ex);
        }
    }

    /// <summary>A time as it was stated, with its offset, as the JSON kept it.</summary>
    private static void WriteTime(BinaryWriter writer, DateTimeOffset at)
    {
        writer.Write(at.Ticks);
        writer.Write((int)at.Offset.TotalMinutes);
    }

    private static DateTimeOffset ReadTime(ref PayloadCursor reader)
    {
        var (ticks, offsetMinutes) = (reader.Int64(), reader.Int32());
        try
        {
            return new DateTimeOffset(ticks, TimeSpan.FromMinutes(offsetMinutes));
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"A time in the log is not one ({ticks} ticks, {offsetMinutes} minutes' offset); the log is damaged.", ex);
        }
    }
}
