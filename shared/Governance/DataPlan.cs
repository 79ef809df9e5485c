using System.Text.Json;
using System.Text.Json.Nodes;

namespace CtMparticle.Governance;

/// <summary>One data point of a plan: its match (type + criteria) and its JSON Schema.</summary>
internal sealed record DataPoint(string MatchType, JsonObject Criteria, JsonObject Schema, string? Description)
{
    public string MatchKey => DataPlan.MatchKey(MatchType, Criteria);

    /// <summary>The schema read once for the checks of every event (<see cref="SchemaValidator"/>).</summary>
    public CompiledSchema Compiled { get; } = CompiledSchema.Of(Schema);
}

/// <summary>
/// An mParticle data plan version document, as the Data Planning API exchanges it
/// (<c>{data_plan_id, version, version_document: {data_points: [...]}}</c>; a bare <c>version_document</c> is accepted too).
/// </summary>
internal sealed class DataPlan
{
    private DataPlan(string planId, int version, IReadOnlyList<DataPoint> points, JsonObject document)
    {
        PlanId = planId;
        Version = version;
        Points = points;
        Document = document;
        // As mParticle's validator: a later point with the same match key replaces an earlier one.
        ByMatchKey = points.GroupBy(p => p.MatchKey, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
    }

    public string PlanId { get; }

    public int Version { get; }

    public IReadOnlyList<DataPoint> Points { get; }

    public IReadOnlyDictionary<string, DataPoint> ByMatchKey { get; }

    public JsonObject Document { get; }

    /// <summary>Reads a plan; returns the problems a person must fix instead of throwing.</summary>
    public static (DataPlan? Plan, IReadOnlyList<string> Problems) Parse(string json, string source)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            return (null, [$"{source} is not JSON: {ex.Message}"]);
        }

        if (root is not JsonObject obj)
        {
            return (null, [$"{source} must be a JSON object (a data plan version)."]);
        }

        var document = obj["version_document"] as JsonObject ?? obj;
        if (document["data_points"] is not JsonArray points)
        {
            return (null, [$"{source} has no version_document.data_points array."]);
        }

        var problems = new List<string>();
        var parsed = new List<DataPoint>();
        for (var i = 0; i < points.Count; i++)
        {
            var where = $"{source}: data_points[{i}]";
            if (points[i] is not JsonObject point || point["match"] is not JsonObject match || match["type"] is not JsonValue typeNode || !typeNode.TryGetValue<string>(out var type))
            {
                problems.Add($"{where} has no match.type.");
                continue;
            }

            var criteria = match["criteria"] as JsonObject ?? [];
            if (point["validator"] is not JsonObject validator || (string?)validator["type"] != "json_schema" || validator["definition"] is not JsonObject definition)
            {
                problems.Add($"{where} ({type}) has no json_schema validator with a definition.");
                continue;
            }

            parsed.Add(new DataPoint(type, criteria, (JsonObject)Materialized(definition)!, (string?)point["description"]));
        }

        if (problems.Count > 0)
        {
            return (null, problems);
        }

        var planId = (string?)obj["data_plan_id"] ?? Path.GetFileNameWithoutExtension(source);
        var version = obj["version"] is JsonValue v && v.TryGetValue<int>(out var n) ? n : 1;
        return (new DataPlan(planId, version, parsed, document), []);
    }

    /// <summary>
    /// A copy of a schema whose strings and booleans are held as such, not as parsed text: the validator reads its
    /// keywords (types, patterns, enum values) for every value of every event, and a parsed string is read anew
    /// each time. Numbers stay parsed, read from their own text.
    /// </summary>
    private static JsonNode? Materialized(JsonNode? node) => node switch
    {
        JsonObject obj => new JsonObject(obj.Select(member => KeyValuePair.Create(member.Key, Materialized(member.Value)))),
        JsonArray array => new JsonArray([.. array.Select(Materialized)]),
        JsonValue value when value.GetValueKind() == JsonValueKind.String => JsonValue.Create(value.GetValue<string>()),
        JsonValue value when value.GetValueKind() is JsonValueKind.True or JsonValueKind.False => JsonValue.Create(value.GetValue<bool>()),
        _ => node?.DeepClone(),
    };

    public static (DataPlan? Plan, IReadOnlyList<string> Problems) Load(string path) =>
        File.Exists(path) ? Parse(File.ReadAllText(path), path) : (null, [$"The data plan {path} does not exist."]);

    /// <summary>mParticle's match key of a data point (<c>custom_event:transaction:Order Shipped</c>, <c>product_action:purchase</c>).</summary>
    public static string MatchKey(string type, JsonObject criteria) => type switch
    {
        "custom_event" => $"custom_event:{(string?)criteria["custom_event_type"]}:{(string?)criteria["event_name"]}",
        "screen_view" => $"screen_view::{(string?)criteria["screen_name"]}",
        "product_action" or "promotion_action" => $"{type}:{(string?)criteria["action"]}",
        "application_state_transition" => $"application_state_transition:{(string?)criteria["application_transition_type"]}",
        _ => type,
    };
}
