using CtMparticle.Pipeline;
using CtMparticle.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace CtMparticle.Tests.Pipeline;

/// <summary>
/// The invariants under failure: a crash (an exception) before or after every single storage or HTTP operation of
/// ingest and push, followed by Service Bus redelivery and later push runs, must end with the same outcome for
/// every input as a run without faults, and mParticle must see each event once, except that the identical request
/// (same bytes, same source_request_id) may repeat when the crash fell between its 202 and marking it sent.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class FaultToleranceTests(AzuriteFixture azurite)
{
    /// <summary>Samples in an unhelpful order, with redeliveries, a second announcement of one purchase and bad bodies.</summary>
    private static IReadOnlyList<(string Name, byte[] Body)> Corpus()
    {
        var imported = Samples.Json(Samples.OrderCreatedRegistered);
        imported["id"] = "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f";
        imported["type"] = "OrderImported";
        var broken = Samples.Bytes(Samples.OrderCreatedGuest)[..700];
        return
        [
            ("07-before-order", Samples.Bytes(Samples.OrderStateChanged)),
            ("05", Samples.Bytes(Samples.CustomerCreated)),
            ("01", Samples.Bytes(Samples.OrderCreatedRegistered)),
            ("03", Samples.Bytes(Samples.ReturnInfoAdded)),
            ("01-again", Samples.Bytes(Samples.OrderCreatedRegistered)),
            ("04", Samples.Bytes(Samples.RefundTransaction)),
            ("01-imported", Samples.Bytes(imported)),
            ("08", Samples.Bytes(Samples.PayloadNotIncluded)),
            ("truncated", broken),
            ("09", Samples.Bytes(Samples.CartChange)),
            ("06", Samples.Bytes(Samples.CustomerEmailChanged)),
            ("10", Samples.Bytes(Samples.CloudEventsConsent)),
            ("02", Samples.Bytes(Samples.OrderCreatedGuest)),
            ("03-again", Samples.Bytes(Samples.ReturnInfoAdded)),
        ];
    }

    private sealed record RunResult(
        IReadOnlyDictionary<string, string> Outcomes,
        IReadOnlyList<RecordedRequest> Accepted,
        int Pending,
        int InFlight,
        IReadOnlyList<string> Quarantined,
        int Crashes);

    private async Task<RunResult> RunScenario(EventsApiServer server, FaultPlan plan)
    {
        await using var relay = RelayHarness.Create(azurite, server, faults: plan);
        var outcomes = new Dictionary<string, string>();
        var crashes = 0;
        foreach (var (name, body) in Corpus())
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    // Service Bus redelivers the same message (same body, same ids) until it completes.
                    var outcome = await relay.Ingest.IngestAsync(new Inbound(body, "sb-" + name, attempt), default);
                    outcomes[name] = outcome.KindCode + ":" + outcome.Reason;
                    break;
                }
                catch (InjectedCrash)
                {
                    crashes++;
                    Assert.True(attempt < 5, $"{name} never completed");
                }
            }
        }

        for (var run = 0; run < 10; run++)
        {
            try
            {
                await relay.Push.PushAsync(default);
            }
            catch (InjectedCrash)
            {
                crashes++;
            }
        }

        plan.Disarm();
        var pending = (await relay.Events.ReadPendingAsync(1000, default)).Count;
        var inFlight = (await relay.Events.ReadInFlightAsync(default)).Count;
        var quarantined = (await relay.QuarantinedAsync()).Select(q => q.Source.MessageId + ":" + q.Reasons[0]).Order(StringComparer.Ordinal).ToArray();
        return new RunResult(outcomes, server.Accepted, pending, inFlight, quarantined, crashes);
    }

    private static void AssertDeliveredOnce(RunResult result, string label)
    {
        // Each event reached mParticle, and every request that carried it had the same bytes.
        foreach (var group in result.Accepted
                     .SelectMany(r => r.SourceMessageIds.Select(id => (id, body: Convert.ToBase64String(r.Body))))
                     .GroupBy(p => p.id))
        {
            Assert.True(group.Select(p => p.body).Distinct().Count() == 1, $"{label}: event {group.Key} was sent in two different requests");
        }

        Assert.True(result.Pending == 0, $"{label}: {result.Pending} event(s) still pending");
        Assert.True(result.InFlight == 0, $"{label}: {result.InFlight} request(s) still in flight");
    }

    [Fact]
    public async Task CrashAtEveryStep_EndsWithTheSameOutcomesAndEachEventSentOnce()
    {
        await using var baselineServer = new EventsApiServer();
        var counting = new FaultPlan();
        var baseline = await RunScenario(baselineServer, counting);
        var expectedEvents = baseline.Accepted.SelectMany(r => r.SourceMessageIds).ToHashSet();
        Assert.Equal(6, expectedEvents.Count); // sign-up, purchase, return, refund, profile update, consent update
        AssertDeliveredOnce(baseline, "baseline");

        var failures = new List<string>();
        var points = 0;
        foreach (var timing in new[] { CrashTiming.Before, CrashTiming.After })
        {
            for (var k = 1; k <= counting.Calls; k++)
            {
                await using var server = new EventsApiServer();
                var plan = new FaultPlan { CrashAt = k, Timing = timing };
                var result = await RunScenario(server, plan);
                var label = $"crash {timing} {plan.Log.ElementAtOrDefault(k - 1)}";
                points++;
                try
                {
                    Assert.Equal(1, result.Crashes);
                    Assert.Equal(baseline.Outcomes, result.Outcomes);
                    Assert.Equal(baseline.Quarantined, result.Quarantined);
                    Assert.Equal(expectedEvents, result.Accepted.SelectMany(r => r.SourceMessageIds).ToHashSet());
                    AssertDeliveredOnce(result, label);
                }
                catch (Xunit.Sdk.XunitException ex)
                {
                    failures.Add($"{label}: {ex.Message}");
                }
            }
        }

        Assert.True(points > 40, $"only {points} crash points were exercised");
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public async Task RateLimitAndServerErrorStorm_EveryEventArrivesOnceInIdenticalRequests()
    {
        await using var server = new EventsApiServer();
        var random = new Random(1129);
        var gate = new Lock();
        server.Respond = (_, _) =>
        {
            int roll;
            lock (gate)
            {
                roll = random.Next(10);
            }

            return roll switch
            {
                0 or 1 => new ScriptedResponse(429, Headers: new Dictionary<string, string> { ["Retry-After"] = "5" }),
                2 => new ScriptedResponse(429, Headers: new Dictionary<string, string> { ["X-mp-rate-limit-exceeded"] = "acceleration" }),
                3 => new ScriptedResponse(429),
                4 or 5 => new ScriptedResponse(503, "{\"errors\":[{\"code\":\"UNAVAILABLE\"}]}"),
                6 => new ScriptedResponse(500),
                _ => ScriptedResponse.Accepted,
            };
        };
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero));
        await using var relay = RelayHarness.Create(azurite, server, s => s["Push:MaxBatchesPerRequest"] = "3", time);
        for (var i = 0; i < 60; i++)
        {
            var e = new CtMparticle.Tracking.SignedIn(new CtMparticle.Tracking.EventContext(
                CtMparticle.Tracking.Uuid5.ForEvent($"storm-{i}"), $"storm-{i}", time.GetUtcNow(), CtMparticle.Tracking.EventSource.Storefront,
                null, null, new CtMparticle.Tracking.Region("US"), new CtMparticle.Tracking.UserIds($"storm-customer-{i}")));
            await relay.Events.TryAddAsync(e, null, default);
        }

        var runs = 0;
        while ((await relay.Events.ReadPendingAsync(1000, default)).Count > 0 || (await relay.Events.ReadInFlightAsync(default)).Count > 0)
        {
            Assert.True(++runs < 300, "the storm never drained");
            await relay.Push.PushAsync(default);
            time.Advance(TimeSpan.FromMinutes(10));
        }

        Assert.Equal(60, server.Accepted.SelectMany(r => r.SourceMessageIds).Distinct().Count());
        foreach (var group in server.Received.SelectMany(r => r.SourceMessageIds.Select(id => (id, body: Convert.ToBase64String(r.Body)))).GroupBy(p => p.id))
        {
            // Retries after 429/5xx resend the identical request: an event never travels in two different bodies.
            Assert.Single(group.Select(p => p.body).Distinct());
        }

        Assert.Contains(server.Received, r => r.AnsweredStatus == 429);
        Assert.Contains(server.Received, r => r.AnsweredStatus >= 500);
        Assert.Empty(await relay.QuarantinedAsync());
    }

    [Fact]
    public async Task SameMessageTwiceConcurrentlyWithACrash_StoresAndSendsItOnce()
    {
        await using var server = new EventsApiServer();
        var plan = new FaultPlan { CrashAt = 3, Timing = CrashTiming.After };
        await using var relay = RelayHarness.Create(azurite, server, faults: plan);
        var body = Samples.Bytes(Samples.OrderCreatedRegistered);

        async Task<IngestOutcome> Deliver(string lockToken)
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    return await relay.Ingest.IngestAsync(new Inbound(body, lockToken, attempt), default);
                }
                catch (InjectedCrash) when (attempt < 5)
                {
                }
            }
        }

        var outcomes = await Task.WhenAll(Deliver("a"), Deliver("b"));
        await relay.Push.PushAsync(default);

        Assert.All(outcomes, o => Assert.Equal(IngestOutcomeKind.Accepted, o.Kind)); // the same message: both copies are that message's acceptance
        Assert.Equal(["f34de537-8370-59c1-86b4-95bd3324b55b"], server.Accepted.SelectMany(r => r.SourceMessageIds));
        Assert.NotEmpty(plan.Log);
    }
}
