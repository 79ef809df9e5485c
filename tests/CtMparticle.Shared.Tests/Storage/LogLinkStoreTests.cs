using System.Text.Json;
using CsCheck;
using CtMparticle.Embedded;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using Microsoft.Extensions.Time.Testing;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The log's identity store (ADR 0007, step 4) against the SQLite store as the oracle: random runs of links recorded,
/// seen again and changed in state (identifiers shared between customers), withheld events, deletions, retention and
/// identity decisions, in and out of batches, with rollbacks and crashes, must read the same from both sides.
/// </summary>
public sealed class LogLinkStoreTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 12, 4, 9, 0, 0, TimeSpan.Zero);
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-log-links-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    private enum Op { Record, SeenAgain, State, Withhold, Forget, Purge, Decide, PurgeDecisions, Wait, Begin, Commit, Rollback, Savepoint, Release, RollbackTo, Crash, Compact }

    [Fact]
    public async Task LinksWithheldEventsAndDecisions_InAndOutOfBatches_WithRollbacksAndCrashes_ReadAsTheSqliteStoreDoes()
    {
        var gen = Gen.Select(Gen.Enum<Op>(), Gen.Int[0, 3], Gen.Int[0, 3], Gen.Int[-20, 20]).Array[1, 50];
        var runs = 0;
        await gen.SampleAsync(async operations =>
        {
            var directory = Path.Combine(work, $"run-{Interlocked.Increment(ref runs)}");
            var time = new FakeTimeProvider(Start);
            await using var oracle = SqliteStore.Open(Path.Combine(directory, "oracle", "state.db"), time);
            using var stores = new OracleRun(oracle, Path.Combine(directory, "log"), time);
            foreach (var (op, customer, identifier, minutes) in operations)
            {
                var at = time.GetUtcNow().AddMinutes(minutes);
                var link = Link(customer, identifier, at);
                switch (op)
                {
                    case Op.Record:
                        Assert.Equal(await oracle.RecordAsync(link, default), await stores.Log.Links.RecordAsync(link, default));
                        break;
                    case Op.SeenAgain:
                        await oracle.SeenAgainAsync(link, at, default);
                        await stores.Log.Links.SeenAgainAsync(link, at, default);
                        break;
                    case Op.State:
                        await oracle.SetStateAsync(link, (LinkState)(minutes & 3), $"rules-{minutes}", default);
                        await stores.Log.Links.SetStateAsync(link, (LinkState)(minutes & 3), $"rules-{minutes}", default);
                        break;
                    case Op.Withhold:
                        await oracle.RecordWithheldAsync($"c-{customer}", EventId(identifier), at, default);
                        await stores.Log.Links.RecordWithheldAsync($"c-{customer}", EventId(identifier), at, default);
                        break;
                    case Op.Forget:
                        Assert.Equal(await oracle.ForgetCustomerAsync($"c-{customer}", default), await stores.Log.Links.ForgetCustomerAsync($"c-{customer}", default));
                        break;
                    case Op.Purge:
                        Assert.Equal(await oracle.PurgeOlderThanAsync(at, default), await stores.Log.Links.PurgeOlderThanAsync(at, default));
                        break;
                    case Op.Decide:
                        IdentityDecision[] decided = [new(EventId(identifier), $"event-{customer}", at, "rules", "gdpr", [new("anonymous_id", $"a-{customer}", customer % 2 == 0, "rule")])];
                        await oracle.SaveDecisionsAsync(decided, default);
                        await stores.Log.Links.SaveDecisionsAsync(decided, default);
                        break;
                    case Op.PurgeDecisions:
                        Assert.Equal(await oracle.PurgeDecisionsOlderThanAsync(at, default), await stores.Log.Links.PurgeDecisionsOlderThanAsync(at, default));
                        break;
                    case Op.Wait:
                        time.Advance(TimeSpan.FromMinutes(customer * 4 + 1));
                        break;
                    default:
                        await stores.BatchStepAsync(op.ToString());
                        break;
                }

                await AssertSameAsync(oracle, stores.Log.Links);
            }

            await stores.FinishAsync();
            await AssertSameAsync(oracle, stores.Log.Links);
        }, iter: 200);
    }

    private static IdentityLink Link(int customer, int identifier, DateTimeOffset at) =>
        new($"c-{customer}", identifier % 2 == 0 ? "anonymous_id" : "email_sha256", $"v-{identifier / 2}", EventId(customer * 10 + identifier), at, at, LinkState.Active, "rules-0");

    private static Guid EventId(int n) => new(n + 1, 0, 0, new byte[8]);

    private static async Task AssertSameAsync(SqliteStore oracle, LogLinkStore log)
    {
        string[] customers = ["c-0", "c-1", "c-2", "c-3"];
        Assert.Equal(Text(await oracle.ByCustomersAsync(customers, default)), Text(await log.ByCustomersAsync(customers, default)));
        (string, string)[] identifiers = [("anonymous_id", "v-0"), ("anonymous_id", "v-1"), ("email_sha256", "v-0"), ("email_sha256", "v-1")];
        var fromOracle = await oracle.ByIdentifiersAsync(identifiers, default);
        var fromLog = await log.ByIdentifiersAsync(identifiers, default);
        Assert.All(identifiers, id => Assert.Equal(Text(fromOracle[id]), Text(fromLog[id])));
        for (var customer = 0; customer < 4; customer++)
        {
            for (var e = 0; e < 4; e++)
            {
                Assert.Equal(await oracle.WasWithheldAsync($"c-{customer}", EventId(e), default), await log.WasWithheldAsync($"c-{customer}", EventId(e), default));
            }
        }

        for (var e = 0; e < 4; e++)
        {
            Assert.Equal(Decision(await oracle.DecisionAsync(EventId(e), default)), Decision(await log.DecisionAsync(EventId(e), default)));
        }
    }

    /// <summary>
    /// Records written before identity decisions were kept field by field hold the decision's JSON: <c>ctmp identity
    /// explain</c> reads such a record as before, a newer decision for the event replaces it, and a compaction keeps it.
    /// </summary>
    [Fact]
    public async Task ADecisionRecordThatHoldsJson_IsReadAsBefore()
    {
        var directory = Path.Combine(work, "json-decision");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 4, 9, 0, 0, TimeSpan.Zero));
        IdentityDecision old = new(EventId(1), "order_completed", time.GetUtcNow(), "rules-3", "gdpr",
            [new("customer_id", "c-1", true, "own"), new("email", "ü@example.com", false, "pairing:gdpr")]);
        IdentityDecision other = old with { EventId = EventId(2), Regime = "ccpa" };
        using (var log = StateLog.Open(directory))
        {
            foreach (var decision in new[] { old, other })
            {
                log.Append(LinkRecords.DecisionKind, new DecisionRecord(0, false, decision.EventId, decision.DecidedAt.UtcTicks,
                    JsonSerializer.SerializeToUtf8Bytes(decision, RelayJsonContext.Default.IdentityDecision)).Encode().Span);
            }

            log.Commit(durable: true);
        }

        using (var store = LogStore.Open(directory, time))
        {
            Assert.Equal(Decision(old), Decision(await store.Links.DecisionAsync(EventId(1), default)));
            await store.Links.SaveDecisionsAsync([old with { RulesVersion = "rules-4" }], default);
            Assert.Equal("rules-4", (await store.Links.DecisionAsync(EventId(1), default))!.RulesVersion);
        }

        LogStore.Compact(directory, time);
        using var compacted = LogStore.Open(directory, time);
        Assert.Equal("rules-4", (await compacted.Links.DecisionAsync(EventId(1), default))!.RulesVersion);
        Assert.Equal(Decision(other), Decision(await compacted.Links.DecisionAsync(EventId(2), default)));
    }

    private static string Text(IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>> byCustomer) =>
        string.Join(" | ", byCustomer.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}: {Text(c.Value)}"));

    // Oldest first, as the port says; SQLite leaves the order of ties (one customer's links first seen at once) open.
    private static string Text(IReadOnlyList<IdentityLink> links)
    {
        Assert.Equal(links.Select(l => l.FirstSeen).Order(), links.Select(l => l.FirstSeen));
        return string.Join(", ", links.OrderBy(l => l.FirstSeen).ThenBy(l => l.CustomerId, StringComparer.Ordinal)
            .ThenBy(l => l.Type, StringComparer.Ordinal).ThenBy(l => l.Value, StringComparer.Ordinal));
    }

    private static string Decision(IdentityDecision? decision) => decision is null ? "none" : JsonSerializer.Serialize(decision, RelayJsonContext.Default.IdentityDecision);
}
