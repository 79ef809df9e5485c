using System.Text.Json;
using CsCheck;
using CtMparticle.Consent;
using CtMparticle.Embedded;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using CtMparticle.Tracking;
using Microsoft.Extensions.Time.Testing;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The log's consent store (ADR 0007, step 3) against the SQLite store as the oracle: random runs of merges (purposes
/// granted and refused at earlier and later times, regions with and without a state or with an unknown subdivision,
/// arriving out of order), reads and retention (keeping refusals or not), in and out of batches, with rollbacks and
/// crashes, must give every user the same state.
/// </summary>
public sealed class LogConsentStoreTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 12, 4, 9, 0, 0, TimeSpan.Zero);
    private static readonly Region[] Regions = [new("DE"), new("US", "CA"), new("US") { SubdivisionUnknown = true }, new("FR")];
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-log-consent-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    private enum Op { Merge, MergeRegion, MergeBoth, Purge, PurgeAll, Wait, Begin, Commit, Rollback, Savepoint, Release, RollbackTo, Crash, Compact }

    [Fact]
    public async Task MergesReadsAndRetention_InAndOutOfBatches_WithRollbacksAndCrashes_AnswerAsTheSqliteStoreDoes()
    {
        var gen = Gen.Select(Gen.Enum<Op>(), Gen.Int[0, 3], Gen.Int[0, 7], Gen.Int[-30, 30]).Array[1, 50];
        var runs = 0;
        await gen.SampleAsync(async operations =>
        {
            var directory = Path.Combine(work, $"run-{Interlocked.Increment(ref runs)}");
            var time = new FakeTimeProvider(Start);
            await using var oracle = SqliteStore.Open(Path.Combine(directory, "oracle", "state.db"), time);
            using var stores = new OracleRun(oracle, Path.Combine(directory, "log"), time);
            foreach (var (op, user, choice, minutes) in operations)
            {
                var key = $"customer:c-{user}";
                var at = time.GetUtcNow().AddMinutes(minutes);
                // Purposes stated with and without an offset, a document, a location and a sequence number: the log
                // writes each field itself, and must give back what the SQLite store's JSON does.
                var stated = minutes % 3 == 0 ? at.ToOffset(TimeSpan.FromMinutes(330)) : at;
                ConsentSnapshot? consent = op is Op.Merge or Op.MergeBoth
                    ? new ConsentSnapshot(new Dictionary<string, ConsentPurpose>
                        {
                            [(choice & 1) == 0 ? "analytics" : "marketing"] = new((choice & 2) == 0, stated, minutes % 2 == 0 ? null : "privacy-v2",
                                minutes % 4 == 0 ? null : "checkout", minutes > 0 ? minutes : null),
                        },
                        (choice & 4) == 0 ? null : new ConsentPurpose(true, stated))
                    : null;
                StatedRegion? region = op is Op.MergeRegion or Op.MergeBoth ? new StatedRegion(Regions[choice % Regions.Length], at) : null;
                switch (op)
                {
                    case Op.Merge or Op.MergeRegion or Op.MergeBoth:
                        Assert.Equal(Text(await oracle.MergeAsync(key, consent, region, default)), Text(await stores.Log.Consent.MergeAsync(key, consent, region, default)));
                        break;
                    case Op.Purge or Op.PurgeAll:
                        Func<UserConsent, bool> keep = op == Op.Purge ? RetentionJob.KeepsARefusal : _ => false;
                        var cutoff = time.GetUtcNow().AddMinutes(-choice * 5);
                        Assert.Equal(await oracle.PurgeConsentOlderThanAsync(cutoff, keep, default), await stores.Log.Consent.PurgeConsentOlderThanAsync(cutoff, keep, default));
                        break;
                    case Op.Wait:
                        time.Advance(TimeSpan.FromMinutes(choice * 3 + 1));
                        break;
                    default:
                        await stores.BatchStepAsync(op.ToString());
                        break;
                }

                await AssertSameAsync(oracle, stores.Log.Consent);
            }

            await stores.FinishAsync();
            await AssertSameAsync(oracle, stores.Log.Consent);
        }, iter: 200);
    }

    /// <summary>
    /// Records written before the consent was kept field by field hold it as JSON: a store with such records reads the
    /// same states, merges into them, and a compaction writes them in the new form without changing them.
    /// </summary>
    [Fact]
    public async Task RecordsThatHoldTheConsentAsJson_AreReadAsBefore_AndACompactionRewritesThem()
    {
        var time = new FakeTimeProvider(Start);
        var directory = Path.Combine(work, "json-records");
        var states = new Dictionary<string, ConsentSnapshot>
        {
            ["customer:c-0"] = new(new Dictionary<string, ConsentPurpose>
            {
                ["analytics"] = new(true, Start.ToOffset(TimeSpan.FromHours(-5)), "privacy-v1", "footer", 7),
                ["marketing"] = new(false, Start.AddMinutes(3)),
            }),
            ["customer:c-1"] = new(new Dictionary<string, ConsentPurpose>(), new ConsentPurpose(true, Start, Sequence: 2)),
        };
        using (var log = StateLog.Open(directory))
        {
            foreach (var (user, consent) in states)
            {
                log.Append(ConsentRecord.Kind, JsonFormRecord(user, consent, "DE", Start.UtcTicks));
            }

            log.Commit(durable: true);
        }

        using (var store = LogStore.Open(directory, time))
        {
            foreach (var (user, consent) in states)
            {
                var read = await store.Consent.GetAsync(user, default);
                Assert.Equal(Json(consent), Json(read!.Consent));
                Assert.Equal("DE", read.Region?.Code);
            }

            var merged = await store.Consent.MergeAsync("customer:c-1", new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(false, Start.AddHours(1)) }), null, default);
            Assert.Equal(["analytics", ConsentSnapshot.CcpaPurpose], merged.Consent.Purposes);
            states["customer:c-1"] = merged.Consent;
        }

        LogStore.Compact(directory, time);
        using var compacted = LogStore.Open(directory, time);
        foreach (var (user, consent) in states)
        {
            Assert.Equal(Json(consent), Json((await compacted.Consent.GetAsync(user, default))!.Consent));
        }

        Assert.DoesNotContain(compacted.Core.Log.ReadAll(), r => r.Kind == ConsentRecord.Kind && r.Payload.Span.IndexOf("\"gdpr\""u8) >= 0);
    }

    /// <summary>A consent record as the log wrote it before 2026-12-07 (BinaryWriter's layout, the consent as JSON).</summary>
    private static byte[] JsonFormRecord(string user, ConsentSnapshot consent, string country, long updatedTicks)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer))
        {
            writer.Write(user);
            writer.Write(0L); // previous
            writer.Write(false); // forgotten
            writer.Write(Json(consent));
            writer.Write(true); // country
            writer.Write(country);
            writer.Write(false); // state
            writer.Write("");
            writer.Write(true); // when the region was stated
            writer.Write(updatedTicks);
            writer.Write(updatedTicks);
        }

        return buffer.ToArray();
    }

    private static string Json(ConsentSnapshot consent) => JsonSerializer.Serialize(consent, RelayJsonContext.Default.ConsentSnapshot);

    private static async Task AssertSameAsync(SqliteStore oracle, LogConsentStore log)
    {
        for (var user = 0; user <= 3; user++)
        {
            Assert.Equal(Text(await oracle.GetAsync($"customer:c-{user}", default)), Text(await log.GetAsync($"customer:c-{user}", default)));
        }
    }

    private static string Text(UserConsent? state) => state is null
        ? "none"
        : $"{JsonSerializer.Serialize(state.Consent, RelayJsonContext.Default.ConsentSnapshot)} {state.Region?.Code} {state.Region?.SubdivisionUnknown} {state.UpdatedAt.UtcTicks} {state.RegionAt.UtcTicks}";
}
