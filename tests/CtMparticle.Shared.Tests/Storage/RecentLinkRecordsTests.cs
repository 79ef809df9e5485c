using CtMparticle.Embedded.Log;
using CtMparticle.Storage;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The link records the log's identity store keeps decoded by address (<see cref="RecentLinkRecords"/>): bounded, the
/// records in use kept, and nothing kept across a drop of the log's end (whose addresses are given again). That reads
/// through it answer as the SQLite store does is <see cref="LogLinkStoreTests"/>'s.
/// </summary>
public sealed class RecentLinkRecordsTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-recent-links-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    [Fact]
    public void Add_ManyMoreThanAGeneration_HoldsAtMostTwoGenerations_AndTheNewestOnes()
    {
        using var core = LogCore.Open(work);
        var recent = RecentLinkRecords.On(core);
        const int Added = RecentLinkRecords.Generation * 5 + 17;
        for (long address = 1; address <= Added; address++)
        {
            recent.Add(address, Record(address));
        }

        Assert.InRange(recent.Count, RecentLinkRecords.Generation, 2 * RecentLinkRecords.Generation);
        Assert.Equal(Record(Added).Link, recent.Find(Added)?.Link);
        Assert.Null(recent.Find(1));
    }

    [Fact]
    public void Find_ARecordInUse_KeepsItWhileNewerOnesPushTheRestOut()
    {
        using var core = LogCore.Open(work);
        var recent = RecentLinkRecords.On(core);
        recent.Add(1, Record(1));
        for (long round = 0; round < 4; round++)
        {
            for (var i = 0; i < RecentLinkRecords.Generation; i++)
            {
                recent.Add(1_000_000 + (round * RecentLinkRecords.Generation) + i, Record(i));
            }

            // Read once per generation: it moves to the newer one each time, so it is never dropped.
            Assert.Equal("c-1", recent.Find(1)?.Link.CustomerId);
        }

        Assert.Null(recent.Find(1_000_000)); // not read since: dropped
    }

    [Fact]
    public async Task ALogThatDropsItsEnd_EmptiesIt()
    {
        using var core = LogCore.Open(work);
        var recent = RecentLinkRecords.On(core);
        await core.BeginBatchAsync(default);
        var address = core.Append(LinkRecords.LinkKind, Record(1).Encode().Span);
        recent.Add(address, Record(1));
        Assert.NotNull(recent.Find(address));

        await core.RollbackBatchAsync(default); // the address is given again to the next record

        Assert.Equal(0, recent.Count);
        Assert.Null(recent.Find(address));
    }

    [Fact]
    public async Task ASavepointReturnedTo_EmptiesIt()
    {
        using var core = LogCore.Open(work);
        var recent = RecentLinkRecords.On(core);
        await core.BeginBatchAsync(default);
        await core.SavepointAsync("request", default);
        var address = core.Append(LinkRecords.LinkKind, Record(1).Encode().Span);
        recent.Add(address, Record(1));

        await core.RollbackToSavepointAsync("request", default);

        Assert.Null(recent.Find(address));
        await core.CommitBatchAsync(default);
    }

    private static LinkRecord Record(long n)
    {
        var at = new DateTimeOffset(2026, 12, 8, 1, 0, 0, TimeSpan.Zero);
        return new LinkRecord(0, false, new IdentityLink($"c-{n}", "email_sha256", $"v-{n}", Guid.Empty, at, at, LinkState.Active, "rules-1"));
    }
}
