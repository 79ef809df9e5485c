using System.Text.Json.Nodes;
using CtMparticle.Governance;
using CtMparticle.Tests.Infrastructure;

namespace CtMparticle.Tests.Governance;

public sealed class PlanToolsTests
{
    private static string PlanJson => File.ReadAllText(Path.Combine(RepositoryRoot.Find(), "config", "plans", "ctmparticle_commerce.v1.json"));

    private static DataPlan Plan(Action<JsonObject>? change = null)
    {
        var node = JsonNode.Parse(PlanJson)!.AsObject();
        change?.Invoke(node);
        var (plan, problems) = DataPlan.Parse(node.ToJsonString(), "test-plan.json");
        Assert.Empty(problems);
        return plan!;
    }

    private static JsonObject Point(JsonObject plan, string matchType, string? action = null, string? eventName = null) =>
        plan["version_document"]!["data_points"]!.AsArray().Select(p => p!.AsObject()).First(p =>
            (string?)p["match"]!["type"] == matchType &&
            (action is null || (string?)p["match"]!["criteria"]!["action"] == action) &&
            (eventName is null || (string?)p["match"]!["criteria"]!["event_name"] == eventName));

    private static JsonObject Data(JsonObject point) => point["validator"]!["definition"]!["properties"]!["data"]!.AsObject();

    [Fact]
    public void Lint_BundledPlan_IsClean()
    {
        Assert.Empty(PlanLint.Lint(Plan()));
    }

    [Theory]
    [InlineData("$ref")]
    [InlineData("allOf")]
    [InlineData("anyOf")]
    [InlineData("oneOf")]
    [InlineData("not")]
    [InlineData("if")]
    [InlineData("patternProperties")]
    [InlineData("dependencies")]
    public void Lint_KeywordMParticleRejects_IsAnError(string keyword)
    {
        var plan = Plan(p => Data(Point(p, "product_action", "purchase"))["properties"]!["currency_code"]![keyword] = new JsonObject());

        var finding = Assert.Single(PlanLint.Lint(plan));

        Assert.True(finding.IsError);
        Assert.Contains($"'{keyword}'", finding.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lint_PropertyNamedLikeAKeyword_IsFine()
    {
        var plan = Plan(p => Data(Point(p, "product_action", "purchase"))["properties"]!["not"] = new JsonObject { ["type"] = "string" });

        Assert.Empty(PlanLint.Lint(plan));
    }

    [Fact]
    public void Lint_MissingUserAttributesPointAndDuplicateMatchKeys_AreReported()
    {
        var plan = Plan(p =>
        {
            var points = p["version_document"]!["data_points"]!.AsArray();
            points.Remove(Point(p, "user_attributes"));
            points.Add(Point(p, "product_action", "refund").DeepClone());
        });

        var findings = PlanLint.Lint(plan);

        Assert.Contains(findings, f => !f.IsError && f.Where == "user_attributes");
        Assert.Contains(findings, f => f.IsError && f.Where == "product_action:refund");
    }

    [Fact]
    public void Diff_SamePlan_HasNoChanges()
    {
        var changes = PlanDiff.Diff(Plan(), Plan());

        Assert.Empty(changes);
        Assert.StartsWith("none", PlanDiff.Suggest(changes, 1), StringComparison.Ordinal);
    }

    [Fact]
    public void Diff_RemovedEvent_IsBreaking()
    {
        var changes = PlanDiff.Diff(Plan(), Plan(p => p["version_document"]!["data_points"]!.AsArray().Remove(Point(p, "custom_event", eventName: "Signed In"))));

        var change = Assert.Single(changes);
        Assert.True(change.Breaking);
        Assert.Contains("Signed In", change.Description, StringComparison.Ordinal);
        Assert.StartsWith("breaking: publish as version 2", PlanDiff.Suggest(changes, 1), StringComparison.Ordinal);
    }

    [Fact]
    public void Diff_AddedEventAndAttribute_AreCompatible()
    {
        var updated = Plan(p =>
        {
            Data(Point(p, "custom_event", eventName: "Signed Up"))["properties"]!["custom_attributes"]!["properties"]!["referrer"] = new JsonObject { ["type"] = "string" };
            var copy = Point(p, "custom_event", eventName: "Signed In").DeepClone();
            copy["match"]!["criteria"]!["event_name"] = "Signed Out";
            p["version_document"]!["data_points"]!.AsArray().Add(copy);
        });

        var changes = PlanDiff.Diff(Plan(), updated);

        Assert.Equal(2, changes.Count);
        Assert.All(changes, c => Assert.False(c.Breaking));
        Assert.StartsWith("compatible", PlanDiff.Suggest(changes, 1), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("required", "newly required")]
    [InlineData("type", "narrowed type")]
    [InlineData("enum", "narrowed enum")]
    [InlineData("pattern", "new pattern")]
    [InlineData("minimum", "raised minimum")]
    [InlineData("remove", "removed attribute")]
    public void Diff_NarrowingChanges_AreBreaking(string change, string because)
    {
        var updated = Plan(p =>
        {
            var data = Data(Point(p, "product_action", "purchase"));
            var attributes = data["properties"]!["custom_attributes"]!.AsObject();
            switch (change)
            {
                case "required": attributes["required"] = new JsonArray("order_id", "channel"); break;
                case "type": data["properties"]!["timestamp_unixtime_ms"]!["type"] = "string"; break;
                case "enum": attributes["properties"]!["channel"]!["enum"] = new JsonArray("web"); break;
                case "pattern": attributes["properties"]!["order_id"]!["pattern"] = "^[0-9a-f-]{36}$"; break;
                case "minimum": data["properties"]!["timestamp_unixtime_ms"]!["minimum"] = 2_000_000_000_000; break;
                case "remove": attributes["properties"]!.AsObject().Remove("discount_amount"); break;
            }
        });

        var changes = PlanDiff.Diff(Plan(), updated);

        Assert.True(changes.Count > 0 && changes.All(c => c.Breaking), because);
    }

    [Fact]
    public void Diff_RelaxingChanges_AreCompatible()
    {
        var updated = Plan(p =>
        {
            var data = Data(Point(p, "product_action", "purchase"));
            data["properties"]!["custom_attributes"]!["properties"]!["channel"]!["enum"]!.AsArray().Add("kiosk");
            data["properties"]!["currency_code"]!.AsObject().Remove("pattern");
            data["properties"]!["custom_attributes"]!.AsObject().Remove("required");
        });

        var changes = PlanDiff.Diff(Plan(), updated);

        Assert.Equal(3, changes.Count);
        Assert.All(changes, c => Assert.False(c.Breaking));
    }

    [Fact]
    public void Parse_BrokenPlans_SayWhatIsWrong()
    {
        Assert.Contains("not JSON", Assert.Single(DataPlan.Parse("{", "p.json").Problems), StringComparison.Ordinal);
        Assert.Contains("data_points", Assert.Single(DataPlan.Parse("{\"version_document\":{}}", "p.json").Problems), StringComparison.Ordinal);
        Assert.Contains("match.type", Assert.Single(DataPlan.Parse("{\"data_points\":[{}]}", "p.json").Problems), StringComparison.Ordinal);
    }
}
