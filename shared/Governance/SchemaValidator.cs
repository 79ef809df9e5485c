using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace CtMparticle.Governance;

/// <summary>One validation error, shaped like mParticle's (<c>validation_error_type</c>, <c>key</c>, <c>error_pointer</c>, ...).</summary>
internal sealed record PlanValidationError(
    string ValidationErrorType,
    string? Key,
    string ErrorPointer,
    string? Expected,
    string? Actual,
    string? SchemaKeyword);

/// <summary>
/// The JSON Schema subset mParticle's data plans accept (draft-07 keywords without composition or references),
/// evaluated with the semantics of mParticle's local validator (ajv 6, all errors, JSON pointers): errors are reported
/// at the same places, with the same keys and the same <c>validation_error_type</c> mapping. See docs/adr/0004.
/// </summary>
internal static partial class SchemaValidator
{
    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    /// <summary>Validates a node (a batch file's, a test's); absent data is checked as an empty object that shows no values.</summary>
    public static IReadOnlyList<PlanValidationError> Validate(JsonNode? data, JsonNode schema)
    {
        if (data is null)
        {
            return Validate((JsonElement?)null, schema);
        }

        using var document = JsonDocument.Parse(data.ToJsonString());
        return Validate(document.RootElement, schema);
    }

    /// <summary>
    /// Validates parsed JSON (an event as the batch builder writes it) without building a node of every value: the
    /// check walks the elements. Absent data is checked as an empty object that shows no values.
    /// </summary>
    public static IReadOnlyList<PlanValidationError> Validate(JsonElement? data, JsonNode schema) => Validate(data, CompiledSchema.Of(schema));

    /// <summary>The same, against a schema read once (a plan's data point keeps its own: <see cref="DataPoint.Compiled"/>).</summary>
    public static IReadOnlyList<PlanValidationError> Validate(JsonElement? data, CompiledSchema schema)
    {
        // What mParticle's validator sees is the data without the null members of its objects (Clean). Rather than
        // copying it without them, the check passes over them where that copy would not have them (the objects reached
        // through objects only): the same errors, without a copy of every event it checks.
        var errors = new List<PlanValidationError>();
        if (data is { } present)
        {
            Check(present, schema, [], present, errors, cleaned: true);
        }
        else
        {
            Check(EmptyObject, schema, [], original: null, errors, cleaned: true);
        }

        return errors;
    }

    /// <summary>mParticle's validator drops null members of objects (not inside arrays) before validating.</summary>
    internal static JsonNode? Clean(JsonNode? node)
    {
        if (node is JsonObject obj)
        {
            var clean = new JsonObject();
            foreach (var (key, value) in obj)
            {
                if (value is null)
                {
                    continue;
                }

                clean[key] = value is JsonObject ? Clean(value) : value.DeepClone();
            }

            return clean;
        }

        return node?.DeepClone() ?? new JsonObject();
    }

    /// <param name="cleaned">Whether <paramref name="data"/> stands for its copy without null members (an object reached from the root through objects only).</param>
    private static void Check(JsonElement data, CompiledSchema schema, List<string> path, JsonElement? original, List<PlanValidationError> errors, bool cleaned)
    {
        if (schema.TypeKinds is { } kinds && !MatchesType(data, kinds))
        {
            var type = schema.Type;
            var names = type is JsonArray array ? string.Join(",", array.Select(t => (string?)t)) : (string?)type;
            Add(errors, "invalid_value", path, $"should be {names}", original, "type");
        }

        if (schema.Enum is { } allowed && !AnySameValue(allowed, data, cleaned))
        {
            Add(errors, "invalid_value", path, "should be equal to one of the allowed values", original, "enum");
        }

        if (schema.HasConst && !SameValue(schema.Const, data, cleaned))
        {
            Add(errors, "invalid_value", path, "should be equal to constant", original, "const");
        }

        switch (data.ValueKind)
        {
            case JsonValueKind.Number:
                CheckNumber(data, schema, path, original, errors);
                break;
            case JsonValueKind.String:
                CheckString(data, schema, path, original, errors);
                break;
            case JsonValueKind.Array:
                CheckArray(data, schema, path, original, errors);
                break;
            case JsonValueKind.Object:
                CheckObject(data, schema, path, original, errors, cleaned);
                break;
        }
    }

    /// <summary>
    /// Whether one of the allowed values equals the data. A loop, not <c>Any</c> with a lambda: that lambda's closure over
    /// the data would be allocated on every call of <see cref="Check"/>, which runs for each value of each event.
    /// </summary>
    private static bool AnySameValue(JsonArray allowed, JsonElement data, bool cleaned)
    {
        foreach (var value in allowed)
        {
            if (SameValue(value, data, cleaned))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>JSON equality of a schema's value and the data (as cleaned where it stands for its cleaned copy).</summary>
    private static bool SameValue(JsonNode? expected, JsonElement data, bool cleaned) => data.ValueKind switch
    {
        JsonValueKind.Null => expected is null || expected.GetValueKind() == JsonValueKind.Null,
        JsonValueKind.String => expected is JsonValue value && value.GetValueKind() == JsonValueKind.String && data.ValueEquals(value.GetValue<string>()),
        JsonValueKind.Object when cleaned => JsonNode.DeepEquals(expected, Clean(JsonNode.Parse(data.GetRawText()))),
        _ => JsonNode.DeepEquals(expected, JsonNode.Parse(data.GetRawText())),
    };

    private static void CheckNumber(JsonElement number, CompiledSchema schema, List<string> path, JsonElement? original, List<PlanValidationError> errors)
    {
        if (!schema.Minimum.Present && !schema.Maximum.Present && !schema.ExclusiveMinimum.Present && !schema.ExclusiveMaximum.Present && !schema.MultipleOf.Present)
        {
            return; // nothing to check a number's value against (most are only typed)
        }

        var value = AsDecimal(number);
        if (schema.Minimum.Value is { } min && value < min)
        {
            Add(errors, "invalid_value", path, $"should be >= {Format(min)}", original, "minimum");
        }

        if (schema.Maximum.Value is { } max && value > max)
        {
            Add(errors, "invalid_value", path, $"should be <= {Format(max)}", original, "maximum");
        }

        if (schema.ExclusiveMinimum.Value is { } xmin && value <= xmin)
        {
            Add(errors, "invalid_value", path, $"should be > {Format(xmin)}", original, "exclusiveMinimum");
        }

        if (schema.ExclusiveMaximum.Value is { } xmax && value >= xmax)
        {
            Add(errors, "invalid_value", path, $"should be < {Format(xmax)}", original, "exclusiveMaximum");
        }

        if (schema.MultipleOf.Value is { } step && step != 0 && value % step != 0)
        {
            Add(errors, "invalid_value", path, $"should be multiple of {Format(step)}", original, "multipleOf");
        }
    }

    private static void CheckString(JsonElement text, CompiledSchema schema, List<string> path, JsonElement? original, List<PlanValidationError> errors)
    {
        if (!schema.ChecksText)
        {
            return; // nothing to check a string's text against (most are only typed)
        }

        var (min, max) = (schema.MinLength.Value, schema.MaxLength.Value);
        var value = text.GetString()!;
        var length = min is null && max is null ? 0 : value.EnumerateRunes().Count();
        if (min is not null && length < min)
        {
            Add(errors, "invalid_value", path, $"should NOT be shorter than {Format(min.Value)} characters", original, "minLength");
        }

        if (max is not null && length > max)
        {
            Add(errors, "invalid_value", path, $"should NOT be longer than {Format(max.Value)} characters", original, "maxLength");
        }

        if (schema.Pattern is { } regex && !schema.MatchesPattern(value))
        {
            Add(errors, "invalid_value", path, $"should match pattern \"{regex}\"", original, "pattern");
        }

        if (schema.FormatCheck is { } check && !check(value))
        {
            Add(errors, "invalid_value", path, $"should match format \"{schema.Format}\"", original, "format");
        }
    }

    private static void CheckArray(JsonElement value, CompiledSchema schema, List<string> path, JsonElement? original, List<PlanValidationError> errors)
    {
        var count = value.GetArrayLength();
        if (schema.MinItems.Value is { } min && count < min)
        {
            Add(errors, "invalid_value", path, $"should NOT have fewer than {Format(min)} items", original, "minItems");
        }

        if (schema.MaxItems.Value is { } max && count > max)
        {
            Add(errors, "invalid_value", path, $"should NOT have more than {Format(max)} items", original, "maxItems");
        }

        if (schema.Items is { } items)
        {
            var i = 0;
            foreach (var item in value.EnumerateArray())
            {
                path.Add((i++).ToString(CultureInfo.InvariantCulture));
                Check(item, items, path, original, errors, cleaned: false); // the cleaning leaves arrays as they are
                path.RemoveAt(path.Count - 1);
            }
        }
    }

    private static void CheckObject(JsonElement value, CompiledSchema schema, List<string> path, JsonElement? original, List<PlanValidationError> errors, bool cleaned)
    {
        var (min, max) = (schema.MinProperties.Value, schema.MaxProperties.Value);
        var count = min is null && max is null ? 0 : CountMembers(value, cleaned);
        if (min is not null && count < min)
        {
            Add(errors, "invalid_value", path, $"should NOT have fewer than {Format(min.Value)} properties", original, "minProperties");
        }

        if (max is not null && count > max)
        {
            Add(errors, "invalid_value", path, $"should NOT have more than {Format(max.Value)} properties", original, "maxProperties");
        }

        foreach (var name in schema.Required)
        {
            if (!value.TryGetProperty(name, out var present) || (cleaned && present.ValueKind == JsonValueKind.Null))
            {
                errors.Add(new PlanValidationError("missing_required", path.Count > 0 ? path[^1] : null, Pointer(path), name, null, "required"));
            }
        }

        foreach (var member in value.EnumerateObject())
        {
            var item = member.Value;
            if (cleaned && item.ValueKind == JsonValueKind.Null)
            {
                continue; // not in what mParticle's validator checks
            }

            var (planned, name, memberSchema) = schema.Member(member);
            if (memberSchema is not null)
            {
                path.Add(name);
                Check(item, memberSchema, path, original, errors, cleaned && item.ValueKind == JsonValueKind.Object);
                path.RemoveAt(path.Count - 1);
            }
            else if (!planned && schema.AdditionalRefused)
            {
                errors.Add(new PlanValidationError("unplanned", name, Pointer(path), null, name, "additionalProperties"));
            }
            else if (!planned && schema.Additional is { } additional)
            {
                path.Add(name);
                Check(item, additional, path, original, errors, cleaned && item.ValueKind == JsonValueKind.Object);
                path.RemoveAt(path.Count - 1);
            }
        }
    }

    /// <summary>The members the check sees (without null ones where the data stands for its cleaned copy); a loop, as in <see cref="AnySameValue"/>.</summary>
    private static int CountMembers(JsonElement value, bool cleaned)
    {
        var count = 0;
        foreach (var member in value.EnumerateObject())
        {
            count += !cleaned || member.Value.ValueKind != JsonValueKind.Null ? 1 : 0;
        }

        return count;
    }

    private static bool MatchesType(JsonElement data, CompiledSchema.Kind kinds) =>
        (kinds & CompiledSchema.Kind.Any) != 0 || data.ValueKind switch
        {
            JsonValueKind.String => (kinds & CompiledSchema.Kind.String) != 0,
            JsonValueKind.Number => (kinds & CompiledSchema.Kind.Number) != 0 || ((kinds & CompiledSchema.Kind.Integer) != 0 && AsDecimal(data) % 1 == 0),
            JsonValueKind.True or JsonValueKind.False => (kinds & CompiledSchema.Kind.Boolean) != 0,
            JsonValueKind.Object => (kinds & CompiledSchema.Kind.Object) != 0,
            JsonValueKind.Array => (kinds & CompiledSchema.Kind.Array) != 0,
            JsonValueKind.Null => (kinds & CompiledSchema.Kind.Null) != 0,
            _ => false,
        };

    /// <summary>
    /// Formats mParticle's validator knows (ajv 6 "fast" mode). A plan naming another format is refused by lint. The
    /// patterns are source-generated: the static <see cref="Regex.IsMatch(string, string)"/> ran them in the interpreter
    /// after a cache lookup by pattern, for every checked value.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, Func<string, bool>> KnownFormats = new Dictionary<string, Func<string, bool>>(StringComparer.Ordinal)
    {
        ["date"] = v => DateFormat().IsMatch(v),
        ["time"] = v => TimeFormat().IsMatch(v),
        ["date-time"] = v => DateTimeFormat().IsMatch(v),
        ["email"] = v => EmailFormat().IsMatch(v),
        ["uri"] = v => UriFormat().IsMatch(v),
        ["uuid"] = v => UuidFormat().IsMatch(v),
        ["hostname"] = v => HostnameFormat().IsMatch(v),
        ["ipv4"] = v => Ipv4Format().IsMatch(v),
    };

    [GeneratedRegex(@"^\d\d\d\d-[0-1]\d-[0-3]\d$")]
    private static partial Regex DateFormat();

    [GeneratedRegex(@"^[0-2]\d:[0-5]\d:[0-5]\d(?:\.\d+)?(?:z|[+-]\d\d(?::?\d\d)?)?$", RegexOptions.IgnoreCase)]
    private static partial Regex TimeFormat();

    [GeneratedRegex(@"^\d\d\d\d-[0-1]\d-[0-3]\d[t\s](?:[0-2]\d:[0-5]\d:[0-5]\d|23:59:60)(?:\.\d+)?(?:z|[+-]\d\d(?::?\d\d)?)$", RegexOptions.IgnoreCase)]
    private static partial Regex DateTimeFormat();

    [GeneratedRegex(@"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$", RegexOptions.IgnoreCase)]
    private static partial Regex EmailFormat();

    [GeneratedRegex(@"^(?:[a-z][a-z0-9+\-.]*:)(?:\/?\/)?[^\s]*$", RegexOptions.IgnoreCase)]
    private static partial Regex UriFormat();

    [GeneratedRegex(@"^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$", RegexOptions.IgnoreCase)]
    private static partial Regex UuidFormat();

    [GeneratedRegex(@"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-0-9a-z]{0,61}[0-9a-z])?)*$", RegexOptions.IgnoreCase)]
    private static partial Regex HostnameFormat();

    [GeneratedRegex(@"^(?:(?:25[0-5]|2[0-4]\d|[01]?\d\d?)\.){3}(?:25[0-5]|2[0-4]\d|[01]?\d\d?)$")]
    private static partial Regex Ipv4Format();

    /// <summary>Any JSON number as a decimal, whether the node was parsed (read from its own text) or built from a CLR number.</summary>
    internal static decimal AsDecimal(JsonNode node) =>
        node is JsonValue value && value.TryGetValue<JsonElement>(out var element) ? AsDecimal(element) : decimal.Parse(node.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>A parsed number as a decimal, read from its text as it stands in the JSON.</summary>
    private static decimal AsDecimal(JsonElement number) =>
        decimal.TryParse(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(number), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed)
            ? parsed
            : decimal.Parse(number.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture);

    private static string Format(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Pointer(List<string> path) => path.Count == 0 ? "#" : "#/" + string.Join('/', path);

    private static void Add(List<PlanValidationError> errors, string type, List<string> path, string expected, JsonElement? original, string keyword) =>
        errors.Add(new PlanValidationError(type, path.Count > 0 ? path[^1] : null, Pointer(path), expected, Actual(original, path), keyword));

    /// <summary>The offending value as mParticle's validator reports it: strings and numbers as they are, anything else as JSON.</summary>
    private static string? Actual(JsonElement? original, List<string> path)
    {
        if (original is not { } node)
        {
            return null;
        }

        foreach (var segment in path)
        {
            node = node.ValueKind switch
            {
                JsonValueKind.Object when node.TryGetProperty(segment, out var member) => member,
                JsonValueKind.Array when int.TryParse(segment, CultureInfo.InvariantCulture, out var index) && index < node.GetArrayLength() => node[index],
                _ => node,
            };
        }

        return node.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => node.GetString(),
            JsonValueKind.Number => node.GetRawText(),
            _ => Compact(node),
        };
    }

    /// <summary>An element as compact JSON, as a node of it would write itself.</summary>
    private static string Compact(JsonElement element)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            element.WriteTo(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
