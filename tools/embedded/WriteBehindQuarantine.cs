using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using CtMparticle.Storage;

namespace CtMparticle.Embedded;

/// <summary>
/// The quarantine folder for a run that commits its inputs in batches (<c>ctmp relay</c>): between <see cref="Begin"/>
/// and <see cref="FlushAsync"/> each record is written by a task of its own, so the run's single writer does not wait
/// for the file system (a new file and a rename per record: about 0.6 s of a 10 s run of 100,000 deliveries when
/// creating files is slow, docs/performance.md). <see cref="WriteAsync"/> returns the record's path at once; the
/// batch's commit waits in <see cref="FlushAsync"/> until every record handed over is in the folder, so no input is
/// committed as quarantined without its record. Outside those calls a write happens before it returns, as
/// <see cref="FolderQuarantine"/>'s does (a push between batches, <c>ctmp serve</c>, a replay).
/// </summary>
/// <remarks>
/// Records are written in the order they were handed over (a redelivery's record replaces the first one's at the same
/// path). Once one fails, it and every later one wait, in order, for the next <see cref="FlushAsync"/>, which writes them
/// again on its caller and throws the failure if it is still there; a caller that gives up drops the batch
/// (<see cref="Abandon"/>), as a crash would, and a rerun writes them again.
/// </remarks>
internal sealed class WriteBehindQuarantine : IQuarantine, IAsyncDisposable
{
    /// <summary>Records handed over and not yet written, at most: the writer waits beyond it (a few MB of records).</summary>
    public const int Capacity = 512;

    private readonly FolderQuarantine folder;
    private readonly Channel<Item> queue = Channel.CreateBounded<Item>(new BoundedChannelOptions(Capacity) { SingleReader = true });
    private readonly Lock gate = new();
    private readonly List<QuarantineRecord> waiting = []; // a failed record and every one handed over after it, in order; under gate
    private readonly Task worker;
    private ExceptionDispatchInfo? failure; // why waiting[0] failed; under gate
    private volatile bool behind;

    public WriteBehindQuarantine(FolderQuarantine folder)
    {
        this.folder = folder;
        worker = Task.Run(WriteAllAsync);
    }

    /// <summary>The folder the records go to.</summary>
    public string Root => folder.Root;

    /// <summary>Whether a record handed over since <see cref="Begin"/> could not be written (the next flush tries again).</summary>
    public bool Failed => Volatile.Read(ref failure) is not null;

    /// <summary>From here until <see cref="FlushAsync"/> (or <see cref="Abandon"/>), records are written behind the caller.</summary>
    public void Begin() => behind = true;

    public async Task<string> WriteAsync(QuarantineRecord record, CancellationToken cancellationToken)
    {
        if (!behind)
        {
            return await folder.WriteAsync(record, cancellationToken).ConfigureAwait(false);
        }

        var path = record.Path;
        await queue.Writer.WriteAsync(new Item(record, null), cancellationToken).ConfigureAwait(false);
        return path;
    }

    /// <summary>
    /// Returns once every record handed over before the call is in the folder, and writes the next ones before they
    /// return again. Throws the failure of a record it could not write (its file system error, transient or not):
    /// that record and the later ones stay handed over, for another flush to try, or <see cref="Abandon"/> to drop.
    /// </summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await queue.Writer.WriteAsync(new Item(null, reached), cancellationToken).ConfigureAwait(false);
        await reached.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        lock (gate)
        {
            // Written on the caller, in order; the first that fails again stops the flush, the rest keep their turn.
            var written = 0;
            try
            {
                for (; written < waiting.Count; written++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    folder.Write(waiting[written]);
                }

                failure = null;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                failure = ExceptionDispatchInfo.Capture(ex);
                throw;
            }
            finally
            {
                waiting.RemoveRange(0, written);
            }
        }

        behind = false;
    }

    /// <summary>
    /// After a failed <see cref="FlushAsync"/>: drops the records that wait for their turn (their batch is dropped, and a
    /// rerun writes them again) and writes the next records before they return.
    /// </summary>
    public void Abandon()
    {
        lock (gate)
        {
            waiting.Clear();
            failure = null;
        }

        behind = false;
    }

    /// <summary>
    /// Stops the writing task once it has had every record handed over; a failure is dropped, since no commit waits
    /// for it (a run that ends normally has flushed; one that stopped dropped its batch).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        queue.Writer.TryComplete();
        await worker.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task WriteAllAsync()
    {
        await foreach (var item in queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (item.Reached is { } reached)
            {
                reached.TrySetResult();
                continue;
            }

            lock (gate)
            {
                if (waiting.Count > 0)
                {
                    waiting.Add(item.Record!); // behind a failed one: its turn comes after it
                    continue;
                }
            }

            try
            {
                folder.Write(item.Record!);
            }
            catch (Exception ex)
            {
                lock (gate)
                {
                    waiting.Add(item.Record!);
                    failure = ExceptionDispatchInfo.Capture(ex);
                }
            }
        }
    }

    /// <summary>A record to write, or a flush's mark (every record before it has had its turn).</summary>
    private sealed record Item(QuarantineRecord? Record, TaskCompletionSource? Reached);
}
