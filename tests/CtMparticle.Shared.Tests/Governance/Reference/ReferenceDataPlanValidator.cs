using System.Text.Json.Nodes;
using CtMparticle.Governance;

namespace CtMparticle.Tests.Governance.Reference;

/// <summary>
/// The plan validator as it was before it walked parsed JSON (commit 5d424f4): the oracle of ReferenceValidatorTests.
/// Validates Events API batches against a data plan with mParticle's semantics: events are matched by their match
/// key (custom events by type and name, commerce events by product or promotion action), an event without a planned
/// point is <c>unplanned</c>, user attributes are checked against the <c>user_attributes</c> point. Identities are
/// not checked (as in mParticle's validator). Pure.
/// </summary>
internal sealed class ReferenceDataPlanValidator(DataPlan plan)
{
    public DataPlan Plan { get; } = plan;

    /// <summary>The results with errors only (a valid batch gives an empty list), events first, then user attributes.</summary>
    public IReadOnlyList<PlanValidationResult> ValidateBatch(JsonObject batch)
    {
        var results = new List<PlanValidationResult>();
        if (batch["events"] is JsonArray events)
        {
            for (var i = 0; i < events.Count; i++)
            {
                if (ValidateEvent(events[i] as JsonObject ?? []) is { } result)
                {
                    results.Add(result with { EventIndex = i });
                }
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
        var (key, matchType, criteria, eventKey) = Describe(e);
        if (string.IsNullOrWhiteSpace(key))
        {
            // mParticle's validator gives an event it cannot match no "match" at all.
            return new PlanValidationResult("", null, [new("unplanned", "unknown", "#", null, null, null)], null);
        }

        if (!Plan.ByMatchKey.TryGetValue(key, out var point))
        {
            return new PlanValidationResult(matchType, criteria, [new("unplanned", eventKey, "#", null, null, null)], null);
        }

        var errors = ReferenceSchemaValidator.Validate(e, point.Schema);
        return errors.Count == 0 ? null : new PlanValidationResult(point.MatchType, point.Criteria, errors, null);
    }

    public PlanValidationResult? ValidateUserAttributes(JsonNode? userAttributes)
    {
        if (!Plan.ByMatchKey.TryGetValue("user_attributes", out var point) || point.Schema.Count == 0)
        {
            // mParticle's local validator reports a plan without a user_attributes point this way on every batch.
            return new PlanValidationResult("user_attributes", null, [new("unknown", "user_attributes", "#", null, "Invalid JSON Schema", null)], null);
        }

        var errors = ReferenceSchemaValidator.Validate(userAttributes, point.Schema);
        return errors.Count == 0 ? null : new PlanValidationResult("user_attributes", point.Criteria, errors, null);
    }

    private static (string? Key, string MatchType, JsonObject? Criteria, string EventKey) Describe(JsonObject e)
    {
        var type = (string?)e["event_type"] ?? "";
        var data = e["data"] as JsonObject;
        switch (type)
        {
            case "custom_event" when data is not null:
                var name = (string?)data["event_name"];
                var customType = (string?)data["custom_event_type"];
                return ($"custom_event:{customType}:{name}", "custom_event",
                    new JsonObject { ["event_name"] = name ?? "Custom Event", ["custom_event_type"] = customType ?? "other" }, name ?? type);
            case "custom_event":
                return (null, "custom_event", null, type);
            case "screen_view":
                var screen = (string?)data?["screen_name"];
                return ($"screen_view::{screen}", "screen_view", new JsonObject { ["screen_name"] = screen ?? "" }, screen ?? type);
            case "commerce_event":
                if (data?["product_action"] is JsonObject productAction)
                {
                    var action = (string?)productAction["action"];
                    return ($"product_action:{action}", "product_action", new JsonObject { ["action"] = action }, type);
                }

                if (data?["promotion_action"] is JsonObject promotionAction)
                {
                    var action = (string?)promotionAction["action"];
                    return ($"promotion_action:{action}", "promotion_action", new JsonObject { ["action"] = action }, type);
                }

                return data?["product_impressions"] is not null ? ("product_impression", "product_impression", null, type) : ("", "unknown", null, type);
            case "session_start" or "session_end" or "opt_out" or "first_run" or "uninstall" or "breadcrumb" or "crash_report" or "network_performance":
                return (type, type, null, type);
            default:
                return (null, "unknown", null, type);
        }
    }
}
