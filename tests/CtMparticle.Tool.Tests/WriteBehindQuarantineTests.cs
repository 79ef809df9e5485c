using CtMparticle.Embedded;
using CtMparticle.Storage;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// The quarantine folder written behind the relay's writer (<see cref="WriteBehindQuarantine"/>): every record is in
/// the folder before the batch that holds its input commits, in the order handed over; a record that cannot be written
/// holds the commit back, is retried, and when it cannot be written at all the batch is dropped and a rerun redoes it.
/// </summary>
public sealed class WriteBehindQuarantineTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-quarantine-behind-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    private string Root => Path.Combine(work, "quarantine");

    [Fact]
    public async Task OutsideABatch_ARecordIsInTheFolderWhenTheWriteReturns()
    {
        await using var quarantine = new WriteBehindQuarantine(new FolderQuarantine(Root));

        var path = await quarantine.WriteAsync(Record("m-1", "only"), default);

        Assert.Equal("only", Read(path).Message);
    }

    [Fact]
    public async Task InABatch_EveryRecordHandedOverIsInTheFolderWhenTheFlushReturns_TheLastOfAPathWins()
    {
        await using var quarantine = new WriteBehindQuarantine(new FolderQuarantine(Root));
        quarantine.Begin();
        var paths = new List<string>();

        // More than the queue holds, so the writer also waits for room; the same message twice (a redelivery) in between.
        for (var i = 0; i < (2 * WriteBehindQuarantine.Capacity) + 1; i++)
        {
            paths.Add(await quarantine.WriteAsync(Record($"m-{i}", "first"), default));
        }

        var again = await quarantine.WriteAsync(Record("m-7", "second"), default);
        await quarantine.FlushAsync(default);

        Assert.Equal(Record("m-0", "x").Path, paths[0]);
        Assert.Equal(paths[7], again);
        Assert.Equal(paths.Count, Directory.GetFiles(Root, "*.json", SearchOption.AllDirectories).Length);
        Assert.All(paths.Where(p => p != again), p => Assert.Equal("first", Read(p).Message));
        Assert.Equal("second", Read(again).Message);
        Assert.Empty(Directory.GetFiles(Root, "*.tmp", SearchOption.AllDirectories));

        // After the flush a write is in the folder when it returns again.
        var after = await quarantine.WriteAsync(Record("m-after", "after"), default);
        Assert.Equal("after", Read(after).Message);
    }

    [Fact]
    public async Task AFailedRecord_AndEveryLaterOne_WaitInOrderForTheNextFlush()
    {
        await using var quarantine = new WriteBehindQuarantine(new FolderQuarantine(Root));
        var blocker = Block();
        quarantine.Begin();

        var first = await quarantine.WriteAsync(Record("m-1", "first"), default);
        await WaitUntilAsync(() => quarantine.Failed);

        // The folder is usable again before the next records come: they still wait behind the failed one, or its late
        // write would replace the redelivery's newer record.
        File.Delete(blocker);
        var other = await quarantine.WriteAsync(Record("m-2", "other"), default);
        await quarantine.WriteAsync(Record("m-1", "second"), default);
        Assert.False(File.Exists(Path.Combine(Root, other)));

        await quarantine.FlushAsync(default);

        Assert.False(quarantine.Failed);
        Assert.Equal("second", Read(first).Message);
        Assert.Equal("other", Read(other).Message);
    }

    [Fact]
    public async Task AFlush_ThrowsTheFailure_WhileTheFolderCannotBeWritten_AndWritesEverythingOnceItCan()
    {
        await using var quarantine = new WriteBehindQuarantine(new FolderQuarantine(Root));
        var blocker = Block();
        quarantine.Begin();
        var first = await quarantine.WriteAsync(Record("m-1", "first"), default);
        var other = await quarantine.WriteAsync(Record("m-2", "other"), default);

        await Assert.ThrowsAnyAsync<IOException>(() => quarantine.FlushAsync(default));
        await Assert.ThrowsAnyAsync<IOException>(() => quarantine.FlushAsync(default));
        Assert.True(quarantine.Failed);

        File.Delete(blocker);
        await quarantine.FlushAsync(default);
        Assert.Equal("first", Read(first).Message);
        Assert.Equal("other", Read(other).Message);
    }

    [Fact]
    public async Task Abandoned_WhatWasHandedOverIsDropped_TheNextWritesAreNot()
    {
        var blocker = Block();
        string dropped;
        await using (var quarantine = new WriteBehindQuarantine(new FolderQuarantine(Root)))
        {
            quarantine.Begin();
            dropped = await quarantine.WriteAsync(Record("m-1", "dropped"), default);
            await Assert.ThrowsAnyAsync<IOException>(() => quarantine.FlushAsync(default));

            quarantine.Abandon();
            File.Delete(blocker);
            Assert.False(quarantine.Failed);
            var next = await quarantine.WriteAsync(Record("m-2", "next"), default);
            Assert.Equal("next", Read(next).Message);

            // A batch begun after it is written behind again, and flushed.
            quarantine.Begin();
            var later = await quarantine.WriteAsync(Record("m-3", "later"), default);
            await quarantine.FlushAsync(default);
            Assert.Equal("later", Read(later).Message);
        }

        Assert.False(File.Exists(Path.Combine(Root, dropped)));
    }

    [Theory]
    [InlineData("log")]
    [InlineData("sqlite")]
    public async Task ARelayWhoseQuarantineCannotBeWritten_KeepsNoInputOfTheBatch_AndItsRerunEndsAsAnUninterruptedRun(string format)
    {
        var corpus = Path.Combine(work, "corpus.ndjson");
        Assert.Equal(0, (await CtmpCommandTests.RunAsync("generate", "--count", "600", "--out", corpus, "--seed", "5")).Exit);
        var reference = await RelayAsync("reference", format, corpus);
        Assert.Contains(reference.Ledger, row => row.Outcome == "quarantined");

        // The quarantine folder's place is taken by a file: no record can be written there.
        var store = new DirectoryInfo(Path.Combine(work, "blocked", "store"));
        store.Create();
        File.WriteAllText(RunnerHost.QuarantinePath(store), "not a folder");
        await using (var host = Host(store, format, "blocked"))
        {
            var stopped = await Assert.ThrowsAsync<QuarantineUnwritableException>(() =>
                new RelayRunner(host, TextWriter.Null, TimeProvider.System) { RetryFor = TimeSpan.Zero }.RunAsync(InputFiles.Read([corpus]), showProgress: false, default));
            Assert.Contains(RunnerHost.QuarantinePath(store), stopped.Message, StringComparison.Ordinal);
        }

        // Nothing of the batch was kept: no input counts as quarantined while its record is missing.
        await using (var host = Host(store, format, "blocked"))
        {
            Assert.Empty(await host.Embedded!.LedgerAsync(default));
        }

        File.Delete(RunnerHost.QuarantinePath(store));
        var rerun = await RelayAsync("blocked", format, corpus);
        Assert.Equal(Outcomes(reference.Ledger), Outcomes(rerun.Ledger));
        Assert.Equal(reference.Quarantined, rerun.Quarantined);
        Assert.Equal(reference.Ledger.Count(row => row.Outcome == "quarantined"), rerun.Quarantined.Count);
    }

    [Fact]
    public async Task AQuarantineFolderThatCanBeWrittenAgainWithinRetryFor_LosesNothing()
    {
        var corpus = Path.Combine(work, "corpus.ndjson");
        Assert.Equal(0, (await CtmpCommandTests.RunAsync("generate", "--count", "600", "--out", corpus, "--seed", "5")).Exit);
        var reference = await RelayAsync("reference", "log", corpus);

        // The folder's place is taken by a file until the run announces its first retry.
        var store = new DirectoryInfo(Path.Combine(work, "healed", "store"));
        store.Create();
        File.WriteAllText(RunnerHost.QuarantinePath(store), "not a folder");
        var progress = new OnLine("retrying in", () => File.Delete(RunnerHost.QuarantinePath(store)));
        var healed = await RelayAsync("healed", "log", corpus, progress);

        Assert.Contains($"ctmp: a quarantine record could not be written to {RunnerHost.QuarantinePath(store)}", progress.Text, StringComparison.Ordinal);
        Assert.Equal(Outcomes(reference.Ledger), Outcomes(healed.Ledger));
        Assert.Equal(reference.Quarantined, healed.Quarantined);
    }

    [Fact]
    public async Task TheRelayCommand_SaysWhichFolderItCouldNotWrite_AndExitsInterrupted()
    {
        var corpus = Path.Combine(work, "corpus.ndjson");
        Assert.Equal(0, (await CtmpCommandTests.RunAsync("generate", "--count", "300", "--out", corpus, "--seed", "5")).Exit);
        var store = Path.Combine(work, "command", "store");
        Directory.CreateDirectory(store);
        File.WriteAllText(Path.Combine(store, "quarantine"), "not a folder");

        var (exit, stdout, stderr) = await CtmpCommandTests.RunAsync("relay", "--dry-run", "--out", Path.Combine(work, "command", "out"),
            "--store", store, "--retry-for", "00:00:00", "--quiet", corpus);

        Assert.Equal(ExitCodes.Interrupted, exit);
        Assert.Contains($"A quarantine record could not be written to {Path.Combine(store, "quarantine")}", stderr, StringComparison.Ordinal);
        Assert.Contains("run the same command again", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("inputs in", stdout, StringComparison.Ordinal); // no summary claims inputs that were not kept
    }

    private RunnerHost Host(DirectoryInfo store, string format, string name) => RunnerHost.Create(new RunnerOptions(null, store,
        new DirectoryInfo(Path.Combine(work, name, "out")), NewStoreFormat: Enum.Parse<StoreFormat>(format, ignoreCase: true)));

    private async Task<(IReadOnlyList<LedgerRow> Ledger, List<string> Quarantined)> RelayAsync(string name, string format, string corpus, TextWriter? progress = null)
    {
        var store = new DirectoryInfo(Path.Combine(work, name, "store"));
        await using var host = Host(store, format, name);
        var summary = await new RelayRunner(host, progress ?? TextWriter.Null, TimeProvider.System) { PushEvery = 200 }
            .RunAsync(InputFiles.Read([corpus]), showProgress: progress is not null, default);
        Assert.Null(summary.Interrupted);
        var quarantined = Directory.GetFiles(RunnerHost.QuarantinePath(store), "*.json", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(RunnerHost.QuarantinePath(store), f)[11..]) // without the yyyy/MM/dd of the day it ran
            .Order(StringComparer.Ordinal).ToList();
        return (await host.Embedded!.LedgerAsync(default), quarantined);
    }

    private static List<string> Outcomes(IEnumerable<LedgerRow> ledger) =>
        ledger.Select(row => $"{row.Outcome}:{row.Reason}:{row.Events}").Order(StringComparer.Ordinal).ToList();

    /// <summary>A progress writer that runs <paramref name="then"/> once, at the first line holding <paramref name="text"/>.</summary>
    private sealed class OnLine(string text, Action then) : StringWriter
    {
        private bool done;

        public string Text => ToString();

        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (!done && value?.Contains(text, StringComparison.Ordinal) == true)
            {
                done = true;
                then();
            }
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }

    /// <summary>Takes the place of the records' year folder with a file, so no record can be written until it is deleted.</summary>
    private string Block()
    {
        Directory.CreateDirectory(Root);
        var blocker = Path.Combine(Root, "2026");
        File.WriteAllText(blocker, "not a folder");
        return blocker;
    }

    private QuarantineRecord Read(string path) => QuarantineRecord.TryRead(File.ReadAllBytes(Path.Combine(Root, path)))!;

    private static QuarantineRecord Record(string messageId, string message) => new(["malformed_json"], message, [],
        new QuarantineSource(messageId, null, null, null, null, null, null, new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero), "Platform"),
        Convert.ToBase64String("{oops"u8), "0.1.0", "decode");
}
