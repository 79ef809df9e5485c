using System.Threading.Channels;
using CtMparticle.Embedded;
using CtMparticle.Sources.Collector;
using CtMparticle.Storage;
using Microsoft.Data.Sqlite;

namespace CtMparticle.Tool;

/// <summary>
/// <c>ctmp serve</c>'s single store writer, with group commit: the requests that queue up while one transaction is
/// written are settled together in the next one, each inside its own savepoint (a request whose writes fail is undone
/// alone and answered 503), and made durable with one sync. No request is answered before the commit that holds it;
/// when the commit itself fails, every request of the group is answered 503 and nothing of it stays.
/// The writer takes turns with the push (<paramref name="gate"/>), whose writes must each be durable on their own.
/// </summary>
/// <param name="record">Writes one settled request's ledger rows (inside its savepoint), and gives the answer to send.</param>
internal sealed class ServeWriter(IEmbeddedStore store, SemaphoreSlim gate, Func<CollectorResult, Task<CollectorResult>> record, TextWriter errors)
{
    /// <summary>At most this many requests share one transaction, so a group's answers are not held up for long.</summary>
    public const int MaxGroup = 32;

    private readonly Channel<Queued> queue = Channel.CreateUnbounded<Queued>(new UnboundedChannelOptions { SingleReader = true });
    private Task? loop;
    private long savepoints;

    private sealed record Queued(Func<CancellationToken, Task<CollectorResult>> Settle, TaskCompletionSource<CollectorResult> Done);

    public void Start() => loop = Task.Run(RunAsync);

    /// <summary>The collector's <see cref="WriterSection"/>: queues the request's settling and waits for its commit.</summary>
    public Task<CollectorResult> WriteAsync(Func<CancellationToken, Task<CollectorResult>> settle, CancellationToken cancellationToken)
    {
        var queued = new Queued(settle, new TaskCompletionSource<CollectorResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        return queue.Writer.TryWrite(queued) ? queued.Done.Task : Task.FromResult(Unavailable);
    }

    /// <summary>Settles what is queued, then stops (after the host stopped accepting requests).</summary>
    public async Task StopAsync()
    {
        queue.Writer.TryComplete();
        if (loop is not null)
        {
            await loop.ConfigureAwait(false);
        }
    }

    private static CollectorResult Unavailable => new(CollectorCalls.StoreUnavailable([]), []);

    private async Task RunAsync()
    {
        var group = new List<(Queued Request, CollectorResult Result)>(MaxGroup);
        while (await queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            await gate.WaitAsync().ConfigureAwait(false);
            try
            {
                await store.BeginBatchAsync(CancellationToken.None).ConfigureAwait(false);
                while (group.Count < MaxGroup && queue.Reader.TryRead(out var queued))
                {
                    group.Add((queued, Unavailable)); // in the group before it runs: a failure below answers it too
                    group[^1] = (queued, await SettleAsync(queued).ConfigureAwait(false));
                }

                await store.CommitBatchAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsStoreFailure(ex) || ex is InvalidOperationException)
            {
                // The group did not become durable: none of it stays, and every tracker retries (deduplicated then).
                // When the store could not even start a transaction (another process holds it), the requests waiting
                // behind are answered now too, rather than each waiting out the store's busy timeout again.
                if (group.Count == 0)
                {
                    while (queue.Reader.TryRead(out var waiting))
                    {
                        group.Add((waiting, Unavailable));
                    }
                }

                await errors.WriteLineAsync($"ctmp serve: a write to the store failed ({ex.GetType().Name}); {group.Count} request(s) answered 503").ConfigureAwait(false);
                await store.RollbackBatchAsync(CancellationToken.None).ConfigureAwait(false);
                for (var i = 0; i < group.Count; i++)
                {
                    group[i] = (group[i].Request, Unavailable);
                }
            }
            finally
            {
                gate.Release();
            }

            foreach (var (request, result) in group)
            {
                request.Done.TrySetResult(result);
            }
        }
    }

    /// <summary>One request inside its own savepoint: its calls settled and its ledger rows written, or none of it.</summary>
    private async Task<CollectorResult> SettleAsync(Queued queued)
    {
        var name = $"request{++savepoints}";
        await store.SavepointAsync(name, CancellationToken.None).ConfigureAwait(false);
        try
        {
            var settled = await record(await queued.Settle(CancellationToken.None).ConfigureAwait(false)).ConfigureAwait(false);
            await store.ReleaseSavepointAsync(name, CancellationToken.None).ConfigureAwait(false);
            return settled;
        }
        catch (Exception ex) when (ex is not InvalidOperationException)
        {
            // This request's writes are undone; the others of the group go on. A failure the store cannot roll back
            // from (the transaction is gone) fails the whole group instead.
            await errors.WriteLineAsync($"ctmp serve: a request could not be settled ({ex.GetType().Name}); answered 503").ConfigureAwait(false);
            await store.RollbackToSavepointAsync(name, CancellationToken.None).ConfigureAwait(false);
            return Unavailable;
        }
    }

    private static bool IsStoreFailure(Exception ex) => ex is SqliteException or TransientFailureException or IOException;
}
