using CtMparticle.Embedded;
using Microsoft.Extensions.Time.Testing;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// The embedded hosts keep the retention the function app's daily job keeps (<see cref="EmbeddedRetention"/>): a store
/// written 500 days ago forgets its dedupe records, identity decisions, order contexts and consent states, and its quarantine
/// records, through <c>ctmp store purge</c> and the long-running <c>ctmp serve</c>; a store written today keeps all.
/// </summary>
public sealed class RetentionTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-retention-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    [Theory]
    [InlineData("sqlite")]
    [InlineData("log")]
    public async Task AStoreWrittenLongAgo_ForgetsWhatItsRetentionEnded_AStoreWrittenTodayKeepsIt(string format)
    {
        var corpus = await CorpusAsync();
        var aged = await RelayAsync("aged", format, corpus, new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddDays(-500)));
        var today = await RelayAsync("today", format, corpus, TimeProvider.System);
        var quarantined = Directory.GetFiles(Path.Combine(aged.FullName, "quarantine"), "*.json", SearchOption.AllDirectories).Length;
        Assert.True(quarantined > 0);

        var (forgotten, again) = await PurgeTwiceAsync(aged);
        var (kept, _) = await PurgeTwiceAsync(today);

        Assert.True(forgotten.Store.Seen > 0, forgotten.ToString());
        Assert.True(forgotten.Store.Orders > 0, forgotten.ToString());
        // Links are not among them: a link's age is that of the newest event that showed it (business time, which the
        // generated corpus sets to today), not the relay's clock; IdentityLinkTests ages them.
        Assert.True(forgotten.Store.Decisions > 0, forgotten.ToString());
        Assert.True(forgotten.Store.Consent > 0, forgotten.ToString());
        Assert.Equal(quarantined, forgotten.QuarantineRecords);
        Assert.Empty(Directory.GetFiles(Path.Combine(aged.FullName, "quarantine"), "*.json", SearchOption.AllDirectories));
        Assert.Equal(0, EmbeddedRetention.Total(again)); // nothing is forgotten twice
        Assert.Equal(0, EmbeddedRetention.Total(kept));  // nothing of today's store is old enough

        // The dedupe records are gone: the same corpus relayed again stores its events again (on today's store, nothing).
        Assert.True(await PendingAfterRerunAsync(aged, corpus) > 0);
        Assert.Equal(0, await PendingAfterRerunAsync(today, corpus));
    }

    [Fact]
    public async Task StorePurge_SaysWhatItForgot_AndRefusesAFolderWithoutAStore()
    {
        var corpus = await CorpusAsync();
        var aged = await RelayAsync("aged", "log", corpus, new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddDays(-500)));

        var (exit, stdout, _) = await CtmpCommandTests.RunAsync("store", "purge", "--store", aged.FullName);
        var (emptyExit, _, emptyStderr) = await CtmpCommandTests.RunAsync("store", "purge", "--store", Path.Combine(work, "nothing-here"));

        Assert.Equal(0, exit);
        Assert.Matches(@"^ctmp store purge: forgot [1-9][0-9,]* dedupe record\(s\), [1-9][0-9,]* order context\(s\)", stdout);
        Assert.Equal(ExitCodes.Usage, emptyExit);
        Assert.Contains("holds no store", emptyStderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_RunsTheRetentionSoonAfterItStarts()
    {
        var corpus = await CorpusAsync();
        var aged = await RelayAsync("aged", "log", corpus, new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddDays(-500)));
        await using var server = await ServeProcess.StartAsync(
            ["--store", aged.FullName, "--dry-run", "--out", Path.Combine(work, "serve-out"), "--push-every", "00:00:00.200"],
            new Dictionary<string, string> { ["CTMP_COLLECTOR_WRITE_KEY"] = "k" });

        var started = TimeProvider.System.GetTimestamp();
        while (!server.Errors.Any(l => l.StartsWith("ctmp serve: retention forgot", StringComparison.Ordinal)))
        {
            Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(30), "no retention line: " + string.Join('\n', server.Errors));
            await Task.Delay(50);
        }

        var (exit, _) = await server.StopAsync();
        Assert.Equal(0, exit);
        Assert.Empty(Directory.GetFiles(Path.Combine(aged.FullName, "quarantine"), "*.json", SearchOption.AllDirectories));
    }

    private async Task<string> CorpusAsync()
    {
        var corpus = Path.Combine(work, "corpus.ndjson");
        if (!File.Exists(corpus))
        {
            Assert.Equal(0, (await CtmpCommandTests.RunAsync("generate", "--count", "400", "--out", corpus, "--seed", "5")).Exit);
        }

        return corpus;
    }

    /// <summary>A dry-run relay of the corpus into a fresh store, every record stamped by <paramref name="time"/>.</summary>
    private async Task<DirectoryInfo> RelayAsync(string name, string format, string corpus, TimeProvider time)
    {
        var store = new DirectoryInfo(Path.Combine(work, name + "-" + format, "store"));
        await using var host = RunnerHost.Create(new RunnerOptions(null, store, new DirectoryInfo(Path.Combine(work, name + "-" + format, "out")),
            NewStoreFormat: Enum.Parse<StoreFormat>(format, ignoreCase: true), Time: time));
        var summary = await new RelayRunner(host, TextWriter.Null, time).RunAsync(InputFiles.Read([corpus]), showProgress: false, default);
        Assert.Null(summary.Interrupted);
        Assert.True(summary.EventsDelivered > 0);
        return store;
    }

    private static async Task<(EmbeddedRetention.Forgotten First, EmbeddedRetention.Forgotten Second)> PurgeTwiceAsync(DirectoryInfo store)
    {
        await using var host = RunnerHost.Create(new RunnerOptions(null, store, null));
        return (await EmbeddedRetention.RunAsync(host, default), await EmbeddedRetention.RunAsync(host, default));
    }

    /// <summary>The corpus ingested again (not pushed): how many events it left pending.</summary>
    private static async Task<long> PendingAfterRerunAsync(DirectoryInfo store, string corpus)
    {
        await using var host = RunnerHost.Create(new RunnerOptions(null, store, null));
        var runner = new RelayRunner(host, TextWriter.Null, TimeProvider.System);
        var summary = new RelaySummary();
        foreach (var input in InputFiles.Read([corpus]))
        {
            await runner.IngestOneAsync(input, summary, default);
        }

        return (await host.Events.PendingStatsAsync(default)).Count;
    }
}
