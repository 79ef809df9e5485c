using CtMparticle.Embedded;
using CtMparticle.Sources.Collector;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// <c>ctmp serve</c>'s group commit on each embedded store (a real SQLite file, a real state log): requests queued
/// together share one transaction, a request whose writes fail is undone alone, and nobody is answered before the
/// commit that holds their writes.
/// </summary>
public sealed class ServeWriterTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ctmp-writer-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static readonly CollectorResult Ok = new(new CollectorResponse(200, [], []), []);

    private IEmbeddedStore Open(string format) => EmbeddedStore.Open(folder, TimeProvider.System, 16, Enum.Parse<StoreFormat>(format, ignoreCase: true));

    [Theory]
    [InlineData("sqlite")]
    [InlineData("log")]
    public async Task AFailingRequest_IsUndoneAlone_TheOthersOfItsGroupCommit_AndEachIsAnsweredAfterTheCommit(string format)
    {
        var store = Open(format);
        using var gate = new SemaphoreSlim(1, 1);
        var recorded = 0;
        var writer = new ServeWriter(store, gate, settled => { recorded++; return Task.FromResult(settled); }, TextWriter.Null);

        Func<CancellationToken, Task<CollectorResult>> Writes(string name, bool fail) => async token =>
        {
            await store.Checkpoints.SetAsync(name, "written", token);
            await store.Checkpoints.SetAsync("last", name, token);
            return fail ? throw new IOException("the disk failed for this request") : Ok;
        };

        // Queued before the writer starts: one group.
        var first = writer.WriteAsync(Writes("first", fail: false), default);
        var second = writer.WriteAsync(Writes("second", fail: true), default);
        var third = writer.WriteAsync(Writes("third", fail: false), default);
        writer.Start();
        var answers = await Task.WhenAll(first, second, third).WaitAsync(TimeSpan.FromSeconds(30));
        await writer.StopAsync();

        Assert.Equal([200, 503, 200], answers.Select(a => a.Response.Status).ToArray());
        Assert.Equal(2, recorded);
        await store.DisposeAsync();
        await using var reopened = Open(format); // what the next process sees: only the committed writes
        var checkpoints = reopened.Checkpoints;
        Assert.Equal(("written", null, "written", "third"),
            (await checkpoints.GetAsync("first", default), await checkpoints.GetAsync("second", default), await checkpoints.GetAsync("third", default), await checkpoints.GetAsync("last", default)));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("log")]
    public async Task AfterStop_NothingQueuedIsLeftUnanswered(string format)
    {
        await using var store = Open(format);
        using var gate = new SemaphoreSlim(1, 1);
        var writer = new ServeWriter(store, gate, Task.FromResult, TextWriter.Null);
        writer.Start();

        var queued = Enumerable.Range(0, 100).Select(i => writer.WriteAsync(async token =>
        {
            await store.Checkpoints.SetAsync($"k{i}", "v", token);
            return Ok;
        }, default)).ToArray();
        await writer.StopAsync();

        Assert.All(await Task.WhenAll(queued).WaitAsync(TimeSpan.FromSeconds(30)), a => Assert.Equal(200, a.Response.Status));
        Assert.Equal(503, (await writer.WriteAsync(_ => Task.FromResult(Ok), default)).Response.Status); // stopped: refused at once
    }
}
