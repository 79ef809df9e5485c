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
            var directory = Path.Combine(work, $"run-{runs++}");
            var time = new FakeTimeProvider(Start);
            await using var oracle = SqliteStore.Open(Path.Combine(directory, "oracle", "state.db"), time);
            using var stores = new OracleRun(oracle, Path.Combine(directory, "log"), time);
            foreach (var (op, user, choice, minutes) in operations)
            {
                var key = $"customer:c-{user}";
                var at = time.GetUtcNow().AddMinutes(minutes);
                ConsentSnapshot? consent = op is Op.Merge or Op.MergeBoth
                    ? new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { [(choice & 1) == 0 ? "analytics" : "marketing"] = new((choice & 2) == 0, at) },
                        (choice & 4) == 0 ? null : new ConsentPurpose(true, at))
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
