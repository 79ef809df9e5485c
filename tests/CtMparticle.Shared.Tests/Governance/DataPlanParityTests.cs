using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using CtMparticle.Delivery;
using CtMparticle.Governance;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Tests.Infrastructure;

namespace CtMparticle.Tests.Governance;

/// <summary>
/// Parity with mParticle's own validator: npm <c>@mparticle/data-planning-node</c> (installed by <c>npm ci</c>) and
/// this project's validator judge the same corpus of batches, valid and invalid, against the bundled plan, and must
/// give the same results: the same matches and the same errors (type, key, pointer, keyword, expected, actual).
/// </summary>
public sealed class DataPlanParityTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ctmp-parity-").FullName;

    private static string PlanPath => Path.Combine(RepositoryRoot.Find(), "config", "plans", "ctmparticle_commerce.v3.json");

    /// <summary>Every batch the samples map to, with the order context they need.</summary>
    internal static List<JsonObject> SampleBatches()
    {
        var mapper = TestOptions.Mapper();
        var builder = TestOptions.Builder();
        var order = TestOptions.Order01Context();
        var batches = new List<JsonObject>();
        foreach (var file in Directory.GetFiles(Path.Combine(RepositoryRoot.Find(), "samples", "commercetools"), "*.json").Order(StringComparer.Ordinal))
        {
            if (DeliveryDecoder.Decode(File.ReadAllBytes(file)) is Decoded decoded && mapper.Map(decoded.Delivery, order) is Mapped mapped)
            {
                batches.AddRange(mapped.Events.Select(e => builder.Build(e)).OfType<BuiltBatch>().Select(b => JsonNode.Parse(b.Json)!.AsObject()));
            }
        }

        return batches;
    }

    private static JsonObject Find(List<JsonObject> batches, Func<JsonObject, bool> predicate) =>
        batches.First(b => predicate((JsonObject)b["events"]![0]!["data"]!)).DeepClone().AsObject();

    private static IEnumerable<(string Name, JsonObject Batch)> Corpus()
    {
        var samples = SampleBatches();
        foreach (var (batch, i) in samples.Select((b, i) => (b, i)))
        {
            yield return ($"sample-{i:D2}", batch);
        }

        JsonObject Purchase() => Find(samples, d => (string?)d["product_action"]?["action"] == "purchase");
        JsonObject Status() => Find(samples, d => (string?)d["event_name"] == "Order Status Changed");
        JsonObject SignUp() => samples.First(b => b["user_attributes"] is not null).DeepClone().AsObject();
        JsonNode Data(JsonObject b) => b["events"]![0]!["data"]!;

        var b1 = Purchase(); Data(b1)["currency_code"] = "eur"; yield return ("lowercase-currency", b1);
        var b2 = Purchase(); Data(b2)["product_action"]!["total_amount"] = "90.42"; yield return ("string-total", b2);
        var b3 = Purchase(); Data(b3)["product_action"]!.AsObject().Remove("transaction_id"); yield return ("no-transaction-id", b3);
        var b4 = Purchase(); Data(b4)["custom_attributes"]!["coupon"] = "SPRING"; yield return ("unplanned-attribute", b4);
        var b5 = Purchase(); Data(b5)["product_action"]!["products"]![1]!["color"] = "navy"; yield return ("unplanned-product-field", b5);
        var b6 = Purchase(); Data(b6)["product_action"]!["products"]![0]!["quantity"] = -1; yield return ("negative-quantity", b6);
        var b7 = Status(); Data(b7)["event_name"] = "Order Shipped"; yield return ("unplanned-event", b7);
        var b8 = Status(); Data(b8)["custom_event_type"] = "other"; yield return ("unplanned-event-type", b8);
        var b9 = Status(); Data(b9)["custom_attributes"]!["status_type"] = "returns"; yield return ("enum-value", b9);
        var b10 = SignUp(); b10["user_attributes"]!["loyalty_tier"] = "gold"; yield return ("unplanned-user-attribute", b10);
        var b11 = SignUp(); b11["user_attributes"]!["$Country"] = "Germany"; yield return ("user-attribute-pattern", b11);
        var b12 = SignUp(); b12["user_attributes"]!["email_verified"] = true; yield return ("user-attribute-type", b12);
        var b13 = Status(); Data(b13)["custom_attributes"]!["previous_status"] = null; yield return ("null-attribute-is-cleaned", b13);
        var b14 = Status(); Data(b14).AsObject().Remove("timestamp_unixtime_ms"); yield return ("no-timestamp", b14);
        var b15 = Status(); Data(b15)["timestamp_unixtime_ms"] = 1_742_277_735; yield return ("timestamp-in-seconds", b15);
        var b16 = Purchase(); b16["events"]!.AsArray().Add(new JsonObject { ["event_type"] = "screen_view", ["data"] = new JsonObject { ["screen_name"] = "Checkout" } });
        yield return ("screen-view", b16);
        var b17 = Purchase(); b17["events"]!.AsArray().Add(new JsonObject { ["event_type"] = "session_start", ["data"] = new JsonObject { ["timestamp_unixtime_ms"] = 1_742_277_735_000 } });
        yield return ("session-start", b17);
        var b18 = Purchase(); b18["events"]!.AsArray().Add(new JsonObject { ["event_type"] = "commerce_event", ["data"] = new JsonObject { ["promotion_action"] = new JsonObject { ["action"] = "view" } } });
        yield return ("promotion", b18);
        var b19 = Purchase(); b19["events"]!.AsArray().Add(new JsonObject { ["event_type"] = "mystery", ["data"] = new JsonObject() });
        yield return ("unknown-event-type", b19);
        var b20 = Purchase(); Data(b20)["product_action"]!["products"]![0]!.AsObject().Remove("id"); Data(b20)["source_message_id"] = "not-a-uuid";
        yield return ("several-errors", b20);
        var b21 = SignUp(); b21.Remove("user_attributes"); yield return ("no-user-attributes", b21);
    }

    private static string Normalize(JsonNode? results)
    {
        var lines = new List<string>();
        foreach (var result in results?.AsArray() ?? [])
        {
            var data = result!["data"]!;
            var match = data["match"];
            var errors = (data["validation_errors"]?.AsArray() ?? []).Select(e =>
                string.Join('|', (string?)e!["validation_error_type"], Text(e["key"]), (string?)e["error_pointer"], (string?)e["schema_keyword"], Text(e["expected"]), Text(e["actual"])))
                .Order(StringComparer.Ordinal);
            lines.Add($"{(string?)match?["type"]} {match?["criteria"]?.ToJsonString()} :: {string.Join(" ; ", errors)}");
        }

        return string.Join("\n", lines.Order(StringComparer.Ordinal));
    }

    private static string Text(JsonNode? node) => node switch
    {
        null => "",
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => v.GetValue<string>(),
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.Number => SchemaValidator.AsDecimal(v).ToString(CultureInfo.InvariantCulture),
        _ => node.ToJsonString(),
    };

    private JsonObject RunMParticleValidator(string plan, IReadOnlyList<string> files)
    {
        var script = Path.Combine(RepositoryRoot.Find(), "tests", "parity", "dpn-validate.cjs");
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(plan);
        foreach (var file in files)
        {
            start.ArgumentList.Add(file);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"mParticle's validator failed (run 'npm ci'): {error}");
        return JsonNode.Parse(output)!.AsObject();
    }

    private void AssertParity(string planPath, IEnumerable<(string Name, JsonObject Batch)> corpus)
    {
        var files = new List<(string Name, string Path, JsonObject Batch)>();
        foreach (var (name, batch) in corpus)
        {
            var path = Path.Combine(folder, name + ".json");
            File.WriteAllText(path, batch.ToJsonString());
            files.Add((name, path, batch));
        }

        var theirs = RunMParticleValidator(planPath, files.Select(f => f.Path).ToArray());
        var (plan, problems) = DataPlan.Load(planPath);
        Assert.Empty(problems);
        var validator = new DataPlanValidator(plan!);
        var mismatches = new List<string>();
        foreach (var (name, path, batch) in files)
        {
            var ours = new JsonArray(validator.ValidateBatch(batch).Select(r => (JsonNode)r.ToJson()).ToArray());
            var expected = Normalize(theirs[path]);
            var actual = Normalize(ours);
            if (expected != actual)
            {
                mismatches.Add($"{name}:\n  mParticle: {expected}\n  ours:      {actual}");
            }
        }

        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Fact]
    public void Validate_SameCorpusAsMParticlesValidator_GivesTheSameResults()
    {
        var corpus = Corpus().ToList();
        Assert.True(corpus.Count > 30);

        AssertParity(PlanPath, corpus);
    }

    [Fact]
    public void Validate_PlanWithoutUserAttributesPoint_ReproducesTheKnownQuirk()
    {
        var plan = JsonNode.Parse(File.ReadAllText(PlanPath))!.AsObject();
        var points = plan["version_document"]!["data_points"]!.AsArray();
        points.Remove(points.First(p => (string?)p!["match"]!["type"] == "user_attributes"));
        var path = Path.Combine(folder, "plan-without-user-attributes.json");
        File.WriteAllText(path, plan.ToJsonString());

        AssertParity(path, Corpus().Take(3));
    }

    [Fact]
    public void Validate_BundledSamples_AreValidAgainstTheBundledPlan()
    {
        var (plan, _) = DataPlan.Load(PlanPath);
        var validator = new DataPlanValidator(plan!);

        foreach (var batch in SampleBatches())
        {
            Assert.Empty(validator.ValidateBatch(batch));
        }
    }

    public void Dispose() => Directory.Delete(folder, recursive: true);
}
