using CtMparticle.Storage;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// The embedded store on one state log (ADR 0007): the event store (step 2), the ledger, the order contexts and
/// consent (step 3), identity links and decisions (step 4) and the checkpoints, sharing its batches. At open the log
/// is cut after its last good commit and each record is handed to its store. One process at a time: the folder's
/// <c>state.lock</c> is held open exclusively while the store is open (an operating-system lock, released when a
/// process dies).
/// </summary>
internal sealed class LogStore : IEmbeddedStore, IDisposable
{
    /// <summary>The file that marks a folder as a log store, and that <see cref="Open"/> holds.</summary>
    public const string LockFile = "state.lock";

    private readonly FileStream lockFile;
    private bool disposed;
    private bool logClosed;
    private readonly long segmentBytes;
    private readonly long compactFromBytes;

    private LogStore(string directory, FileStream lockFile, LogCore core, LogEventStore events, LogLedger ledger, LogOrderContextStore orders, LogConsentStore consent,
        LogLinkStore links, LogCheckpoints checkpoints, long segmentBytes, long compactFromBytes)
    {
        (Folder, this.lockFile, Core, Events, Ledger, Orders, Consent, Links, Checkpoints) = (directory, lockFile, core, events, ledger, orders, consent, links, checkpoints);
        (this.segmentBytes, this.compactFromBytes) = (segmentBytes, compactFromBytes);
    }

    /// <summary>The store's folder.</summary>
    public string Folder { get; }

    public LogCore Core { get; }

    public LogEventStore Events { get; }

    public LogLedger Ledger { get; }

    public LogOrderContextStore Orders { get; }

    public LogConsentStore Consent { get; }

    public LogLinkStore Links { get; }

    public LogCheckpoints Checkpoints { get; }

    IEventStore IEmbeddedStore.Events => Events;

    IOrderContextStore IEmbeddedStore.Orders => Orders;

    IConsentStore IEmbeddedStore.Consent => Consent;

    IIdentityLinkStore IEmbeddedStore.Links => Links;

    ICheckpointStore IEmbeddedStore.Checkpoints => Checkpoints;

    /// <summary>Whether <paramref name="directory"/> holds a log store (rather than a SQLite one, or nothing yet).</summary>
    public static bool IsIn(string directory) => File.Exists(System.IO.Path.Combine(directory, LockFile));

    /// <summary>
    /// Opens (creating when needed) the log in <paramref name="directory"/> and rebuilds every store's memory from it.
    /// With <paramref name="partitions"/> its layout is checked as <see cref="SqliteStore"/>'s is (recorded on first use).
    /// </summary>
    /// <param name="spillAt">Entries each index and the ledger's list hold in memory before they write them to the store's index folder (tests spill early).</param>
    /// <param name="compactFromBytes">The least the log must hold for <see cref="ShouldCompact"/> (tests compact small logs).</param>
    /// <exception cref="IOException">Another process has the store open, or a newer build wrote it (<see cref="StoreFormatException"/>).</exception>
    /// <exception cref="StoreLayoutException">The store was written with another partition count.</exception>
    public static LogStore Open(string directory, TimeProvider time, int partitions = 16, long segmentBytes = StateLog.DefaultSegmentBytes,
        int tailBytes = StateLog.DefaultTailBytes, bool checkLayout = true, int spillAt = SpillingKeyIndex.DefaultSpillAt, long compactFromBytes = CompactFromBytes)
    {
        Directory.CreateDirectory(directory);
        var lockFile = Lock(directory);
        LogCore? core = null;
        LogEventStore? events = null;
        try
        {
            LogFormat.Ensure(directory); // before a record is read: a newer form would read as damage
            core = LogCore.Open(directory, segmentBytes, tailBytes, spillAt);
            events = new LogEventStore(core, InFlightJournal.Open(System.IO.Path.Combine(directory, "state.db")), time, partitions);
            var ledger = new LogLedger(core, events, time);
            var orders = new LogOrderContextStore(core, time);
            var consent = new LogConsentStore(core, time);
            var links = new LogLinkStore(core);
            var checkpoints = new LogCheckpoints(core);
            core.Replay(new Dictionary<byte, Action<LogRecord>>
            {
                [EventRecord.Kind] = events.Replay, [OrderRecord.Kind] = orders.Replay, [ConsentRecord.Kind] = consent.Replay,
                [LinkRecords.LinkKind] = links.Replay, [LinkRecords.WithheldKind] = links.Replay, [LinkRecords.DecisionKind] = links.Replay,
                [InputRecord.Kind] = ledger.Replay, [CheckpointRecord.Kind] = checkpoints.Replay,
            });
            if (checkLayout)
            {
                StoreLayout.EnsureAsync(checkpoints, partitions, CancellationToken.None).GetAwaiter().GetResult();
            }

            return new LogStore(directory, lockFile, core, events, ledger, orders, consent, links, checkpoints, segmentBytes, compactFromBytes);
        }
        catch
        {
            events?.Dispose();
            core?.Dispose();
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Rewrites the log in <paramref name="directory"/> with only what still counts (<see cref="CompactAndClose"/>):
    /// <c>ctmp store compact</c>.
    /// </summary>
    /// <exception cref="IOException">Another process has the store open.</exception>
    public static LogCompactionResult Compact(string directory, TimeProvider time, int partitions = 16, long segmentBytes = StateLog.DefaultSegmentBytes,
        int tailBytes = StateLog.DefaultTailBytes, int spillAt = SpillingKeyIndex.DefaultSpillAt)
    {
        using var store = Open(directory, time, partitions, segmentBytes, tailBytes, checkLayout: false, spillAt);
        return store.CompactAndClose();
    }

    /// <summary>
    /// The least the log must hold before <see cref="ShouldCompact"/> says yes (Redis's <c>auto-aof-rewrite-min-size</c>
    /// is the same 64 MB): below it a compaction saves too little to be worth the time.
    /// </summary>
    public const long CompactFromBytes = 64L * 1024 * 1024;

    /// <summary>
    /// Whether the log has at least doubled since its last compaction (<see cref="LogCompaction.BaseFile"/>; a log never
    /// compacted counts from nothing) and holds at least <see cref="CompactFromBytes"/> (unless <see cref="Open"/> was
    /// given another least), with no batch open: then <see cref="CompactAndClose"/> is worth its time. This is Redis's
    /// rule for rewriting its append-only file (<c>auto-aof-rewrite-percentage 100</c>), which keeps the log under
    /// about twice what still counted at its last rewrite; the size of that rewrite is kept in a file here, since the
    /// relay's runs are short and a rule counted from each open would let many small runs grow the log for ever.
    /// </summary>
    public bool ShouldCompact => !logClosed && !Core.InBatch && ShouldCompactIn(Folder, compactFromBytes);

    /// <summary>As <see cref="ShouldCompact"/>, for a log store that is not open: its files' sizes only, no replay.</summary>
    public static bool ShouldCompactIn(string directory, long compactFromBytes = CompactFromBytes)
    {
        var bytes = LogBytes(directory);
        return bytes >= compactFromBytes && bytes >= 2 * LogCompaction.BaseBytes(directory);
    }

    /// <summary>
    /// Rewrites the log with only what still counts (ADR 0007, step 6), then closes the store: each key's newest record,
    /// on its own, without the versions before it, the sent events' JSON, the forgotten keys and the ledger's replaced
    /// entries; and the in-flight journal's freed pages. What the store reads after it opens again is the same. The lock
    /// is held throughout; a crash at any point leaves either the old log or the copy (<see cref="LogCompaction"/>).
    /// Call it with nothing else using the store.
    /// </summary>
    /// <exception cref="InvalidOperationException">A batch is open (its records would be read as if committed), or the store is closed.</exception>
    public LogCompactionResult CompactAndClose()
    {
        ObjectDisposedException.ThrowIf(logClosed, this);
        if (Core.InBatch)
        {
            throw new InvalidOperationException("The log is not compacted while a batch is open: commit or roll it back first.");
        }

        try
        {
            var before = LogBytes();
            long records, kept;
            using (var compaction = LogCompaction.Begin(Folder, Core.Log, segmentBytes))
            {
                records = CopyLive(compaction);
                compaction.Complete();
                kept = compaction.Records;
            }

            Events.VacuumJournal();
            CloseLog(); // the old segments closed; the lock is still held
            LogCompaction.Finish(Folder);
            var after = LogBytes();
            LogCompaction.SetBase(Folder, after);
            return new LogCompactionResult(records, kept, before, after);
        }
        finally
        {
            Dispose();
        }
    }

    private long LogBytes() => LogBytes(Folder);

    private static long LogBytes(string directory) => StateLog.Segments(directory).Sum(s => s.Bytes);

    /// <summary>Every store's records that still count, to <paramref name="to"/>: one pass over the log, then the ledger and the checkpoints.</summary>
    /// <returns>The records the log held.</returns>
    private long CopyLive(LogCompaction to)
    {
        long records = 0;
        foreach (var entry in Core.Log.ReadCommitted())
        {
            records++;
            switch (entry.Kind)
            {
                case EventRecord.Kind:
                    Events.CopyLive(entry, to);
                    break;
                case OrderRecord.Kind:
                    Orders.CopyLive(entry, to);
                    break;
                case ConsentRecord.Kind:
                    Consent.CopyLive(entry, to);
                    break;
                case LinkRecords.LinkKind or LinkRecords.WithheldKind or LinkRecords.DecisionKind:
                    Links.CopyLive(entry, to);
                    break;
                default:
                    break; // the ledger's and the checkpoints' are written from memory below
            }
        }

        Ledger.CopyLive(to);
        Checkpoints.CopyLive(to);
        return records;
    }

    /// <summary>
    /// Cuts a damaged log after the last good commit before its first damage, deleting the segments after that one
    /// (<c>ctmp store salvage</c>, for a store no backup can give back). What was committed after the damage is lost.
    /// </summary>
    /// <exception cref="IOException">Another process has the store open, or a newer build wrote it.</exception>
    public static LogSalvage Salvage(string directory)
    {
        using var lockFile = Lock(directory);
        LogFormat.Ensure(directory);
        using var log = StateLog.Open(directory, salvage: true);
        return new LogSalvage(log.Recovery, StateLog.SegmentPath(directory, log.Segment), StateLog.Split(log.End).Offset);
    }

    private static FileStream Lock(string directory)
    {
        var path = System.IO.Path.Combine(directory, LockFile);
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new IOException($"The store in {directory} is open in another process (a ctmp relay or serve still running?). Wait for it to end, then try again.", ex);
        }
    }

    public Task BeginBatchAsync(CancellationToken cancellationToken) => Core.BeginBatchAsync(cancellationToken);

    public Task CommitBatchAsync(CancellationToken cancellationToken) => Core.CommitBatchAsync(cancellationToken);

    public Task RollbackBatchAsync(CancellationToken cancellationToken) => Core.RollbackBatchAsync(cancellationToken);

    public Task SavepointAsync(string name, CancellationToken cancellationToken) => Core.SavepointAsync(name, cancellationToken);

    public Task ReleaseSavepointAsync(string name, CancellationToken cancellationToken) => Core.ReleaseSavepointAsync(name, cancellationToken);

    public Task RollbackToSavepointAsync(string name, CancellationToken cancellationToken) => Core.RollbackToSavepointAsync(name, cancellationToken);

    public void RefuseRewritesOf(Func<Guid, bool> takenByPush) => Events.RefuseRewritesOf(takenByPush);

    public void ClaimOutbox(Task push) => Events.ClaimOutbox(push);

    public IPushSnapshots OpenPushSnapshots() => new LogPushSnapshots(this);

    // ---- IRunLedger: the ledger's -----------------------------------------------------------------------------------

    public Task<LedgerInput?> FindInputAsync(string messageId, CancellationToken cancellationToken) => Ledger.FindInputAsync(messageId, cancellationToken);

    public Task<long> RecordInputAsync(string source, string? messageId, string? messageType, string outcome, string? reason, string detail, string? quarantine,
        IReadOnlyList<Guid> eventIds, IReadOnlyList<string> flags, string? unenriched, CancellationToken cancellationToken) =>
        Ledger.RecordInputAsync(source, messageId, messageType, outcome, reason, detail, quarantine, eventIds, flags, unenriched, cancellationToken);

    public Task UpdateInputAsync(long seq, string outcome, string? reason, string detail, string? quarantine, IReadOnlyList<Guid> eventIds,
        IReadOnlyList<string> flags, string? unenriched, CancellationToken cancellationToken) =>
        Ledger.UpdateInputAsync(seq, outcome, reason, detail, quarantine, eventIds, flags, unenriched, cancellationToken);

    public Task<IReadOnlyList<long>> InputsQuarantinedAsAsync(string quarantine, CancellationToken cancellationToken) => Ledger.InputsQuarantinedAsAsync(quarantine, cancellationToken);

    public Task<IReadOnlyList<LedgerRow>> LedgerAsync(CancellationToken cancellationToken) => Ledger.LedgerAsync(cancellationToken);

    public Task<EventTotals> EventTotalsAsync(CancellationToken cancellationToken) => Ledger.EventTotalsAsync(cancellationToken);

    public Task<SortedDictionary<string, long>> UnenrichedAsync(CancellationToken cancellationToken) => Ledger.UnenrichedAsync(cancellationToken);

    public Task<(long Inputs, SortedDictionary<string, long> ByError)> FlagsAsync(CancellationToken cancellationToken) => Ledger.FlagsAsync(cancellationToken);

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        CloseLog();
        lockFile.Dispose();
    }

    private void CloseLog()
    {
        if (logClosed)
        {
            return;
        }

        logClosed = true;
        Events.Dispose();
        Core.Dispose(); // an open batch is dropped, as a crash would drop it
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>What a compaction of the log did: records and bytes of the log before, and of the copy that replaced it.</summary>
internal sealed record LogCompactionResult(long RecordsBefore, long RecordsKept, long BytesBefore, long BytesAfter);

/// <summary>What <see cref="LogStore.Salvage"/> found and cut: the log now ends at <paramref name="End"/> of <paramref name="File"/>.</summary>
internal sealed record LogSalvage(LogRecovery Recovery, string File, long End);
