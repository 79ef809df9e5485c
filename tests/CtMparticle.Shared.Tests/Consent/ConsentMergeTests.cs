using CsCheck;
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
    public void Newest_EqualTimes_TheRefusalWinsWhicheverArrivesFirst()
    {
        Assert.False(ConsentMerge.Newest(Snapshot(("analytics", true, 1)), Snapshot(("analytics", false, 1)))!.Gdpr["analytics"].Consented);
        Assert.False(ConsentMerge.Newest(Snapshot(("analytics", false, 1)), Snapshot(("analytics", true, 1)))!.Gdpr["analytics"].Consented);
    }

    [Fact]
    public void Newest_SequenceNumbersOfTheUsersRecord_OrderBeforeTimes()
    {
        // commercetools' own order for the customer: message 7 is newer than message 6, whatever the clocks say.
        var six = new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(false, T0.AddMinutes(5), Sequence: 6) });
        var seven = new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(true, T0.AddMinutes(4), Sequence: 7) });

        Assert.True(ConsentMerge.Newest(six, seven)!.Gdpr["analytics"].Consented);
        Assert.True(ConsentMerge.Newest(seven, six)!.Gdpr["analytics"].Consented);
    }

    [Fact]
    public void Newest_ARedeliveredOlderChangeDaysLater_ChangesNothing()
    {
        var current = Snapshot(("analytics", false, 60 * 24 * 3)); // withdrawn on day 3
        var stale = Snapshot(("analytics", true, 10));               // the opt-in of day 0, redelivered now

        Assert.Same(current.Gdpr["analytics"], ConsentMerge.Newest(current, stale)!.Gdpr["analytics"]);
        Assert.True(ConsentMerge.Holds(ConsentMerge.Newest(current, stale)!, "analytics", current.Gdpr["analytics"]));
        Assert.False(ConsentMerge.Holds(ConsentMerge.Newest(current, stale)!, "analytics", stale.Gdpr["analytics"]));
    }

    /// <summary>Random histories of one user's consent (flip-flops, duplicates, ties, with and without sequence numbers).</summary>
    private static readonly Gen<ConsentSnapshot[]> Histories =
        Gen.Select(Gen.Int[0, 2], Gen.Bool, Gen.Int[0, 20], Gen.Int[0, 2], Gen.Bool)
            .Select(p => new ConsentSnapshot(
                new Dictionary<string, ConsentPurpose> { [new[] { "analytics", "marketing", "personalization" }[p.Item1]] = new(p.Item2, T0.AddMinutes(p.Item3), Sequence: p.Item5 ? p.Item3 / 2 : null) },
                p.Item4 == 0 ? new ConsentPurpose(p.Item2, T0.AddMinutes(p.Item3)) : null))
            .Array[1, 12];

    [Fact]
    public void Newest_AnyArrivalOrder_GivesTheSameStatePerPurpose()
    {
        Gen.Select(Histories, Gen.Int).Sample(p =>
        {
            var (history, seed) = p;
            var shuffled = history.ToArray();
            new Random(seed).Shuffle(shuffled);

            var inOrder = ConsentMerge.Newest(history)!;
            var swapped = ConsentMerge.Newest(shuffled)!;

            Assert.Equal(inOrder.Gdpr.OrderBy(g => g.Key).Select(g => (g.Key, g.Value.Consented, g.Value.At, g.Value.Sequence)),
                swapped.Gdpr.OrderBy(g => g.Key).Select(g => (g.Key, g.Value.Consented, g.Value.At, g.Value.Sequence)));
            Assert.Equal(inOrder.CcpaDataSaleOptOut?.Consented, swapped.CcpaDataSaleOptOut?.Consented);
        }, iter: 5_000);
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

    private static StatedRegion Stated(string country, int minute, string? state = null) => new(new Region(country, state), T0.AddMinutes(minute));

    [Fact]
    public void NewestRegion_TheLaterStatementWinsWhicheverArrivesFirst()
    {
        var moved = Stated("FR", 10);
        var before = Stated("DE", 5);

        Assert.Same(moved, ConsentMerge.NewestRegion(before, moved));
        Assert.Same(moved, ConsentMerge.NewestRegion(moved, before)); // the older one delivered late moves nobody back
        Assert.Same(before, ConsentMerge.NewestRegion(before, null));
        Assert.Null(ConsentMerge.NewestRegion(null, null));
    }

    [Fact]
    public void NewestRegion_AnyArrivalOrder_GivesTheSameRegion()
    {
        var statements = Gen.Select(Gen.Int[0, 3], Gen.Int[0, 6], Gen.Int[0, 2])
            .Select(p => new StatedRegion(new[] { new Region("DE"), new Region("US", "CA"), new Region("US") { SubdivisionUnknown = true }, new Region("FR") }[p.Item1],
                T0.AddMinutes(p.Item2))) // few minutes: ties between different regions are common
            .Array[1, 10];
        Gen.Select(statements, Gen.Int).Sample(p =>
        {
            var (history, seed) = p;
            var shuffled = history.ToArray();
            new Random(seed).Shuffle(shuffled);

            var inOrder = history.Aggregate((StatedRegion?)null, ConsentMerge.NewestRegion);
            var swapped = shuffled.Aggregate((StatedRegion?)null, ConsentMerge.NewestRegion);

            Assert.Equal(inOrder, swapped);
            Assert.Equal(history.Max(h => h.At), inOrder!.At);
        }, iter: 5_000);
    }

    [Fact]
    public void UserConsentMerged_ARegionStoredWithoutATime_IsReplacedByAnyStatedSince()
    {
        var written = new UserConsent(ConsentSnapshot.Empty, new Region("DE"), T0.AddDays(1)); // by a version that kept no time

        var merged = UserConsent.Merged(written, null, Stated("AT", -60), T0.AddDays(2));
        var kept = UserConsent.Merged(merged, null, Stated("CH", -120), T0.AddDays(3));

        Assert.Equal((new Region("AT"), T0.AddMinutes(-60)), (merged.Region, merged.RegionAt));
        Assert.Equal(new Region("AT"), kept.Region); // from then on by time
        Assert.Equal(T0.AddDays(3), kept.UpdatedAt);
    }
}
