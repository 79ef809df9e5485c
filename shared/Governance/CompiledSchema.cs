using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace CtMparticle.Governance;

/// <summary>
/// A JSON Schema node read once into the checks it asks for, so that checking an event does not look each keyword up
/// by name in the schema's node for every value (the plan check runs for every event, and those look-ups were half of
/// its time). It keeps the keywords' nodes where an error message or a comparison needs them, and reads every keyword
/// exactly as <see cref="SchemaValidator"/> did from the node: a keyword of the wrong kind is absent, a number that
/// does not fit a decimal throws when a value is checked against it, a pattern is compiled when a text first meets it.
/// </summary>
internal sealed class CompiledSchema
{
    private const int StackNameChars = 128;

    private readonly Dictionary<string, CompiledSchema?>? properties;
    private readonly Dictionary<string, CompiledSchema?>.AlternateLookup<ReadOnlySpan<char>> propertiesBySpan;
    private Regex? regex;

    private CompiledSchema(JsonObject schema)
    {
        Type = schema["type"];
        TypeKinds = Type is null ? null : KindsOf(Type);
        Enum = schema["enum"] as JsonArray;
        HasConst = schema.TryGetPropertyValue("const", out var constant);
        Const = constant;
        Minimum = Bound.Of(schema, "minimum");
        Maximum = Bound.Of(schema, "maximum");
        ExclusiveMinimum = Bound.Of(schema, "exclusiveMinimum");
        ExclusiveMaximum = Bound.Of(schema, "exclusiveMaximum");
        MultipleOf = Bound.Of(schema, "multipleOf");
        MinLength = Bound.Of(schema, "minLength");
        MaxLength = Bound.Of(schema, "maxLength");
        var (pattern, format) = (schema["pattern"], schema["format"]);
        ChecksText = MinLength.Present || MaxLength.Present || pattern is not null || format is not null;
        Pattern = pattern is JsonValue patternValue && patternValue.TryGetValue<string>(out var text) ? text : null;
        if (format is JsonValue formatValue && formatValue.TryGetValue<string>(out var name) && SchemaValidator.KnownFormats.TryGetValue(name, out var check))
        {
            (Format, FormatCheck) = (name, check);
        }

        MinItems = Bound.Of(schema, "minItems");
        MaxItems = Bound.Of(schema, "maxItems");
        Items = schema["items"] is JsonObject items ? new CompiledSchema(items) : null;
        MinProperties = Bound.Of(schema, "minProperties");
        MaxProperties = Bound.Of(schema, "maxProperties");
        Required = schema["required"] is JsonArray required ? RequiredNames(required) : [];
        if (schema["properties"] is JsonObject members)
        {
            // A member whose schema is not an object is planned (not additional) but checks nothing: null here.
            properties = new Dictionary<string, CompiledSchema?>(members.Count, StringComparer.Ordinal);
            foreach (var (member, memberSchema) in members)
            {
                properties[member] = memberSchema is JsonObject obj ? new CompiledSchema(obj) : null;
            }

            propertiesBySpan = properties.GetAlternateLookup<ReadOnlySpan<char>>();
        }

        switch (schema["additionalProperties"])
        {
            case JsonValue flag when flag.GetValueKind() == JsonValueKind.False:
                AdditionalRefused = true;
                break;
            case JsonObject additional:
                Additional = new CompiledSchema(additional);
                break;
        }
    }

    /// <summary>What a value's kind is checked against; <see cref="Kind.Any"/> is a name the validator does not know.</summary>
    [Flags]
    internal enum Kind
    {
        None = 0,
        String = 1,
        Number = 2,
        Integer = 4,
        Boolean = 8,
        Object = 16,
        Array = 32,
        Null = 64,
        Any = 128,
    }

    public JsonNode? Type { get; }

    /// <summary>The kinds <c>type</c> allows, or null without a <c>type</c>.</summary>
    public Kind? TypeKinds { get; }

    public JsonArray? Enum { get; }

    public bool HasConst { get; }

    public JsonNode? Const { get; }

    public Bound Minimum { get; }

    public Bound Maximum { get; }

    public Bound ExclusiveMinimum { get; }

    public Bound ExclusiveMaximum { get; }

    public Bound MultipleOf { get; }

    public Bound MinLength { get; }

    public Bound MaxLength { get; }

    /// <summary>Whether a text is checked at all (a length, a pattern or a format keyword, of whatever kind).</summary>
    public bool ChecksText { get; }

    public string? Pattern { get; }

    public string? Format { get; }

    public Func<string, bool>? FormatCheck { get; }

    public Bound MinItems { get; }

    public Bound MaxItems { get; }

    public CompiledSchema? Items { get; }

    public Bound MinProperties { get; }

    public Bound MaxProperties { get; }

    public IReadOnlyList<string> Required { get; }

    public bool AdditionalRefused { get; }

    public CompiledSchema? Additional { get; }

    /// <summary>Reads a schema (an object; anything else checks nothing, as the validator treats it).</summary>
    public static CompiledSchema Of(JsonNode schema) => new(schema as JsonObject ?? []);

    /// <summary>Whether the text matches <see cref="Pattern"/>, compiled at its first use (an invalid one throws there, as before).</summary>
    public bool MatchesPattern(string text)
    {
        regex ??= new Regex(Pattern!, RegexOptions.None, TimeSpan.FromSeconds(1));
        return regex.IsMatch(text);
    }

    /// <summary>
    /// The member's planned schema: found says whether <c>properties</c> names it, name is the member's name (the
    /// schema's own string when planned, so that a planned member's name is not allocated for every event).
    /// </summary>
    public (bool Found, string Name, CompiledSchema? Schema) Member(JsonProperty member)
    {
        if (properties is null)
        {
            return (false, member.Name, null);
        }

        var raw = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8PropertyName(member);
        if (raw.Length <= StackNameChars && raw.IndexOf((byte)'\\') < 0)
        {
            Span<char> chars = stackalloc char[StackNameChars];
            if (Encoding.UTF8.TryGetChars(raw, chars, out var written))
            {
                return propertiesBySpan.TryGetValue(chars[..written], out var planned, out var schema) ? (true, planned, schema) : (false, member.Name, null);
            }
        }

        var name = member.Name; // escaped or long: the reader unescapes it
        return properties.TryGetValue(name, out var found) ? (true, name, found) : (false, name, null);
    }

    private static Kind KindsOf(JsonNode? type) => type switch
    {
        JsonArray any => any.Aggregate(Kind.None, (kinds, one) => kinds | KindsOf(one)),
        JsonValue one when one.TryGetValue<string>(out var name) => name switch
        {
            "string" => Kind.String,
            "number" => Kind.Number,
            "integer" => Kind.Integer,
            "boolean" => Kind.Boolean,
            "object" => Kind.Object,
            "array" => Kind.Array,
            "null" => Kind.Null,
            _ => Kind.Any,
        },
        _ => Kind.Any,
    };

    private static string[] RequiredNames(JsonArray required)
    {
        var names = new List<string>(required.Count);
        foreach (var node in required)
        {
            if (node is JsonValue named && named.TryGetValue<string>(out var name))
            {
                names.Add(name);
            }
        }

        return [.. names];
    }

    /// <summary>A numeric keyword: absent unless a JSON number; read as a decimal when a value is checked against it.</summary>
    internal readonly struct Bound
    {
        private readonly decimal value;
        private readonly JsonValue? unread; // a number a decimal cannot hold: read (and throw) at its use, as before

        private Bound(decimal value, JsonValue? unread) => (Present, this.value, this.unread) = (true, value, unread);

        public bool Present { get; }

        public decimal? Value => !Present ? null : unread is null ? value : SchemaValidator.AsDecimal(unread);

        public static Bound Of(JsonObject schema, string keyword)
        {
            if (schema[keyword] is not JsonValue number || number.GetValueKind() != JsonValueKind.Number)
            {
                return default;
            }

            try
            {
                return new Bound(SchemaValidator.AsDecimal(number), null);
            }
            catch (OverflowException)
            {
                return new Bound(0, number);
            }
        }
    }
}
