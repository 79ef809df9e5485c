namespace CtMparticle.Embedded.Log;

/// <summary>
/// The stores built so far on one state log (ADR 0007): the event store (step 2), the order contexts and consent
/// (step 3), identity links and decisions (step 4), sharing its batches. At open the log is cut after its last good commit and each record is handed to its store.
/// Not used by any command yet: the ledger and snapshots are still to come (the ADR's steps).
/// </summary>
internal sealed class LogStore : IDisposable
{
    private LogStore(LogCore core, LogEventStore events, LogOrderContextStore orders, LogConsentStore consent, LogLinkStore links) =>
        (Core, Events, Orders, Consent, Links) = (core, events, orders, consent, links);

    public LogCore Core { get; }

    public LogEventStore Events { get; }

    public LogOrderContextStore Orders { get; }

    public LogConsentStore Consent { get; }

    public LogLinkStore Links { get; }

    /// <summary>Opens (creating when needed) the log in <paramref name="directory"/> and rebuilds every store's memory from it.</summary>
    public static LogStore Open(string directory, TimeProvider time, int partitions = 16, long segmentBytes = StateLog.DefaultSegmentBytes,
        int tailBytes = StateLog.DefaultTailBytes)
    {
        var core = LogCore.Open(directory, segmentBytes, tailBytes);
        var events = new LogEventStore(core, InFlightJournal.Open(Path.Combine(directory, "state.db")), time, partitions);
        var orders = new LogOrderContextStore(core, time);
        var consent = new LogConsentStore(core, time);
        var links = new LogLinkStore(core);
        core.Replay(new Dictionary<byte, Action<LogRecord>>
        {
            [EventRecord.Kind] = events.Replay, [OrderRecord.Kind] = orders.Replay, [ConsentRecord.Kind] = consent.Replay,
            [LinkRecords.LinkKind] = links.Replay, [LinkRecords.WithheldKind] = links.Replay, [LinkRecords.DecisionKind] = links.Replay,
        });
        return new LogStore(core, events, orders, consent, links);
    }

    public Task BeginBatchAsync(CancellationToken cancellationToken) => Core.BeginBatchAsync(cancellationToken);

    public Task CommitBatchAsync(CancellationToken cancellationToken) => Core.CommitBatchAsync(cancellationToken);

    public Task RollbackBatchAsync(CancellationToken cancellationToken) => Core.RollbackBatchAsync(cancellationToken);

    public void Dispose()
    {
        Events.Dispose();
        Core.Dispose(); // an open batch is dropped, as a crash would drop it
    }
}
