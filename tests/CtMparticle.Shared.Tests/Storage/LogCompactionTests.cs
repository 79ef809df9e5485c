using CtMparticle.Consent;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using CtMparticle.Tracking;
using Microsoft.Extensions.Time.Testing;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The log's compaction (ADR 0007, step 6) on a store that went through every kind of change: what each store reads
/// is the same after it, the log is smaller, and a crash at each point of the swap leaves the old log or the copy,
/// never a mix. (The oracle tests compact at random points of their runs too: the "Compact" step.)
/// </summary>
public sealed class LogCompactionTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 12, 6, 9, 0, 0, TimeSpan.Zero);
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-log-compaction-").FullName;
    private readonly FakeTimeProvider time = new(Start);

    public void Dispose() => Directory.Delete(work, recursive: true);

    private string Folder => Path.Combine(work, "store");

    [Fact]
    public async Task Compact_KeepsWhatEveryStoreReads_AndDropsTheVersionsBefore_TheSentJsonAndTheForgotten()
    {
        await FillAsync();
        var before = await ReadingAsync();
        var (segmentsBefore, bytesBefore) = (StateLog.Segments(Folder), StateLog.Segments(Folder).Sum(s => s.Bytes));

        var result = LogStore.Compact(Folder, time, segmentBytes: LogTests.SmallSegment, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);

        Assert.Equal(before, await ReadingAsync());
        var after = StateLog.Segments(Folder);
        Assert.Equal(result.BytesAfter, after.Sum(s => s.Bytes));
        Assert.Equal(bytesBefore, result.BytesBefore);
        Assert.True(result.BytesAfter < bytesBefore / 2, $"{result.BytesAfter:N0} of {bytesBefore:N0} bytes kept");
        Assert.True(result.RecordsKept < result.RecordsBefore);
        Assert.True(after[0].Number > segmentsBefore[^1].Number, "the copy's segments carry on the old log's numbers");
        Assert.False(Directory.Exists(Path.Combine(Folder, LogCompaction.Folder)));

        // Compacted again, nothing more goes; and the store goes on working where it was.
        var again = LogStore.Compact(Folder, time, segmentBytes: LogTests.SmallSegment, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);
        Assert.Equal(result.RecordsKept, again.RecordsKept);
        Assert.Equal(before, await ReadingAsync());
        using var store = Open();
        Assert.Equal(AddResult.Duplicate, await store.Events.TryAddAsync(Event(21), "m-other", default)); // sent, and remembered
        Assert.Equal(AddResult.Added, await store.Events.TryAddAsync(Event(5), "m-5", default)); // forgotten: may be stored again
        Assert.Equal(AddResult.Added, await store.Events.TryAddAsync(Event(1_000), "m-1000", default));
    }

    /// <summary>The swap's crash points, as <see cref="LogCompaction.Finish"/> meets them at the next open.</summary>
    public static TheoryData<string> CrashPoints => ["copy-torn", "copy-unmarked", "marker-half-written", "marked", "half-swapped", "swapped-marker-left"];

    [Theory]
    [MemberData(nameof(CrashPoints))]
    public async Task Open_AfterACrashAtEachPointOfTheSwap_ReadsTheSame_FromTheOldLogOrTheCopy(string point)
    {
        await FillAsync();
        var before = await ReadingAsync();
        var old = Path.Combine(work, "old");
        Directory.CreateDirectory(old);
        var oldSegments = StateLog.Segments(Folder);
        foreach (var (number, _) in oldSegments)
        {
            File.Copy(StateLog.SegmentPath(Folder, number), StateLog.SegmentPath(old, number));
        }

        LogStore.Compact(Folder, time, segmentBytes: LogTests.SmallSegment, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);
        var copySegments = StateLog.Segments(Folder);
        Assert.True(copySegments.Count >= 2, "the copy spans segments, so a swap can stop half-way");

        // Rebuild the folder as the crash left it: the copy back in compact/, the old segments back where they were.
        var copy = Path.Combine(Folder, LogCompaction.Folder);
        Directory.CreateDirectory(copy);
        foreach (var (number, _) in copySegments)
        {
            File.Move(StateLog.SegmentPath(Folder, number), StateLog.SegmentPath(copy, number));
        }

        foreach (var (number, _) in oldSegments)
        {
            File.Copy(StateLog.SegmentPath(old, number), StateLog.SegmentPath(Folder, number));
        }

        var marker = Path.Combine(copy, LogCompaction.DoneMarker);
        var compacted = point is not ("copy-torn" or "copy-unmarked" or "marker-half-written");
        switch (point)
        {
            case "copy-torn": // killed while writing the copy: its last segment ends mid-record, no marker
                using (var last = new FileStream(StateLog.SegmentPath(copy, copySegments[^1].Number), FileMode.Open))
                {
                    last.SetLength(last.Length / 2);
                }

                break;
            case "copy-unmarked": // the copy whole, the marker not yet written
                break;
            case "marker-half-written": // killed while writing the marker: it is written beside, then renamed
                await File.WriteAllTextAsync(marker + ".new", "");
                break;
            case "marked": // the marker on the disk, nothing swapped
                await File.WriteAllTextAsync(marker, copySegments[0].Number.ToString(System.Globalization.CultureInfo.InvariantCulture));
                break;
            case "half-swapped": // the old segments deleted, the first of the copy's moved in
                await File.WriteAllTextAsync(marker, copySegments[0].Number.ToString(System.Globalization.CultureInfo.InvariantCulture));
                foreach (var (number, _) in oldSegments)
                {
                    File.Delete(StateLog.SegmentPath(Folder, number));
                }

                File.Move(StateLog.SegmentPath(copy, copySegments[0].Number), StateLog.SegmentPath(Folder, copySegments[0].Number));
                break;
            case "swapped-marker-left": // every segment moved, the marker not yet deleted
                await File.WriteAllTextAsync(marker, copySegments[0].Number.ToString(System.Globalization.CultureInfo.InvariantCulture));
                foreach (var (number, _) in oldSegments)
                {
                    File.Delete(StateLog.SegmentPath(Folder, number));
                }

                foreach (var (number, _) in copySegments)
                {
                    File.Move(StateLog.SegmentPath(copy, number), StateLog.SegmentPath(Folder, number));
                }

                break;
        }

        Assert.Equal(before, await ReadingAsync());
        Assert.False(Directory.Exists(copy));
        Assert.Equal(compacted ? copySegments : oldSegments, StateLog.Segments(Folder));
    }

    [Fact]
    public async Task Compact_GivesTheInFlightJournalsFreedPagesBack_AndKeepsWhatItHolds()
    {
        using (var store = Open())
        {
            var body = new byte[16 * 1024];
            for (var i = 0; i < 200; i++)
            {
                await store.Events.SaveInFlightAsync(new InFlightRequest($"r-{i}", "acme-eu", body, [new InFlightBatch(body.Length, [Key(i)])], time.GetUtcNow()), default);
            }

            for (var i = 1; i < 200; i++)
            {
                await store.Events.DeleteInFlightAsync($"r-{i}", default);
            }
        }

        var journal = InFlightJournalFile();
        var before = new FileInfo(journal).Length;

        LogStore.Compact(Folder, time, segmentBytes: LogTests.SmallSegment, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);

        Assert.True(new FileInfo(journal).Length < before / 10, $"{new FileInfo(journal).Length:N0} of {before:N0} bytes");
        using var reopened = Open();
        Assert.Equal(["r-0"], (await reopened.Events.ReadInFlightAsync(default)).Select(r => r.RequestId));
    }

    private string InFlightJournalFile() => Path.Combine(Folder, "state.inflight.db");

    [Fact]
    public async Task Open_WithAMarkerThatNamesNoSegment_RefusesToGuess()
    {
        await FillAsync();
        var copy = Directory.CreateDirectory(Path.Combine(Folder, LogCompaction.Folder)).FullName;
        await File.WriteAllTextAsync(Path.Combine(copy, LogCompaction.DoneMarker), "not a number");

        var error = Assert.Throws<StoreDamagedException>(Open);
        Assert.Contains("does not name a segment", error.Message, StringComparison.Ordinal);
        Assert.NotEmpty(StateLog.Segments(Folder)); // nothing deleted
    }

    [Fact]
    public async Task ShouldCompact_OnceTheLogDoubledSinceItsLastCompaction_AboveTheLeast_AcrossOpens_AndNotInsideABatch()
    {
        using (var store = LogStore.Open(Folder, time, tailBytes: LogTests.SmallTail, compactFromBytes: 20_000))
        {
            await store.Events.TryAddAsync(Event(0), "m-0", default);
            Assert.False(store.ShouldCompact); // below the least

            await AddUntilAsync(store, 1, () => store.ShouldCompact);
            await store.BeginBatchAsync(default);
            await store.Events.TryAddAsync(Event(500), "m-500", default);
            Assert.False(store.ShouldCompact); // a batch is open: its records would read as committed
            await store.CommitBatchAsync(default);
            Assert.True(store.ShouldCompact);
            var result = store.CompactAndClose();
            Assert.Equal(result.BytesAfter, LogCompaction.BaseBytes(Folder));
            Assert.Throws<ObjectDisposedException>(() => store.CompactAndClose());
        }

        Assert.False(LogStore.ShouldCompactIn(Folder, compactFromBytes: 20_000));
        var added = 0;
        for (var open = 0; open < 200 && !LogStore.ShouldCompactIn(Folder, compactFromBytes: 20_000); open++)
        {
            // Small runs, each opening the store: together they double the log, and the rule counts them together.
            using var store = LogStore.Open(Folder, time, tailBytes: LogTests.SmallTail, compactFromBytes: 20_000);
            Assert.Equal(LogStore.ShouldCompactIn(Folder, compactFromBytes: 20_000), store.ShouldCompact);
            await store.Events.TryAddAsync(Event(1_000 + open), $"m-{1_000 + open}", default);
            added++;
        }

        Assert.True(LogStore.ShouldCompactIn(Folder, compactFromBytes: 20_000));
        Assert.True(added > 1, "the log doubled over several opens");
        using var again = LogStore.Open(Folder, time, tailBytes: LogTests.SmallTail, compactFromBytes: 20_000);
        Assert.True(again.ShouldCompact);
        Assert.Contains(await again.Events.ReadPendingAsync(1_000, default), p => p.EventId == Event(500).Context.EventId);
    }

    private static async Task AddUntilAsync(LogStore store, int from, Func<bool> done)
    {
        for (var i = from; i < from + 500 && !done(); i++)
        {
            await store.Events.TryAddAsync(Event(i), $"m-{i}", default);
        }

        Assert.True(done());
    }

    private LogStore Open() => LogStore.Open(Folder, time, segmentBytes: LogTests.SmallSegment, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);

    /// <summary>
    /// A store through every kind of change: events stored, rewritten, held, sent, withdrawn, parked and restored,
    /// withheld, and forgotten by retention; inputs recorded, redelivered and updated; consent merged again and again;
    /// orders saved in several versions with payments; links recorded, seen again and forgotten; decisions saved and
    /// purged; a checkpoint set twice.
    /// </summary>
    private async Task FillAsync()
    {
        using var store = Open();
        for (var i = 0; i < 60; i++)
        {
            var e = Event(i);
            var seq = await store.Ledger.RecordInputAsync("commercetools", $"m-{i}", "OrderCreated", "accepted", null, "detail", null, [], [], null, default);
            if (i % 10 == 9)
            {
                await store.Events.WithholdAsync(e, $"m-{i}", default);
            }
            else
            {
                await store.Events.TryAddAsync(e, $"m-{i}", default);
                await store.Ledger.UpdateInputAsync(seq, "accepted", null, "stored", null, [e.Context.EventId], i % 4 == 0 ? ["plan:extra"] : [], i % 5 == 0 ? "order_missing" : null, default);
            }

            if (i % 6 == 0)
            {
                await store.Ledger.RecordInputAsync("commercetools", $"m-{i}", "OrderCreated", "duplicate", "redelivered", "again", null, [], [], null, default);
            }

            await store.Consent.MergeAsync($"user-{i % 7}", Consent(i), i % 3 == 0 ? new StatedRegion(new Region("DE"), time.GetUtcNow()) : null, default);
            await store.Orders.SaveAsync(Order(i % 8, i, $"pay-{i % 5}"), default);
            var link = new IdentityLink($"c-{i % 9}", "email_sha256", $"v-{i % 4}", e.Context.EventId, time.GetUtcNow(), time.GetUtcNow(), LinkState.Active, "rules-1");
            await store.Links.RecordAsync(link, default);
            await store.Links.SeenAgainAsync(link, time.GetUtcNow().AddMinutes(1), default);
            await store.Links.SaveDecisionsAsync([new IdentityDecision(e.Context.EventId, $"event-{i}", time.GetUtcNow(), "rules-1", "gdpr", [])], default);
            if (i % 11 == 0)
            {
                await store.Links.RecordWithheldAsync($"c-{i % 9}", e.Context.EventId, time.GetUtcNow(), default);
            }

            time.Advance(TimeSpan.FromMinutes(1));
        }

        var sent = Enumerable.Range(0, 40).Where(i => i % 10 != 9).Select(Key).ToList();
        await store.Events.ReplacePendingAsync(Event(41).Context.EventId, e => e with { Context = e.Context with { User = e.Context.User with { SessionId = "s-2" } } }, default);
        await store.Events.HoldPendingAsync([Key(42)], time.GetUtcNow().AddHours(1), default);
        await store.Events.RemovePendingAsync(sent.Where((_, n) => n % 5 != 0).ToList(), EventFate.Delivered, default);
        await store.Events.RemovePendingAsync(sent.Where((_, n) => n % 5 == 0).ToList(), EventFate.Withdrawn, default);
        await store.Events.RemovePendingAsync([Key(43), Key(44)], EventFate.Quarantined, default);
        await store.Events.RestoreParkedAsync([Event(43).Context.EventId], default);
        await store.Events.PurgeSeenAsync(Start.AddMinutes(10), default); // the first ten minutes' sent events forgotten
        await store.Links.ForgetCustomerAsync("c-2", default);
        await store.Links.PurgeDecisionsOlderThanAsync(Start.AddMinutes(5), default);
        await store.Consent.PurgeConsentOlderThanAsync(Start.AddMinutes(55), _ => false, default);
        await store.Checkpoints.SetAsync("reconciler", "1", default);
        await store.Checkpoints.SetAsync("reconciler", "2", default);
    }

    /// <summary>Everything the stores answer about <see cref="FillAsync"/>'s keys, as text (opened and closed for it).</summary>
    private async Task<List<string>> ReadingAsync()
    {
        using var store = Open();
        var reading = new List<string>();
        reading.AddRange((await store.Events.ReadPendingAsync(1_000, default)).Select(p => $"pending {p.Partition}/{p.EventId}/{p.EnqueuedAt.UtcTicks}/{p.MessageId}/{Convert.ToBase64String(p.Json)}"));
        reading.Add($"stats {await store.Events.PendingStatsAsync(default)}");
        reading.Add($"totals {await store.Ledger.EventTotalsAsync(default)}");
        reading.AddRange((await store.Ledger.LedgerAsync(default)).Select(row => $"input {row}"));
        reading.Add($"unenriched {string.Join(',', await store.Ledger.UnenrichedAsync(default))}");
        var (flagged, byError) = await store.Ledger.FlagsAsync(default);
        reading.Add($"flags {flagged} {string.Join(',', byError)}");
        for (var i = 0; i < 62; i++)
        {
            reading.Add($"message m-{i}: {await store.Ledger.FindInputAsync($"m-{i}", default)}");
            var decision = await store.Links.DecisionAsync(Event(i).Context.EventId, default);
            reading.Add($"decision {i}: {decision?.EventId} {decision?.DecidedAt.UtcTicks}");
            reading.Add($"withheld {i}: {await store.Links.WasWithheldAsync($"c-{i % 9}", Event(i).Context.EventId, default)}");
        }

        for (var user = 0; user < 8; user++)
        {
            var consent = await store.Consent.GetAsync($"user-{user}", default);
            reading.Add($"consent {user}: {consent?.UpdatedAt.UtcTicks} {consent?.Region} {consent?.RegionAt.UtcTicks} {string.Join(",", consent?.Consent.Gdpr.Select(p => $"{p.Key}={p.Value}") ?? [])} {consent?.Consent.CcpaDataSaleOptOut}");
        }

        for (var order = 0; order < 9; order++)
        {
            reading.Add($"order {order}: {(await store.Orders.FindByOrderAsync($"order-{order}", default))?.Version}");
        }

        for (var payment = 0; payment < 6; payment++)
        {
            reading.Add($"payment {payment}: {(await store.Orders.FindByPaymentAsync($"pay-{payment}", default))?.OrderId}");
        }

        for (var customer = 0; customer < 10; customer++)
        {
            reading.AddRange((await store.Links.ByCustomerAsync($"c-{customer}", default)).Select(link => $"link {link}"));
        }

        for (var value = 0; value < 5; value++)
        {
            reading.AddRange((await store.Links.ByIdentifierAsync("email_sha256", $"v-{value}", default)).Select(link => $"by identifier {link}"));
        }

        reading.Add($"checkpoint {await store.Checkpoints.GetAsync("reconciler", default)}");
        return reading;
    }

    private static ConsentSnapshot Consent(int i) =>
        new(new Dictionary<string, ConsentPurpose> { [i % 2 == 0 ? "analytics" : "marketing"] = new(i % 3 != 0, Start.AddMinutes(i)) });

    private static OrderContext Order(int order, int version, string payment) => TestOptions.Order01Context() with
    {
        OrderId = $"order-{order}",
        Version = version,
        PaymentIds = [payment],
    };

    private static PendingEventKey Key(int i) => new("ignored", Event(i).Context.EventId, DateTimeOffset.UnixEpoch);

    private static TrackingEvent Event(int key) => new SignedIn(new EventContext(Uuid5.ForEvent($"compact-{key}"), $"compact-{key}",
        new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero), EventSource.Storefront, $"compact-{key}", "acme-de", new Region("DE"), new UserIds($"c-{key % 3}")), "password");
}
