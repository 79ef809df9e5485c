using CtMparticle.Embedded;
using CtMparticle.Sources.Collector;
using CtMparticle.Storage;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// <c>ctmp serve</c>'s group commit on a real SQLite file: requests queued together share one transaction, a request
/// whose writes fail is undone alone, and nobody is answered before the commit that holds their writes.
/// </summary>
public sealed class ServeWriterTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ctmp-writer-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static readonly CollectorResult Ok = new(new CollectorResponse(200, [], []), []);

    [Fact]
    public async Task AFailingRequest_IsUndoneAlone_TheOthersOfItsGroupCommit_AndEachIsAnsweredAfterTheCommit()
    {
        var file = Path.Combine(folder, "state.db");
        using var store = SqliteStore.Open(file, TimeProvider.System);
        using var gate = new SemaphoreSlim(1, 1);
        var recorded = 0;
        var writer = new ServeWriter(store, gate, _ => { recorded++; return Task.CompletedTask; }, TextWriter.Null);

        Func<CancellationToken, Task<CollectorResult>> Writes(string name, bool fail) => async token =>
        {
            await store.SetAsync(name, "written", token);
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
        using var reader = SqliteStore.Open(file, TimeProvider.System); // what another process sees: only committed writes
        var checkpoints = (ICheckpointStore)reader;
        Assert.Equal(("written", null, "written"), (await checkpoints.GetAsync("first", default), await checkpoints.GetAsync("second", default), await checkpoints.GetAsync("third", default)));
    }

    [Fact]
    public async Task AfterStop_NothingQueuedIsLeftUnanswered()
    {
        using var store = SqliteStore.Open(Path.Combine(folder, "state.db"), TimeProvider.System);
        using var gate = new SemaphoreSlim(1, 1);
        var writer = new ServeWriter(store, gate, _ => Task.CompletedTask, TextWriter.Null);
        writer.Start();

        var queued = Enumerable.Range(0, 100).Select(i => writer.WriteAsync(async token =>
        {
            await store.SetAsync($"k{i}", "v", token);
            return Ok;
        }, default)).ToArray();
        await writer.StopAsync();

        Assert.All(await Task.WhenAll(queued).WaitAsync(TimeSpan.FromSeconds(30)), a => Assert.Equal(200, a.Response.Status));
        Assert.Equal(503, (await writer.WriteAsync(_ => Task.FromResult(Ok), default)).Response.Status); // stopped: refused at once
    }
}
