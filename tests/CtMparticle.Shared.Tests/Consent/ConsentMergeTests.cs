using CtMparticle.Consent;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Consent;

public sealed class ConsentMergeTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 9, 0, 0, TimeSpan.Zero);

    private static ConsentSnapshot Snapshot(params (string Purpose, bool Consented, int Minute)[] purposes) =>
        new(purposes.ToDictionary(p => p.Purpose, p => new ConsentPurpose(p.Consented, T0.AddMinutes(p.Minute))));

    [Fact]
    public void Newest_PerPurpose_TheLaterSignalWinsWhicheverArrivesFirst()
    {
        var older = Snapshot(("analytics", true, 1), ("marketing", false, 5));
        var newer = Snapshot(("analytics", false, 2), ("marketing", true, 3));

        var merged = ConsentMerge.Newest(older, newer)!;

        Assert.False(merged.Gdpr["analytics"].Consented); // minute 2 beats minute 1
        Assert.False(merged.Gdpr["marketing"].Consented); // minute 5 beats minute 3, although it was "older"
    }

    [Fact]
    public void Newest_EqualTimes_TheSecondSignalWins()
    {
        var merged = ConsentMerge.Newest(Snapshot(("analytics", true, 1)), Snapshot(("analytics", false, 1)))!;

        Assert.False(merged.Gdpr["analytics"].Consented);
    }

    [Fact]
    public void Newest_EmptyOrMissingSides_KeepTheOther()
    {
        var one = Snapshot(("analytics", true, 1));

        Assert.Same(one, ConsentMerge.Newest(one, null));
        Assert.Same(one, ConsentMerge.Newest(null, one));
        Assert.Same(one, ConsentMerge.Newest(ConsentSnapshot.Empty, one));
        Assert.Null(ConsentMerge.Newest(null, null));
    }

    [Fact]
    public void Newest_CcpaOptOut_MergesByTimeLikeAnyPurpose()
    {
        var optedOut = new ConsentSnapshot(new Dictionary<string, ConsentPurpose>(), new ConsentPurpose(true, T0.AddMinutes(2)));
        var optedInEarlier = new ConsentSnapshot(new Dictionary<string, ConsentPurpose>(), new ConsentPurpose(false, T0.AddMinutes(1)));

        Assert.True(ConsentMerge.Newest(optedOut, optedInEarlier)!.CcpaDataSaleOptOut!.Consented);
        Assert.Equal([ConsentSnapshot.CcpaPurpose], optedOut.Purposes);
    }

    [Fact]
    public void Newest_OfASequence_FoldsInOrder()
    {
        var merged = ConsentMerge.Newest([Snapshot(("analytics", true, 1)), null, Snapshot(("analytics", false, 3)), Snapshot(("analytics", true, 2))])!;

        Assert.False(merged.Gdpr["analytics"].Consented);
    }
}
