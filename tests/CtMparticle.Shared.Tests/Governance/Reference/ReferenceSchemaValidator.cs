using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using CtMparticle.Governance;

namespace CtMparticle.Tests.Governance.Reference;

/// <summary>
/// The validator as it was before it walked parsed JSON instead of nodes (commit 5d424f4), kept as the oracle the
/// new one is held to (ReferenceValidatorTests). The JSON Schema subset mParticle's data plans accept (draft-07 keywords without composition or references),
/// evaluated with the semantics of mParticle's local validator (ajv 6, all errors, JSON pointers): errors are reported
/// at the same places, with the same keys and the same <c>validation_error_type</c> mapping. See docs/adr/0004.
/// </summary>
internal static class ReferenceSchemaValidator
{
    public static IReadOnlyList<PlanValidationError> Validate(JsonNode? data, JsonNode schema)
    {
        var errors = new List<PlanValidationError>();
        if (schema is JsonObject root)
        {
            Check(Clean(data), root, [], data, errors);
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

    private static void Check(JsonNode? data, JsonObject schema, List<string> path, JsonNode? original, List<PlanValidationError> errors)
    {
        if (schema["type"] is { } type && !MatchesType(data, type))
        {
            var names = type is JsonArray array ? string.Join(",", array.Select(t => (string?)t)) : (string?)type;
            Add(errors, "invalid_value", path, $"should be {names}", original, "type");
        }

        if (schema["enum"] is JsonArray allowed && !allowed.Any(a => JsonNode.DeepEquals(a, data)))
        {
            Add(errors, "invalid_value", path, "should be equal to one of the allowed values", original, "enum");
        }

        if (schema.ContainsKey("const") && !JsonNode.DeepEquals(schema["const"], data))
        {
            Add(errors, "invalid_value", path, "should be equal to constant", original, "const");
        }

        switch (data?.GetValueKind())
        {
            case JsonValueKind.Number:
                CheckNumber(AsDecimal(data), schema, path, original, errors);
                break;
            case JsonValueKind.String:
                CheckString(data.GetValue<string>(), schema, path, original, errors);
                break;
            case JsonValueKind.Array:
                CheckArray((JsonArray)data, schema, path, original, errors);
                break;
            case JsonValueKind.Object:
                CheckObject((JsonObject)data, schema, path, original, errors);
                break;
        }
    }

    private static void CheckNumber(decimal value, JsonObject schema, List<string> path, JsonNode? original, List<PlanValidationError> errors)
    {
        if (Number(schema, "minimum") is { } min && value < min)
        {
            Add(errors, "invalid_value", path, $"should be >= {Format(min)}", original, "minimum");
        }

        if (Number(schema, "maximum") is { } max && value > max)
        {
            Add(errors, "invalid_value", path, $"should be <= {Format(max)}", original, "maximum");
        }

        if (Number(schema, "exclusiveMinimum") is { } xmin && value <= xmin)
        {
            Add(errors, "invalid_value", path, $"should be > {Format(xmin)}", original, "exclusiveMinimum");
        }

        if (Number(schema, "exclusiveMaximum") is { } xmax && value >= xmax)
        {
            Add(errors, "invalid_value", path, $"should be < {Format(xmax)}", original, "exclusiveMaximum");
        }

        if (Number(schema, "multipleOf") is { } step && step != 0 && value % step != 0)
        {
            Add(errors, "invalid_value", path, $"should be multiple of {Format(step)}", original, "multipleOf");
        }
    }

    private static void CheckString(string value, JsonObject schema, List<string> path, JsonNode? original, List<PlanValidationError> errors)
    {
        var length = value.EnumerateRunes().Count();
        if (Number(schema, "minLength") is { } min && length < min)
        {
            Add(errors, "invalid_value", path, $"should NOT be shorter than {Format(min)} characters", original, "minLength");
        }

        if (Number(schema, "maxLength") is { } max && length > max)
        {
            Add(errors, "invalid_value", path, $"should NOT be longer than {Format(max)} characters", original, "maxLength");
        }

        if (schema["pattern"] is JsonValue pattern && pattern.TryGetValue<string>(out var regex) && !Regex.IsMatch(value, regex, RegexOptions.None, TimeSpan.FromSeconds(1)))
        {
            Add(errors, "invalid_value", path, $"should match pattern \"{regex}\"", original, "pattern");
        }

        if (schema["format"] is JsonValue format && format.TryGetValue<string>(out var name) && SchemaValidator.KnownFormats.TryGetValue(name, out var check) && !check(value))
        {
            Add(errors, "invalid_value", path, $"should match format \"{name}\"", original, "format");
        }
    }

    private static void CheckArray(JsonArray value, JsonObject schema, List<string> path, JsonNode? original, List<PlanValidationError> errors)
    {
        if (Number(schema, "minItems") is { } min && value.Count < min)
        {
            Add(errors, "invalid_value", path, $"should NOT have fewer than {Format(min)} items", original, "minItems");
        }

        if (Number(schema, "maxItems") is { } max && value.Count > max)
        {
            Add(errors, "invalid_value", path, $"should NOT have more than {Format(max)} items", original, "maxItems");
        }

        if (schema["items"] is JsonObject items)
        {
            for (var i = 0; i < value.Count; i++)
            {
                Check(value[i], items, [.. path, i.ToString(CultureInfo.InvariantCulture)], original, errors);
            }
        }
    }

    private static void CheckObject(JsonObject value, JsonObject schema, List<string> path, JsonNode? original, List<PlanValidationError> errors)
    {
        if (Number(schema, "minProperties") is { } min && value.Count < min)
        {
            Add(errors, "invalid_value", path, $"should NOT have fewer than {Format(min)} properties", original, "minProperties");
        }

        if (Number(schema, "maxProperties") is { } max && value.Count > max)
        {
            Add(errors, "invalid_value", path, $"should NOT have more than {Format(max)} properties", original, "maxProperties");
        }

        if (schema["required"] is JsonArray required)
        {
            foreach (var name in required.Select(r => (string?)r).OfType<string>())
            {
                if (!value.ContainsKey(name))
                {
                    errors.Add(new PlanValidationError("missing_required", path.Count > 0 ? path[^1] : null, Pointer(path), name, null, "required"));
                }
            }
        }

        var properties = schema["properties"] as JsonObject;
        foreach (var (name, member) in value)
        {
            if (properties?[name] is JsonObject memberSchema)
            {
                Check(member, memberSchema, [.. path, name], original, errors);
            }
            else if (properties is null || !properties.ContainsKey(name))
            {
                switch (schema["additionalProperties"])
                {
                    case JsonValue flag when flag.GetValueKind() == JsonValueKind.False:
                        errors.Add(new PlanValidationError("unplanned", name, Pointer(path), null, name, "additionalProperties"));
                        break;
                    case JsonObject additional:
                        Check(member, additional, [.. path, name], original, errors);
                        break;
                }
            }
        }
    }

    private static bool MatchesType(JsonNode? data, JsonNode type) => type switch
    {
        JsonArray any => any.Any(t => MatchesType(data, t!)),
        JsonValue one when one.TryGetValue<string>(out var name) => name switch
        {
            "string" => data?.GetValueKind() == JsonValueKind.String,
            "number" => data?.GetValueKind() == JsonValueKind.Number,
            "integer" => data?.GetValueKind() == JsonValueKind.Number && AsDecimal(data) % 1 == 0,
            "boolean" => data?.GetValueKind() is JsonValueKind.True or JsonValueKind.False,
            "object" => data is JsonObject,
            "array" => data is JsonArray,
            "null" => data is null || data.GetValueKind() == JsonValueKind.Null,
            _ => true,
        },
        _ => true,
    };

    private static decimal? Number(JsonObject schema, string keyword) =>
        schema[keyword] is JsonValue value && value.GetValueKind() == JsonValueKind.Number ? AsDecimal(value) : null;

    /// <summary>Any JSON number as a decimal, whether the node was parsed or built from a CLR number.</summary>
    internal static decimal AsDecimal(JsonNode node) =>
        decimal.Parse(node.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture);

    private static string Format(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Pointer(List<string> path) => path.Count == 0 ? "#" : "#/" + string.Join('/', path);

    private static void Add(List<PlanValidationError> errors, string type, List<string> path, string expected, JsonNode? original, string keyword) =>
        errors.Add(new PlanValidationError(type, path.Count > 0 ? path[^1] : null, Pointer(path), expected, Actual(original, path), keyword));

    /// <summary>The offending value as mParticle's validator reports it: strings and numbers as they are, anything else as JSON.</summary>
    private static string? Actual(JsonNode? original, List<string> path)
    {
        var node = original;
        foreach (var segment in path)
        {
            node = node switch
            {
                JsonObject obj when obj.ContainsKey(segment) => obj[segment],
                JsonArray array when int.TryParse(segment, CultureInfo.InvariantCulture, out var index) && index < array.Count => array[index],
                _ => node,
            };
        }

        return node switch
        {
            null => null,
            JsonValue v when v.GetValueKind() is JsonValueKind.String => v.GetValue<string>(),
            JsonValue v when v.GetValueKind() is JsonValueKind.Number => v.ToJsonString(),
            _ => node.ToJsonString(),
        };
    }
}
