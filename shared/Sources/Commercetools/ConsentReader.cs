using System.Globalization;
using System.Text.Json;
using CtMparticle.Configuration;
using CtMparticle.Tracking;

namespace CtMparticle.Sources.Commercetools;

/// <summary>Reads consent from commercetools custom fields and checkout snapshots into mParticle's model.</summary>
internal static class ConsentReader
{
    /// <summary>
    /// Consent held in a customer's custom fields. Purposes whose field has no boolean value are left out,
    /// unless <paramref name="absentMeansWithdrawn"/> (the field set was replaced or removed), where they become
    /// <c>consented: false</c>: an opt-in that is no longer recorded is no longer given.
    /// </summary>
    public static ConsentSnapshot FromCustomFields(
        IReadOnlyDictionary<string, JsonElement>? fields,
        ConsentOptions options,
        DateTimeOffset messageTime,
        bool absentMeansWithdrawn,
        long? sequence = null)
    {
        var at = ReadTimestamp(fields, options.TimestampField) ?? messageTime;
        var document = ReadString(fields, options.DocumentField);
        var gdpr = new Dictionary<string, ConsentPurpose>(StringComparer.Ordinal);
        ConsentPurpose? ccpa = null;
        foreach (var field in options.EffectiveFields())
        {
            bool? value = fields is not null && fields.TryGetValue(field.Field, out var element) && element.ValueKind is JsonValueKind.True or JsonValueKind.False
                ? element.GetBoolean()
                : null;
            if (value is null && !absentMeansWithdrawn)
            {
                continue;
            }

            var consented = value is { } given ? given ^ field.Invert : field.Regulation == ConsentRegulation.Ccpa;
            var purpose = new ConsentPurpose(consented, at, document, Sequence: sequence);
            if (field.Regulation == ConsentRegulation.Ccpa)
            {
                ccpa = purpose;
            }
            else
            {
                gdpr[field.Purpose] = purpose;
            }
        }

        return new ConsentSnapshot(gdpr, ccpa);
    }

    /// <summary>One consent field changed: the purpose it means, or null when the field is not a consent field.</summary>
    public static ConsentSnapshot? FromFieldChange(string fieldName, JsonElement? value, ConsentOptions options, DateTimeOffset at, long? sequence = null)
    {
        var field = options.EffectiveFields().FirstOrDefault(f => string.Equals(f.Field, fieldName, StringComparison.Ordinal));
        if (field is null)
        {
            return null;
        }

        // A removed or non-boolean value means consent is no longer recorded: withdrawn (for CCPA: opted out).
        var consented = value is { ValueKind: JsonValueKind.True or JsonValueKind.False } v
            ? v.GetBoolean() ^ field.Invert
            : field.Regulation == ConsentRegulation.Ccpa;
        var purpose = new ConsentPurpose(consented, at, Sequence: sequence);
        return field.Regulation == ConsentRegulation.Ccpa
            ? new ConsentSnapshot(new Dictionary<string, ConsentPurpose>(), purpose)
            : new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { [field.Purpose] = purpose });
    }

    /// <summary>
    /// The checkout consent snapshot on an order: a string custom field holding a JSON object of booleans
    /// (<c>{"analytics":true,"marketingEmail":false}</c>). Null when there is none or it is not readable.
    /// </summary>
    public static ConsentSnapshot? FromOrderSnapshot(IReadOnlyDictionary<string, JsonElement>? fields, ConsentOptions options, DateTimeOffset at)
    {
        if (string.IsNullOrEmpty(options.OrderSnapshotField) || ReadString(fields, options.OrderSnapshotField) is not { } json)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 4 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            var gdpr = new Dictionary<string, ConsentPurpose>(StringComparer.Ordinal);
            ConsentPurpose? ccpa = null;
            foreach (var field in options.EffectiveFields())
            {
                if (field.SnapshotKey is null ||
                    !document.RootElement.TryGetProperty(field.SnapshotKey, out var value) ||
                    value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                {
                    continue;
                }

                var purpose = new ConsentPurpose(value.GetBoolean() ^ field.Invert, at);
                if (field.Regulation == ConsentRegulation.Ccpa)
                {
                    ccpa = purpose;
                }
                else
                {
                    gdpr[field.Purpose] = purpose;
                }
            }

            var snapshot = new ConsentSnapshot(gdpr, ccpa);
            return snapshot.IsEmpty ? null : snapshot;
        }
        catch (JsonException)
        {
            // A snapshot that is not JSON carries no usable consent; the gate then treats the purposes as not given.
            return null;
        }
    }

    internal static string? ReadString(IReadOnlyDictionary<string, JsonElement>? fields, string? name) =>
        name is not null && fields is not null && fields.TryGetValue(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    private static DateTimeOffset? ReadTimestamp(IReadOnlyDictionary<string, JsonElement>? fields, string? name) =>
        ReadString(fields, name) is { } text &&
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at
            : null;
}
