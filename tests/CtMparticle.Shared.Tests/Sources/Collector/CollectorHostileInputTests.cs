using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using CtMparticle.Pipeline;
using CtMparticle.Sources.Collector;
using CtMparticle.Tests.Support;

namespace CtMparticle.Tests.Sources.Collector;

/// <summary>
/// "Bad input never stops the relay" for the collector's own stages: the sample journey's calls, structurally mutated
/// (<see cref="HostileInputs"/>: nulls, wrong types, deleted fields, extreme numbers, huge strings, control characters,
/// lone surrogates, duplicated keys, deep nesting, truncation), through decode → resolve → map. No exception escapes,
/// every call ends in events or a halt with a precise reason, and every event builds into a batch or a reasoned refusal.
/// </summary>
public sealed class CollectorHostileInputTests
{
#pragma warning disable RS0030 // a knob of the test run (the soak in the README), not a relay setting
    private static int Cases =>
        int.TryParse(Environment.GetEnvironmentVariable("CTMP_HOSTILE_CASES"), CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 5_000;
#pragma warning restore RS0030

    /// <summary>The journey's calls as the collector stores them (receivedAt set).</summary>
    private static readonly byte[][] Calls = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Fixtures", "storefront", "journey.ndjson"))
        .Select(line =>
        {
            var call = JsonNode.Parse(line)!.AsObject();
            call["receivedAt"] = "2026-12-02T10:00:00Z";
            return Encoding.UTF8.GetBytes(call.ToJsonString());
        })
        .ToArray();

    [Fact]
    public async Task DecodeResolveMap_MutatedCalls_NeverThrow_AndEndInEventsOrAPreciseHalt()
    {
        var source = SegmentMappingTests.Source;
        var builder = TestOptions.Builder();
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);

        await Gen.Select(Gen.Int[0, Calls.Length - 1], Gen.Int[1, 3], Gen.Int).SampleAsync(async c =>
        {
            var body = HostileInputs.Mutate(Calls[c.Item1], c.Item2, c.Item3);
            var mapped = source.Map(await source.ResolveAsync(source.Decode(new Inbound(body, Source: "web")), default));

            string key;
            if (mapped.Halt is { } halt)
            {
                Assert.NotEqual(Reason.InternalError, halt.Reason);
                Assert.False(string.IsNullOrWhiteSpace(halt.Detail));
                key = halt.Reason.Code();
            }
            else
            {
                Assert.NotEmpty(mapped.Value!.Events);
                foreach (var e in mapped.Value.Events)
                {
                    _ = builder.Build(e); // a batch, or a refusal with a reason: never an exception
                }

                key = "mapped";
            }

            lock (outcomes)
            {
                outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
            }
        }, iter: Cases, threads: 1);

        // The mutations reached past parsing: some calls still map, and several distinct precise refusals occur.
        Assert.Contains("mapped", outcomes.Keys);
        Assert.Contains("wrong_type", outcomes.Keys);
        Assert.Contains("malformed_json", outcomes.Keys);
        Assert.True(outcomes.Count >= 4, string.Join(", ", outcomes.Select(o => $"{o.Key} {o.Value}")));
    }

    [Fact]
    public void SurelyNotACall_OnMutatedCallsAndDeliveries_NeverTurnsAwayWhatIsACall_AndKnowsEveryDelivery()
    {
        var deliveries = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "commercetools"), "*.json")
            .Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToArray();
        var journey = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Fixtures", "storefront", "journey.ndjson")).Select(Encoding.UTF8.GetBytes).ToArray();
        var at = new DateTimeOffset(2026, 12, 2, 10, 0, 0, TimeSpan.Zero);
        var originals = deliveries.Concat(journey).ToArray();
        var turnedAway = 0;

        Gen.Select(Gen.Int[0, originals.Length - 1], Gen.Int[1, 3], Gen.Int).Sample(c =>
        {
            var body = HostileInputs.Mutate(originals[c.Item1], c.Item2, c.Item3);
            if (CollectorCalls.SurelyNotACall(body))
            {
                turnedAway++;
                Assert.Null(CollectorCalls.AsStoredCall(body, at));
            }
        }, iter: Cases, threads: 1);

        Assert.All(deliveries, d => Assert.True(CollectorCalls.SurelyNotACall(d))); // what it is for: no second parse of a delivery
        Assert.All(journey, c => Assert.False(CollectorCalls.SurelyNotACall(c)));
        Assert.True(turnedAway > Cases / 4, $"{turnedAway} of {Cases}");
        foreach (var unsure in new[] { """{"type":"track","event":"A","resource":null,"anonymousId":"a"}""", """{"resource":""", "[1]", "" })
        {
            Assert.False(CollectorCalls.SurelyNotACall(Encoding.UTF8.GetBytes(unsure)), unsure);
        }

        Assert.NotNull(CollectorCalls.AsStoredCall("""{"type":"track","event":"A","resource":null,"anonymousId":"a","messageId":"m"}"""u8, at)); // a null member is no envelope
    }
}
