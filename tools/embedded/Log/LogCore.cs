using CtMparticle.Storage;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// What the stores on one state log share (ADR 0007): the log, one lock, the batch, and the undo of what the open
/// batch changed in their memory. Between <see cref="BeginBatchAsync"/> and <see cref="CommitBatchAsync"/> every
/// change joins one durable commit; outside a batch each changing operation commits on its own when it returns, and
/// one that fails part-way is dropped whole. A rollback drops the batch's records and undoes, newest first, what
/// they changed in memory (each store records that with <see cref="RememberPoint"/>, <see cref="Remember(IKeepsUndo)"/> or <see cref="Remember(Action)"/>).
/// </summary>
internal sealed class LogCore : IDisposable
{
    private readonly Lock gate = new();
    private readonly List<Change> undo = []; // the open batch's changes in memory, oldest first
    private readonly List<(string Name, BatchMark Mark, int Undo)> savepoints = []; // the open batch's, oldest first

    // While a push beside the ingest reads as of a snapshot (ADR 0007, step 5): the end of the log it reads up to, and
    // every index entry removed since (a forgetting), whose chain of records a read as of the snapshot still follows.
    private readonly List<(IKeyIndex Index, ulong Hash, long From)> removedSinceSnapshot = [];
    private readonly List<IDisposable> spilling = [];
    private readonly string indexFolder;
    private readonly int spillAt;

    private LogCore(StateLog log, string indexFolder, int spillAt)
    {
        Log = log;
        this.indexFolder = indexFolder;
        this.spillAt = spillAt;
    }

    public StateLog Log { get; }

    public bool InBatch { get; private set; }

    /// <summary>The end of the log an open snapshot reads up to (0: none is open). Read and changed under the lock.</summary>
    public long SnapshotEnd { get; private set; }

    /// <summary>After every commit, a batch's or a single operation's (under the lock).</summary>
    public event Action? Committed;

    /// <summary>After a batch was rolled back (under the lock).</summary>
    public event Action? RolledBack;

    /// <param name="spillAt">Entries each index (<see cref="SpillingKeyIndex"/>) holds in memory before it writes them to a file, and the chunk of the ledger's list (<see cref="SpillingAddressList"/>).</param>
    public static LogCore Open(string directory, long segmentBytes = StateLog.DefaultSegmentBytes, int tailBytes = StateLog.DefaultTailBytes,
        int spillAt = SpillingKeyIndex.DefaultSpillAt)
    {
        // The spilled indexes' files of a previous process are stale: every index is rebuilt from the log below.
        var indexFolder = Path.Combine(directory, IndexFolder);
        if (Directory.Exists(indexFolder))
        {
            Directory.Delete(indexFolder, recursive: true);
        }

        return new(StateLog.Open(directory, segmentBytes, tailBytes), indexFolder, spillAt);
    }

    /// <summary>The store folder's subfolder where the indexes and the ledger's list write what they hold no longer in memory.</summary>
    public const string IndexFolder = "index";

    /// <summary>
    /// An index for a store (each of the log's indexes is one): its older entries are written to files in
    /// <see cref="IndexFolder"/>, deleted when the log is disposed.
    /// </summary>
    public SpillingKeyIndex SpillingIndex(string name)
    {
        var index = new SpillingKeyIndex(indexFolder, name, spillAt);
        spilling.Add(index);
        return index;
    }

    /// <summary>A list of addresses by position whose older entries are written to a file in <see cref="IndexFolder"/>, deleted when the log is disposed.</summary>
    public SpillingAddressList SpillingList(string name)
    {
        var list = new SpillingAddressList(indexFolder, name, spillAt);
        spilling.Add(list);
        return list;
    }

    /// <summary>
    /// Hands every committed record to the store of its kind, in log order (at open, before any operation). A kind no
    /// store reads was written by a newer version of the relay: refused, rather than half understood.
    /// </summary>
    /// <exception cref="StoreFormatException">A record of an unknown kind.</exception>
    /// <exception cref="StoreDamagedException">A record that passes its checksum but does not read as its kind.</exception>
    public void Replay(IReadOnlyDictionary<byte, Action<LogRecord>> stores)
    {
        foreach (var record in Log.ReadCommitted())
        {
            if (!stores.TryGetValue(record.Kind, out var apply))
            {
                throw new StoreFormatException(
                    $"The state log holds a record of kind {record.Kind}, which this version of the relay does not know: it was written by a newer version. Run that version.");
            }

            try
            {
                apply(record);
            }
            catch (InvalidDataException ex)
            {
                throw new StoreDamagedException(
                    $"The state log's record at address {record.Address} (kind {record.Kind}) passes its checksum but does not read: {ex.Message} " +
                    "A newer build may have written it, or a bug of the one that did. Keep the store's folder for a bug report and restore it from a backup.", ex);
            }
        }
    }

    /// <summary>
    /// What <paramref name="read"/> makes of the record at <paramref name="address"/>, read in place
    /// (<see cref="StateLog.Read{TState, TResult}"/>: the payload is valid only during the call). A record of another
    /// kind than <paramref name="kind"/> there is a wrong address or damage.
    /// </summary>
    /// <param name="expected">The record wanted, for the error: "an order's".</param>
    /// <exception cref="InvalidDataException">No record of <paramref name="kind"/> is at <paramref name="address"/>.</exception>
    public T ReadInPlace<TState, T>(long address, byte kind, string expected, TState state, Func<ReadOnlySpan<byte>, TState, T> read) =>
        Log.Read(address, (Read: read, State: state, Address: address, Kind: kind, Expected: expected), static (found, payload, call) => found == call.Kind
            ? call.Read(payload, call.State)
            : throw new InvalidDataException($"The state log holds a record of kind {found} at {call.Address}, where {call.Expected} was expected."));

    public Task BeginBatchAsync(CancellationToken cancellationToken) => Locked(() => InBatch = true, cancellationToken);

    public Task CommitBatchAsync(CancellationToken cancellationToken) => Locked(() =>
    {
        Commit();
        InBatch = false;
        return true;
    }, cancellationToken);

    public Task RollbackBatchAsync(CancellationToken cancellationToken) => Locked(() =>
    {
        Drop();
        InBatch = false;
        RolledBack?.Invoke();
        return true;
    }, cancellationToken);

    /// <summary>
    /// Marks a point in the open batch that <see cref="RollbackToSavepointAsync"/> returns to (as SQLite's
    /// <c>SAVEPOINT</c>): one unit of work (a collector request) inside a batch that commits many, so a failure undoes
    /// only that unit's records and what they changed in memory.
    /// </summary>
    /// <exception cref="InvalidOperationException">No batch is open.</exception>
    public Task SavepointAsync(string name, CancellationToken cancellationToken) => Locked(() =>
    {
        if (!InBatch)
        {
            throw new InvalidOperationException("A savepoint needs an open batch (BeginBatchAsync).");
        }

        savepoints.Add((name, Log.Mark(), undo.Count));
        return true;
    }, cancellationToken);

    /// <summary>Keeps what was written since the savepoint (it commits with the batch); later savepoints go with it.</summary>
    public Task ReleaseSavepointAsync(string name, CancellationToken cancellationToken) => Locked(() =>
    {
        if (SavepointAt(name) is { } at)
        {
            savepoints.RemoveRange(at, savepoints.Count - at);
        }

        return true;
    }, cancellationToken);

    /// <summary>
    /// Drops what was written since the savepoint and undoes it in memory, newest first; the batch stays open, the
    /// savepoint and later ones end (as <see cref="SqliteStore.RollbackToSavepointAsync"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">No batch is open, or it holds no savepoint of that name.</exception>
    public Task RollbackToSavepointAsync(string name, CancellationToken cancellationToken) => Locked(() =>
    {
        var at = (InBatch ? SavepointAt(name) : null)
            ?? throw new InvalidOperationException($"The open batch holds no savepoint {name}: nothing to roll back to.");
        var (_, mark, undoCount) = savepoints[at];
        savepoints.RemoveRange(at, savepoints.Count - at);
        Version++;
        Log.RollbackTo(mark);
        Undo(undoCount);
        removedSinceSnapshot.RemoveAll(removed => removed.From >= Log.End);
        return true;
    }, cancellationToken);

    private int? SavepointAt(string name)
    {
        var at = savepoints.FindLastIndex(s => s.Name == name);
        return at < 0 ? null : at;
    }

    /// <summary>
    /// Opens a snapshot at the end of the log, right after a commit (before the writer writes again): until
    /// <see cref="EndSnapshotAsync"/>, the stores' reads as of it (<see cref="AsOf{T}"/>) see what was committed then,
    /// whatever is appended or forgotten meanwhile. One snapshot at a time.
    /// </summary>
    /// <exception cref="InvalidOperationException">A snapshot is open already, or the open batch has written since its last commit.</exception>
    public Task<long> BeginSnapshotAsync(CancellationToken cancellationToken) => Locked(() =>
    {
        if (SnapshotEnd != 0)
        {
            throw new InvalidOperationException("A snapshot of the state log is open already: end it first.");
        }

        if (Log.End != Log.CommittedEnd)
        {
            // What the open batch forgot is gone from memory already; a snapshot must begin where nothing is uncommitted.
            throw new InvalidOperationException("A snapshot of the state log begins right after a commit: the open batch has written since.");
        }

        removedSinceSnapshot.Clear();
        return SnapshotEnd = Log.CommittedEnd;
    }, cancellationToken);

    public Task EndSnapshotAsync(CancellationToken cancellationToken) => Locked(() =>
    {
        SnapshotEnd = 0;
        removedSinceSnapshot.Clear();
        return true;
    }, cancellationToken);

    /// <summary>
    /// The records of the keys <paramref name="read"/> accepts as they stood at the open snapshot (or now, with none
    /// open), under the lock: from each record <paramref name="index"/> holds for <paramref name="hash"/>, or held
    /// since the snapshot opened, the chain of its key's records back to the first one before the snapshot's end. A key
    /// that had no record then, or a forgetting, gives none.
    /// </summary>
    /// <param name="read">Reads a record: whether its key is one asked for, the record, the record it replaces (0: none), whether it forgets the key.</param>
    public List<(T Record, long Address)> AsOf<T>(IKeyIndex index, ulong hash, Func<long, (bool IsKey, T Record, long Previous, bool Forgotten)> read)
    {
        var end = SnapshotEnd == 0 ? Log.End : SnapshotEnd;
        var found = new List<(T Record, long Address)>();
        foreach (var start in Candidates(index, hash))
        {
            var address = start;
            var (isKey, record, previous, forgotten) = read(address);
            while (isKey && address >= end && previous != 0)
            {
                address = previous;
                (_, record, previous, forgotten) = read(address);
            }

            if (isKey && address < end && !forgotten && !found.Exists(f => f.Address == address))
            {
                found.Add((record, address));
            }
        }

        return found;
    }

    private IEnumerable<long> Candidates(IKeyIndex index, ulong hash)
    {
        foreach (var address in index.All(hash))
        {
            yield return address;
        }

        foreach (var (removedFrom, removedHash, from) in removedSinceSnapshot)
        {
            if (ReferenceEquals(removedFrom, index) && KeyIndex.Tag(removedHash) == KeyIndex.Tag(hash))
            {
                yield return from;
            }
        }
    }

    /// <summary>Counts the changes of the log (every record appended, every batch dropped): what was read at one count still holds.</summary>
    public long Version { get; private set; }

    /// <summary>Appends a record to the open batch (or the running operation's).</summary>
    public long Append(byte kind, ReadOnlySpan<byte> payload)
    {
        Version++;
        return Log.Append(kind, payload);
    }

    /// <summary>Records how to undo a change just made in memory, should its batch or operation be dropped.</summary>
    public void Remember(Action undoIt) => undo.Add(new Change(undoIt, 0, 0, 0));

    /// <summary>
    /// Records that <paramref name="index"/>'s entry for <paramref name="hash"/> was pointed from <paramref name="from"/>
    /// to <paramref name="to"/> (0: none), to be pointed back should its batch or operation be dropped. The commonest
    /// change by far (one or more per record written), remembered as a value, not a delegate: a batch's closures lived
    /// until its commit, so each collection of the youngest generation promoted those made since the last
    /// (docs/performance.md, "a thirteenth session": with the stores' own undo lists, a third less time paused).
    /// </summary>
    public void RememberPoint(IKeyIndex index, ulong hash, long from, long to) => undo.Add(new Change(index, hash, from, to));

    /// <summary>
    /// Records that <paramref name="store"/> made a change in memory whose undo it keeps itself, as a value at the end
    /// of a list of its own (<see cref="IKeepsUndo"/>): the store's change per record written, without a closure.
    /// </summary>
    public void Remember(IKeepsUndo store) => undo.Add(new Change(store, 0, 0, 0));

    /// <summary>
    /// Points <paramref name="index"/>'s entry at <paramref name="from"/> to <paramref name="to"/>: a new entry when
    /// <paramref name="from"/> is 0, none left when <paramref name="to"/> is. Outside a replay the change is remembered
    /// for a rollback.
    /// </summary>
    /// <exception cref="InvalidDataException">No entry holds <paramref name="from"/>: the log names a record that is not a key's newest.</exception>
    public void Point(IKeyIndex index, ulong hash, long from, long to, bool replaying)
    {
        if (from == 0)
        {
            index.Insert(hash, to);
        }
        else if (!index.Move(hash, from, to))
        {
            throw new InvalidDataException($"The state log names a record at {from} that is not a key's newest.");
        }

        if (!replaying)
        {
            RememberPoint(index, hash, from, to);
            if (to == 0 && SnapshotEnd != 0)
            {
                removedSinceSnapshot.Add((index, hash, from));
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> under the lock, on the caller's thread, and returns a completed task; a failure of
    /// the disk is transient (the input is retried later). The work never awaits (it is memory and one or two system
    /// calls, about 14 µs on average), so a caller that finds the lock taken waits for it on its thread: an
    /// asynchronous wait (a <see cref="SemaphoreSlim"/>'s) handed each of those to the thread pool, and in a relay run
    /// about one acquisition in seven (the writer's, the preparing thread's order reads, the push's) found it taken.
    /// </summary>
    public Task<T> Locked<T>(Func<T> work, CancellationToken cancellationToken) => Run(work, gate, cancellationToken);

    /// <summary>
    /// As <see cref="Locked{T}"/>, without the lock: for work on a file of its own that serializes itself (the in-flight
    /// journal), which would otherwise hold the writer up for the length of an fsync.
    /// </summary>
    public static Task<T> Unlocked<T>(Func<T> work, CancellationToken cancellationToken) => Run(work, null, cancellationToken);

    private static Task<T> Run<T>(Func<T> work, Lock? gate, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        try
        {
            if (gate is null)
            {
                return Task.FromResult(work());
            }

            lock (gate)
            {
                return Task.FromResult(work());
            }
        }
        catch (IOException ex)
        {
            // The disk failed or filled: not the input's fault, so retry it later.
            return Task.FromException<T>(new TransientFailureException($"The state log is unavailable now ({ex.GetType().Name}).", ex));
        }
        catch (OperationCanceledException ex) when (ex.CancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(ex.CancellationToken);
        }
        catch (Exception ex)
        {
            return Task.FromException<T>(ex);
        }
    }

    /// <summary>
    /// A changing operation: outside a batch its records commit together when it returns (durably), and a failure
    /// part-way drops them and undoes them in memory; inside a batch they join it, as SQLite statements join its
    /// transaction.
    /// </summary>
    public Task<T> Changing<T>(Func<T> work, CancellationToken cancellationToken) => Locked(() =>
    {
        try
        {
            var result = work();
            if (!InBatch)
            {
                Commit();
            }

            return result;
        }
        catch when (!InBatch)
        {
            Drop();
            throw;
        }
    }, cancellationToken);

    public void Dispose()
    {
        Log.Dispose(); // an open batch is dropped, as a crash would drop it
        foreach (var spilled in spilling)
        {
            spilled.Dispose();
        }

        if (Directory.Exists(indexFolder) && !Directory.EnumerateFileSystemEntries(indexFolder).Any())
        {
            Directory.Delete(indexFolder);
        }
    }

    private void Commit()
    {
        Log.Commit(durable: true);
        undo.Clear();
        savepoints.Clear();
        Committed?.Invoke();
    }

    /// <summary>Drops the open batch's (or operation's) records and undoes what they changed in memory.</summary>
    private void Drop()
    {
        Version++;
        Log.Rollback();
        Undo(0);
        savepoints.Clear();
        // A removal the dropped records made leaves nothing for a snapshot to follow (their addresses are given again).
        removedSinceSnapshot.RemoveAll(removed => removed.From >= Log.End);
    }

    /// <summary>Undoes, newest first, the changes remembered since the first <paramref name="keep"/>.</summary>
    private void Undo(int keep)
    {
        for (var i = undo.Count - 1; i >= keep; i--)
        {
            undo[i].Undo();
        }

        undo.RemoveRange(keep, undo.Count - keep);
    }

    /// <summary>
    /// A change to undo: an index entry pointed elsewhere (<see cref="RememberPoint"/>), a store's own
    /// (<see cref="IKeepsUndo"/>), or any other (an <see cref="Action"/>).
    /// </summary>
    private readonly record struct Change(object Target, ulong Hash, long From, long To)
    {
        public void Undo()
        {
            switch (Target)
            {
                case IKeyIndex index when From == 0:
                    index.Move(Hash, To, 0);
                    break;
                case IKeyIndex index when To == 0:
                    index.Insert(Hash, From);
                    break;
                case IKeyIndex index:
                    index.Move(Hash, To, From);
                    break;
                case IKeepsUndo store:
                    store.UndoNewest();
                    break;
                default:
                    ((Action)Target)();
                    break;
            }
        }
    }
}

/// <summary>
/// A store on the log that keeps how to undo each of its changes in memory itself, as values in a list, newest last
/// (<see cref="LogCore.Remember(IKeepsUndo)"/> once per change): the log calls <see cref="UndoNewest"/> once for each,
/// newest first, when their batch or operation is dropped, and the store empties its list at every commit
/// (<see cref="LogCore.Committed"/>). Nothing else may take from that list.
/// </summary>
internal interface IKeepsUndo
{
    /// <summary>Undoes the newest change the store still keeps, and forgets it.</summary>
    void UndoNewest();
}
