using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using CtMparticle.Governance;
using CtMparticle.Tests.Governance.Reference;
using CtMparticle.Tests.Infrastructure;

namespace CtMparticle.Tests.Governance;

/// <summary>
/// The plan validator walks parsed JSON instead of nodes (to spare the hot path a node of every value). It must judge
/// every batch as the node validator did, which the parity tests hold to mParticle's own: the same results, byte for
/// byte, on the samples' batches changed at random (values nulled, removed, retyped, added, out of range).
/// </summary>
public sealed class ReferenceValidatorTests
{
    private static readonly List<JsonObject> Batches = DataPlanParityTests.SampleBatches();

    private static readonly DataPlan Plan = DataPlan.Load(Path.Combine(RepositoryRoot.Find(), "config", "plans", "ctmparticle_commerce.v3.json")).Plan!;

    private static readonly string[] Strings =
        ["", "EUR", "eur", "not-a-uuid", "0b6a1c9e-2f4d-4c8a-9e1f-3a5b7c9d1e2f", "2026-01-01", new string('x', 300), "Purchase", "purchase",
         "custom_event", "commerce_event", "screen_view", "other", "transaction", "Order Status Changed", "<b>ü\"\\", "DE", "42"];

    private static readonly string[] Numbers = ["0", "-1", "1.5", "90.42", "1e2", "1E+20", "12345678901234567890123", "0.0000001", "1742277735000", "2.0", "-0"];

    [Fact]
    public void ValidatingParsedJson_JudgesEveryChangedSampleBatch_AsTheNodeValidatorDid()
    {
        var ours = new DataPlanValidator(Plan);
        var reference = new ReferenceDataPlanValidator(Plan);
        int compared = 0, refusedByReference = 0, withErrors = 0;
        Gen.Select(Gen.Int[0, Batches.Count - 1], Gen.Int[1, 4], Gen.Int).Sample(c =>
        {
            var (index, changes, seed) = c;
            var batch = Batches[index].DeepClone().AsObject();
            var random = new Random(seed);
            for (var i = 0; i < changes; i++)
            {
                Change(batch, random);
            }

            string expected;
            try
            {
                expected = Text(reference.ValidateBatch(batch));
            }
            catch (InvalidOperationException)
            {
                // The node validator threw on a match member that is not a string (an event_type of 3); the new one
                // reads such a member as absent. Either way the event is not what the plan describes.
                refusedByReference++;
                ours.ValidateBatch(batch);
                return;
            }

            var actual = Text(ours.ValidateBatch(batch));
            Assert.True(expected == actual, $"batch {index} changed with seed {seed}: {batch.ToJsonString()}\nnode validator: {expected}\nnow:            {actual}");
            compared++;
            withErrors += expected.Length > 0 ? 1 : 0;
        }, iter: 4000);

        Assert.True(compared > 3 * refusedByReference, $"{compared} compared, {refusedByReference} refused by the node validator");
        Assert.True(withErrors > compared / 2, $"only {withErrors} of {compared} changed batches had errors: the changes do not reach the plan");
    }

    [Fact]
    public void TypeNamesEnumsAndRequiredMembers_ReadFromAParsedSchema_JudgeEveryKindOfValue_AsTheNodeValidatorDoes()
    {
        // The checks that walk a keyword's list (enums, lists of types, required members, member counts) against a value
        // of every kind: every type name, a list of them, names the validator does not know, enums and required members.
        string[] schemas =
        [
            """{"type":"string"}""", """{"type":"number"}""", """{"type":"integer"}""", """{"type":"boolean"}""", """{"type":"object"}""",
            """{"type":"array"}""", """{"type":"null"}""", """{"type":["integer","null"]}""", """{"type":["string","boolean"]}""",
            """{"type":"decimal"}""", """{"type":3}""", """{"enum":["EUR","USD",null]}""", """{"enum":[1,{"a":1}]}""",
            """{"type":"object","required":["a","b"],"minProperties":2,"maxProperties":2,"properties":{"a":{"type":"integer"}}}""",
            // Each keyword the checks read once from the schema (CompiledSchema): bounds, lengths, patterns, formats, items,
            // planned members whose schema checks nothing, and unplanned members refused or checked.
            """{"minimum":0,"maximum":2,"exclusiveMinimum":-1,"exclusiveMaximum":3,"multipleOf":0.5}""", """{"minimum":"0","multipleOf":0}""",
            """{"minLength":2,"maxLength":3,"pattern":"^[A-Z]+$"}""", """{"format":"uuid"}""", """{"format":"no-such-format","pattern":7}""",
            """{"minItems":1,"maxItems":1,"items":{"type":"integer"}}""", """{"items":true}""",
            """{"properties":{"a":true,"b":{"type":"string"}},"additionalProperties":false}""",
            """{"properties":{"a":{"const":1}},"additionalProperties":{"type":"number","maximum":2}}""",
            """{"required":["a","c"],"properties":{"a":{"enum":[1]}},"additionalProperties":true}""", """{"const":null}""", "true",
        ];
        string[] values =
            ["\"EUR\"", "\"42\"", "42", "1.5", "2.0", "-0", "true", "false", "null", "{}", """{"a":1}""", """{"a":null,"b":2}""", """{"a":1.5,"b":2,"c":3}""", "[]", """[1,"x"]""",
             "0.5", "-1", "3", "\"AB\"", "\"ABCD\"", "\"0b6a1c9e-2f4d-4c8a-9e1f-3a5b7c9d1e2f\"", "[2]", "[1,2]", """{"\u0061":1,"\u0062":"x"}""",
             """{"a":"ü","b":7,"c":null,"d":3}""", "{\"" + new string('a', 200) + "\":1,\"b\":true}"];
        var withErrors = 0;
        foreach (var schema in schemas)
        {
            var parsed = JsonNode.Parse(schema)!;
            foreach (var value in values)
            {
                var expected = string.Join("\n", ReferenceSchemaValidator.Validate(JsonNode.Parse(value), parsed));
                // As the plan check reads an event: parsed, member names as written (escapes too); a JSON null is no data,
                // as the node validator's null node is.
                using var document = JsonDocument.Parse(value);
                JsonElement? data = document.RootElement.ValueKind == JsonValueKind.Null ? null : document.RootElement;
                var actual = string.Join("\n", SchemaValidator.Validate(data, parsed));
                Assert.True(expected == actual, $"{value} against {schema}\nnode validator: {expected}\nnow:            {actual}");
                withErrors += expected.Length > 0 ? 1 : 0;
            }
        }

        Assert.InRange(withErrors, 200, schemas.Length * values.Length - 100); // most pairs are errors, some are not
    }

    private static string Text(IReadOnlyList<PlanValidationResult> results) =>
        string.Join("\n", results.Select(r => $"{r.EventIndex}: {r.ToJson().ToJsonString()}"));

    /// <summary>One random change somewhere under the batch's events or user attributes.</summary>
    private static void Change(JsonObject batch, Random random)
    {
        var places = new List<(JsonNode Parent, string? Name, int Index)>();
        Collect(batch["events"], places);
        Collect(batch["user_attributes"], places);
        if (places.Count == 0)
        {
            return;
        }

        var (parent, name, index) = places[random.Next(places.Count)];
        JsonNode? value = random.Next(8) switch
        {
            0 => null,
            1 => JsonValue.Create(Strings[random.Next(Strings.Length)]),
            2 => JsonNode.Parse(Numbers[random.Next(Numbers.Length)]),
            3 => JsonValue.Create(random.Next(-3, 100)),
            4 => JsonValue.Create(random.Next(2) == 0),
            5 => random.Next(3) switch { 0 => new JsonObject(), 1 => new JsonArray(), _ => new JsonObject { ["a"] = null, ["b"] = new JsonArray(null, 1) } },
            _ => Remove,
        };

        switch (parent)
        {
            case JsonObject obj when ReferenceEquals(value, Remove):
                obj.Remove(name!);
                break;
            case JsonObject obj when random.Next(4) == 0:
                obj["extra_" + random.Next(3)] = value; // a member the plan may not have
                break;
            case JsonObject obj:
                obj[name!] = value;
                break;
            case JsonArray array when ReferenceEquals(value, Remove):
                array.RemoveAt(index);
                break;
            case JsonArray array when random.Next(4) == 0:
                array.Add(array[index]?.DeepClone());
                break;
            case JsonArray array:
                array[index] = value;
                break;
        }
    }

    private static readonly JsonObject Remove = [];

    private static void Collect(JsonNode? node, List<(JsonNode Parent, string? Name, int Index)> places)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, member) in obj)
                {
                    places.Add((obj, name, -1));
                    Collect(member, places);
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    places.Add((array, null, i));
                    Collect(array[i], places);
                }

                break;
        }
    }
}
