using System.Text.Json;
using System.Text.Json.Nodes;
using CtMparticle.Configuration;
using CtMparticle.Delivery;
using CtMparticle.Tracking;

namespace CtMparticle.Governance;

internal enum ViolationAction
{
    /// <summary>Quarantine the event with the validation errors; nothing is sent.</summary>
    Block,
    /// <summary>Send it, and count and log the violation.</summary>
    Allow,
}

/// <summary>What to do with each kind of violation of one plan version.</summary>
internal sealed record PlanPolicy(ViolationAction UnplannedEvents, ViolationAction UnplannedAttributes, ViolationAction InvalidValues);

/// <summary>The governance decision for one event.</summary>
internal sealed record GovernanceDecision(bool Blocked, IReadOnlyList<PlanValidationError> Violations, string Detail)
{
    public static readonly GovernanceDecision Clean = new(false, [], "valid");

    /// <summary>Each violation as one line a person can act on: the kind, the key, where, and what the plan expects.</summary>
    public IEnumerable<string> Errors => Violations.Select(v => $"{v.ValidationErrorType} {v.Key} at {v.ErrorPointer}{(v.Expected is null ? "" : $" (expected {v.Expected})")}");
}

/// <summary>
/// Governance: the active plan version for the environment (from <c>config/plans/policies.json</c>) and its policy.
/// Each canonical event is checked as mParticle would see it in a batch: its event object as the batch builder writes
/// it (walked as parsed JSON, without a node of every value) and the user attributes it sets (never a whole batch
/// serialized and parsed back); violations are blocked or allowed by kind. <see cref="Disabled"/> is the governor when <c>Governance:Enabled</c> is false.
/// </summary>
internal sealed class PlanGovernor(DataPlanValidator? validator, PlanPolicy policy, BatchBuilder builder)
{
    /// <summary>A governor that checks nothing: every event is clean.</summary>
    public static PlanGovernor Disabled(BatchBuilder builder) => new(null, new PlanPolicy(ViolationAction.Allow, ViolationAction.Allow, ViolationAction.Allow), builder);

    public DataPlan? Plan => validator?.Plan;

    public PlanPolicy Policy { get; } = policy;

    public GovernanceDecision Check(TrackingEvent trackingEvent)
    {
        if (validator is null || builder.Compose([trackingEvent], forPlanCheck: true) is not ComposedBatch composed)
        {
            return GovernanceDecision.Clean; // routing and identity problems are the batch builder's to report
        }

        var results = new List<PlanValidationResult>();
        for (var i = 0; i < composed.Batch.Events.Count; i++)
        {
            using var written = JsonSerializer.SerializeToDocument(composed.Batch.Events[i], MParticleJsonContext.Default.MpEvent);
            if (validator.ValidateEvent(written.RootElement) is { } result)
            {
                results.Add(result with { EventIndex = i });
            }
        }

        using (var userAttributes = UserAttributes(composed.Batch.UserAttributes))
        {
            if (validator.ValidateUserAttributes(userAttributes?.RootElement) is { } attributes)
            {
                results.Add(attributes);
            }
        }

        if (results.Count == 0)
        {
            return GovernanceDecision.Clean;
        }

        var violations = results.SelectMany(r => r.Errors).ToArray();
        var blocked = results.Any(r => r.Errors.Any(e => ActionFor(r, e) == ViolationAction.Block));
        var detail = string.Join("; ", violations.Select(v => $"{v.ValidationErrorType} {v.Key} at {v.ErrorPointer}"));
        return new GovernanceDecision(blocked, violations, $"{validator.Plan.PlanId} v{validator.Plan.Version}: {detail}");
    }

    /// <summary>The user attributes as the batch writes them (all strings), written once and walked as parsed JSON.</summary>
    private static JsonDocument? UserAttributes(IReadOnlyDictionary<string, string>? attributes)
    {
        if (attributes is null)
        {
            return null;
        }

        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (key, value) in attributes)
            {
                writer.WriteString(key, value);
            }

            writer.WriteEndObject();
        }

        return JsonDocument.Parse(buffer.WrittenMemory);
    }

    // An unplanned user attribute is reported at the root of the user_attributes object ("#"), like an unplanned event.
    private ViolationAction ActionFor(PlanValidationResult result, PlanValidationError error) => error.ValidationErrorType switch
    {
        "unplanned" when result.MatchType != "user_attributes" && error.ErrorPointer == "#" => Policy.UnplannedEvents,
        "unplanned" => Policy.UnplannedAttributes,
        _ => Policy.InvalidValues,
    };

    /// <summary>
    /// Loads the policies file and the active plan for the environment, lints it, and checks that batches will be
    /// tagged with it. Returns the problems a person must fix instead of throwing.
    /// </summary>
    public static (PlanGovernor? Governor, IReadOnlyList<string> Problems) Load(string policiesPath, MappingOptions mapping, BatchBuilder builder)
    {
        if (!File.Exists(policiesPath))
        {
            return (null, [$"Governance:PoliciesPath points to {policiesPath}, which does not exist."]);
        }

        JsonObject policies;
        try
        {
            policies = JsonNode.Parse(File.ReadAllText(policiesPath), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip })!.AsObject();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return (null, [$"{policiesPath} is not a JSON object: {ex.Message}"]);
        }

        var planId = (string?)policies["plan_id"];
        if (policies["active"]?[mapping.Environment] is not JsonValue active || !active.TryGetValue<int>(out var version))
        {
            return (null, [$"{policiesPath} names no active plan version for environment '{mapping.Environment}' (active.{mapping.Environment})."]);
        }

        var versionPolicy = policies["versions"]?[version.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        var parsed = new List<string>();
        ViolationAction Action(string name)
        {
            var text = (string?)versionPolicy?[name];
            if (Enum.TryParse<ViolationAction>(text, ignoreCase: true, out var action))
            {
                return action;
            }

            parsed.Add($"{policiesPath}: versions.{version}.{name} is '{text ?? "(missing)"}'; use 'block' or 'allow'.");
            return ViolationAction.Block;
        }

        var policy = new PlanPolicy(Action("unplanned_events"), Action("unplanned_attributes"), Action("invalid_values"));
        var planPath = Path.Combine(Path.GetDirectoryName(policiesPath)!, $"{planId}.v{version}.json");
        var (plan, problems) = DataPlan.Load(planPath);
        parsed.AddRange(problems);
        if (plan is not null)
        {
            parsed.AddRange(PlanLint.Lint(plan).Where(f => f.IsError).Select(f => $"{planPath}: {f.Where}: {f.Message}"));
            if (mapping.DataPlan.PlanId != plan.PlanId || mapping.DataPlan.PlanVersion != plan.Version)
            {
                parsed.Add($"Batches are tagged {mapping.DataPlan.PlanId} v{mapping.DataPlan.PlanVersion} (Mapping:DataPlan) but the active plan for '{mapping.Environment}' is {plan.PlanId} v{plan.Version}; make them the same.");
            }
        }

        return parsed.Count > 0 || plan is null ? (null, parsed) : (new PlanGovernor(new DataPlanValidator(plan), policy, builder), []);
    }
}
