using System.Text.Json.Nodes;

namespace CtMparticle.Governance;

/// <summary>A lint finding: errors are what mParticle rejects; warnings are what misleads its validator.</summary>
internal sealed record LintFinding(bool IsError, string Where, string Message);

/// <summary>One difference between two plan versions and whether it breaks existing senders.</summary>
internal sealed record PlanChange(bool Breaking, string MatchKey, string Pointer, string Description);

internal static class PlanLint
{
    /// <summary>JSON Schema keywords the Data Planning API rejects.</summary>
    public static readonly IReadOnlySet<string> Unsupported = new HashSet<string>(StringComparer.Ordinal)
    {
        "$ref", "$recursiveRef", "$recursiveAnchor", "$dynamicRef", "$defs", "definitions", "patternProperties", "allOf", "anyOf", "oneOf",
        "if", "then", "else", "not", "dependencies", "dependentRequired", "dependentSchemas",
    };

    public static IReadOnlyList<LintFinding> Lint(DataPlan plan)
    {
        var findings = new List<LintFinding>();
        foreach (var point in plan.Points)
        {
            var where = point.MatchKey;
            if (point.MatchType == "custom_event" && (point.Criteria["event_name"] is null || point.Criteria["custom_event_type"] is null))
            {
                findings.Add(new LintFinding(true, where, "custom_event criteria need both event_name and custom_event_type."));
            }

            if (point.MatchType is "product_action" or "promotion_action" && point.Criteria["action"] is null)
            {
                findings.Add(new LintFinding(true, where, $"{point.MatchType} criteria need an action."));
            }

            if (point.MatchType == "user_identities" && point.Schema["properties"] is JsonObject ids && ids.ContainsKey("customer_id"))
            {
                findings.Add(new LintFinding(true, where, "user_identities points use IDSync names: 'customerid', not 'customer_id'."));
            }

            Walk(point.Schema, "#", where, findings);
        }

        foreach (var duplicate in plan.Points.GroupBy(p => p.MatchKey, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            findings.Add(new LintFinding(true, duplicate.Key, "Two data points share this match key; mParticle's validator silently keeps the last."));
        }

        if (!plan.ByMatchKey.ContainsKey("user_attributes"))
        {
            findings.Add(new LintFinding(false, "user_attributes", "No user_attributes point: mParticle's local validator then reports an 'unknown' error on every batch. Add one, even a permissive one."));
        }

        return findings;
    }

    private static void Walk(JsonObject schema, string pointer, string where, List<LintFinding> findings)
    {
        foreach (var (keyword, value) in schema)
        {
            if (Unsupported.Contains(keyword))
            {
                findings.Add(new LintFinding(true, where, $"{pointer}: '{keyword}' is not accepted by mParticle's Data Planning API."));
            }

            if (keyword == "format" && value is JsonValue f && f.TryGetValue<string>(out var format) && !SchemaValidator.KnownFormats.ContainsKey(format))
            {
                findings.Add(new LintFinding(true, where, $"{pointer}: format '{format}' is unknown to mParticle's validator."));
            }
        }

        if (schema["properties"] is JsonObject properties)
        {
            foreach (var (name, child) in properties)
            {
                if (child is JsonObject c)
                {
                    Walk(c, $"{pointer}/properties/{name}", where, findings);
                }
            }
        }

        if (schema["items"] is JsonObject items)
        {
            Walk(items, $"{pointer}/items", where, findings);
        }

        if (schema["additionalProperties"] is JsonObject additional)
        {
            Walk(additional, $"{pointer}/additionalProperties", where, findings);
        }
    }
}

internal static class PlanDiff
{
    /// <summary>Every change from <paramref name="old"/> to <paramref name="updated"/>, classified.</summary>
    public static IReadOnlyList<PlanChange> Diff(DataPlan old, DataPlan updated)
    {
        var changes = new List<PlanChange>();
        foreach (var (key, point) in old.ByMatchKey)
        {
            if (!updated.ByMatchKey.TryGetValue(key, out var next))
            {
                changes.Add(new PlanChange(true, key, "#", $"Removed {Describe(point)}: senders of it become unplanned."));
                continue;
            }

            Compare(point.Schema, next.Schema, "#", key, changes);
        }

        foreach (var (key, point) in updated.ByMatchKey.Where(p => !old.ByMatchKey.ContainsKey(p.Key)))
        {
            changes.Add(new PlanChange(false, key, "#", $"Added {Describe(point)}."));
        }

        return changes;
    }

    /// <summary>The suggested bump: a new version for a breaking change, optional for compatible ones.</summary>
    public static string Suggest(IReadOnlyList<PlanChange> changes, int oldVersion) =>
        changes.Count == 0 ? "none: the versions are equivalent"
        : changes.Any(c => c.Breaking) ? $"breaking: publish as version {oldVersion + 1} and move senders before activating it in production"
        : $"compatible: existing senders stay valid; publish as version {oldVersion + 1} (or update version {oldVersion} in place while it is not active in production)";

    private static string Describe(DataPoint point) => point.MatchType switch
    {
        "custom_event" => $"event '{(string?)point.Criteria["event_name"]}' ({(string?)point.Criteria["custom_event_type"]})",
        "product_action" or "promotion_action" => $"{point.MatchType} '{(string?)point.Criteria["action"]}'",
        _ => point.MatchType,
    };

    private static void Compare(JsonObject old, JsonObject updated, string pointer, string key, List<PlanChange> changes)
    {
        void Add(bool breaking, string description) => changes.Add(new PlanChange(breaking, key, pointer, description));

        var oldTypes = Types(old["type"]);
        var newTypes = Types(updated["type"]);
        if (!oldTypes.SetEquals(newTypes))
        {
            var narrowed = newTypes.Count > 0 && (oldTypes.Count == 0 || !newTypes.IsSupersetOf(oldTypes));
            Add(narrowed, $"type {Show(oldTypes)} → {Show(newTypes)}{(narrowed ? " (narrowed)" : " (widened)")}");
        }

        var oldRequired = Strings(old["required"]);
        var newRequired = Strings(updated["required"]);
        foreach (var added in newRequired.Except(oldRequired))
        {
            Add(true, $"'{added}' became required");
        }

        foreach (var removed in oldRequired.Except(newRequired))
        {
            Add(false, $"'{removed}' is no longer required");
        }

        CompareEnum(old["enum"] as JsonArray, updated["enum"] as JsonArray, Add);
        if (!JsonNode.DeepEquals(old["const"], updated["const"]))
        {
            Add(updated["const"] is not null, updated["const"] is null ? "const removed" : $"const {old["const"]?.ToJsonString() ?? "(none)"} → {updated["const"]!.ToJsonString()}");
        }

        if (!JsonNode.DeepEquals(old["pattern"], updated["pattern"]))
        {
            Add(updated["pattern"] is not null, updated["pattern"] is null ? "pattern removed" : $"pattern {old["pattern"]?.ToJsonString() ?? "(none)"} → {updated["pattern"]!.ToJsonString()}");
        }

        if (!JsonNode.DeepEquals(old["format"], updated["format"]))
        {
            Add(updated["format"] is not null, updated["format"] is null ? "format removed" : $"format → {updated["format"]!.ToJsonString()}");
        }

        foreach (var (keyword, raises) in new[] { ("minimum", true), ("exclusiveMinimum", true), ("minLength", true), ("minItems", true), ("maximum", false), ("exclusiveMaximum", false), ("maxLength", false), ("maxItems", false) })
        {
            var before = Number(old[keyword]);
            var after = Number(updated[keyword]);
            if (before == after)
            {
                continue;
            }

            var narrowed = after is not null && (before is null || (raises ? after > before : after < before));
            Add(narrowed, $"{keyword} {before?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(none)"} → {after?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(none)"}");
        }

        var oldClosed = old["additionalProperties"] is JsonValue o && o.GetValue<bool>() == false;
        var newClosed = updated["additionalProperties"] is JsonValue n && n.GetValue<bool>() == false;
        if (oldClosed != newClosed)
        {
            Add(newClosed, newClosed ? "additional properties are no longer allowed" : "additional properties are now allowed");
        }

        var oldProperties = old["properties"] as JsonObject ?? [];
        var newProperties = updated["properties"] as JsonObject ?? [];
        foreach (var (name, schema) in oldProperties)
        {
            if (!newProperties.ContainsKey(name))
            {
                // With additional properties closed, a removed attribute becomes unplanned for its senders.
                Add(newClosed || oldClosed, $"property '{name}' removed");
            }
            else if (schema is JsonObject before && newProperties[name] is JsonObject after)
            {
                Compare(before, after, $"{pointer}/properties/{name}", key, changes);
            }
        }

        foreach (var (name, _) in newProperties.Where(p => !oldProperties.ContainsKey(p.Key)))
        {
            Add(false, $"property '{name}' added");
        }

        if (old["items"] is JsonObject oldItems && updated["items"] is JsonObject newItems)
        {
            Compare(oldItems, newItems, $"{pointer}/items", key, changes);
        }
    }

    private static void CompareEnum(JsonArray? old, JsonArray? updated, Action<bool, string> add)
    {
        if (old is null && updated is null)
        {
            return;
        }

        if (old is null)
        {
            add(true, $"enum introduced: {updated!.ToJsonString()}");
            return;
        }

        if (updated is null)
        {
            add(false, "enum removed");
            return;
        }

        var before = old.Select(v => v?.ToJsonString() ?? "null").ToHashSet(StringComparer.Ordinal);
        var after = updated.Select(v => v?.ToJsonString() ?? "null").ToHashSet(StringComparer.Ordinal);
        foreach (var removed in before.Except(after))
        {
            add(true, $"enum value {removed} removed");
        }

        foreach (var added in after.Except(before))
        {
            add(false, $"enum value {added} added");
        }
    }

    private static HashSet<string> Types(JsonNode? type) => type switch
    {
        JsonArray many => many.Select(t => (string?)t).OfType<string>().ToHashSet(StringComparer.Ordinal),
        JsonValue one when one.TryGetValue<string>(out var name) => [name],
        _ => [],
    };

    private static HashSet<string> Strings(JsonNode? node) =>
        node is JsonArray array ? array.Select(t => (string?)t).OfType<string>().ToHashSet(StringComparer.Ordinal) : [];

    private static decimal? Number(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == System.Text.Json.JsonValueKind.Number ? SchemaValidator.AsDecimal(value) : null;

    private static string Show(HashSet<string> types) => types.Count == 0 ? "(any)" : string.Join("|", types.Order(StringComparer.Ordinal));
}
