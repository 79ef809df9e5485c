using System.Text.Json;
using System.Text.Json.Nodes;

namespace CtMparticle.Governance;

/// <summary>The validation result of one event (or of the batch's user attributes), shaped like mParticle's.</summary>
internal sealed record PlanValidationResult(string MatchType, JsonObject? Criteria, IReadOnlyList<PlanValidationError> Errors, int? EventIndex)
{
    /// <summary><c>{event_type: "validation_result", data: {match, validation_errors}}</c>.</summary>
    public JsonObject ToJson()
    {
        var match = new JsonObject { ["type"] = MatchType };
        if (Criteria is not null)
        {
            match["criteria"] = Criteria.DeepClone();
        }

        var errors = new JsonArray();
        foreach (var error in Errors)
        {
            var item = new JsonObject { ["validation_error_type"] = error.ValidationErrorType, ["error_pointer"] = error.ErrorPointer };
            if (error.Key is not null)
            {
                item["key"] = error.Key;
            }

            if (error.Expected is not null)
            {
                item["expected"] = error.Expected;
            }

            if (error.Actual is not null)
            {
                item["actual"] = error.Actual;
            }

            if (error.SchemaKeyword is not null)
            {
                item["schema_keyword"] = error.SchemaKeyword;
            }

            errors.Add((JsonNode)item); // the JsonNode overload: the generic Add<T> is marked as needing reflection (AOT)
        }

        var data = new JsonObject();
        if (MatchType.Length > 0)
        {
            data["match"] = match;
        }

        data["validation_errors"] = errors;
        return new JsonObject { ["event_type"] = "validation_result", ["data"] = data };
    }
}

/// <summary>
/// Validates Events API batches against a data plan with mParticle's semantics: events are matched by their match
/// key (custom events by type and name, commerce events by product or promotion action), an event without a planned
/// point is <c>unplanned</c>, user attributes are checked against the <c>user_attributes</c> point. Identities are
/// not checked (as in mParticle's validator). Pure.
/// </summary>
internal sealed class DataPlanValidator(DataPlan plan)
{
    public DataPlan Plan { get; } = plan;

    /// <summary>The results with errors only (a valid batch gives an empty list), events first, then user attributes.</summary>
    public IReadOnlyList<PlanValidationResult> ValidateBatch(JsonObject batch)
    {
        var results = new List<PlanValidationResult>();
        if (batch["events"] is JsonArray events)
        {
            using var document = JsonDocument.Parse(events.ToJsonString());
            var i = 0;
            foreach (var e in document.RootElement.EnumerateArray())
            {
                if (ValidateEvent(e) is { } result)
                {
                    results.Add(result with { EventIndex = i });
                }

                i++;
            }
        }

        if (ValidateUserAttributes(batch["user_attributes"]) is { } attributes)
        {
            results.Add(attributes);
        }

        return results;
    }

    public PlanValidationResult? ValidateEvent(JsonObject e)
    {
        using var document = JsonDocument.Parse(e.ToJsonString());
        return ValidateEvent(document.RootElement);
    }

    /// <summary>One event as parsed JSON (as the batch builder writes it); anything but an object is an event nothing matches.</summary>
    public PlanValidationResult? ValidateEvent(JsonElement e)
    {
        var match = Describe(e);
        if (string.IsNullOrWhiteSpace(match.Key))
        {
            // mParticle's validator gives an event it cannot match no "match" at all.
            return new PlanValidationResult("", null, [new("unplanned", "unknown", "#", null, null, null)], null);
        }

        if (!Plan.ByMatchKey.TryGetValue(match.Key, out var point))
        {
            return new PlanValidationResult(match.MatchType, match.Criteria(), [new("unplanned", match.EventKey, "#", null, null, null)], null);
        }

        var errors = SchemaValidator.Validate(e, point.Compiled);
        return errors.Count == 0 ? null : new PlanValidationResult(point.MatchType, point.Criteria, errors, null);
    }

    public PlanValidationResult? ValidateUserAttributes(JsonNode? userAttributes)
    {
        if (userAttributes is null)
        {
            return ValidateUserAttributes((JsonElement?)null);
        }

        using var document = JsonDocument.Parse(userAttributes.ToJsonString());
        return ValidateUserAttributes(document.RootElement);
    }

    /// <summary>A batch's user attributes as parsed JSON; absent ones are checked as an empty object.</summary>
    public PlanValidationResult? ValidateUserAttributes(JsonElement? userAttributes)
    {
        if (!Plan.ByMatchKey.TryGetValue("user_attributes", out var point) || point.Schema.Count == 0)
        {
            // mParticle's local validator reports a plan without a user_attributes point this way on every batch.
            return new PlanValidationResult("user_attributes", null, [new("unknown", "user_attributes", "#", null, "Invalid JSON Schema", null)], null);
        }

        var errors = SchemaValidator.Validate(userAttributes, point.Compiled);
        return errors.Count == 0 ? null : new PlanValidationResult("user_attributes", point.Criteria, errors, null);
    }

    /// <summary>
    /// What an event is matched by. Its criteria (as mParticle reports them for an unplanned event) are built only for
    /// a result that needs them, not for every event checked.
    /// </summary>
    private readonly record struct EventMatch(string? Key, string MatchType, string EventKey, string? First = null, string? Second = null)
    {
        public JsonObject? Criteria() => MatchType switch
        {
            "custom_event" when Key is not null => new JsonObject { ["event_name"] = First ?? "Custom Event", ["custom_event_type"] = Second ?? "other" },
            "screen_view" => new JsonObject { ["screen_name"] = First ?? "" },
            "product_action" or "promotion_action" => new JsonObject { ["action"] = First },
            _ => null,
        };
    }

    private static EventMatch Describe(JsonElement e)
    {
        var type = Text(e, "event_type") ?? "";
        var data = Member(e, "data") is { ValueKind: JsonValueKind.Object } found ? found : (JsonElement?)null;
        switch (type)
        {
            case "custom_event" when data is { } custom:
                var name = Text(custom, "event_name");
                var customType = Text(custom, "custom_event_type");
                return new($"custom_event:{customType}:{name}", "custom_event", name ?? type, name, customType);
            case "custom_event":
                return new(null, "custom_event", type);
            case "screen_view":
                var screen = data is { } view ? Text(view, "screen_name") : null;
                return new($"screen_view::{screen}", "screen_view", screen ?? type, screen);
            case "commerce_event":
                if (data is { } commerce && Member(commerce, "product_action") is { ValueKind: JsonValueKind.Object } productAction)
                {
                    var action = Text(productAction, "action");
                    return new($"product_action:{action}", "product_action", type, action);
                }

                if (data is { } promotion && Member(promotion, "promotion_action") is { ValueKind: JsonValueKind.Object } promotionAction)
                {
                    var action = Text(promotionAction, "action");
                    return new($"promotion_action:{action}", "promotion_action", type, action);
                }

                return data is { } impressions && Member(impressions, "product_impressions") is { ValueKind: not JsonValueKind.Null }
                    ? new("product_impression", "product_impression", type)
                    : new("", "unknown", type);
            case "session_start" or "session_end" or "opt_out" or "first_run" or "uninstall" or "breadcrumb" or "crash_report" or "network_performance":
                return new(type, type, type);
            default:
                return new(null, "unknown", type);
        }
    }

    private static JsonElement? Member(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var value) ? value : null;

    /// <summary>A member's text; a member that is not a string (absent, null, or hostile) has none.</summary>
    private static string? Text(JsonElement obj, string name) =>
        Member(obj, name) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;
}
