namespace CtMparticle.Embedded;

/// <summary>
/// The runner's ledger: one entry per input with its outcome and the events it stored, which <c>ctmp report</c>
/// reconciles with the events' fates. Kept by the embedded stores beside the storage ports.
/// </summary>
internal interface IRunLedger
{
    /// <summary>The latest recorded input of a message that was not itself a redelivery, if any.</summary>
    Task<LedgerInput?> FindInputAsync(string messageId, CancellationToken cancellationToken);

    /// <summary>Records one input's outcome and the events it stored; returns its sequence number (from 1, in order).</summary>
    /// <param name="flags">Plan violations the policy allowed on the stored events (sent, flagged).</param>
    /// <param name="unenriched">Why the input went without the commercetools details the relay adds (<see cref="Pipeline.InputInfo.Unenriched"/>).</param>
    Task<long> RecordInputAsync(string source, string? messageId, string? messageType, string outcome, string? reason, string detail,
        string? quarantine, IReadOnlyList<Guid> eventIds, IReadOnlyList<string> flags, string? unenriched, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces an input's outcome (a quarantined input that a replay resolved): its events are added to those it
    /// had, its flags and unenriched reason replaced. Never to a redelivery's outcome (duplicate, redelivered).
    /// </summary>
    Task UpdateInputAsync(long seq, string outcome, string? reason, string detail, string? quarantine, IReadOnlyList<Guid> eventIds,
        IReadOnlyList<string> flags, string? unenriched, CancellationToken cancellationToken);

    /// <summary>Inputs currently recorded as quarantined under a record id.</summary>
    Task<IReadOnlyList<long>> InputsQuarantinedAsAsync(string quarantine, CancellationToken cancellationToken);

    /// <summary>Every input, in order, with its final state: accepted inputs resolved through their events' fates.</summary>
    Task<IReadOnlyList<LedgerRow>> LedgerAsync(CancellationToken cancellationToken);

    /// <summary>Event totals: stored (seen by this store), and how many are pending or met each fate.</summary>
    Task<EventTotals> EventTotalsAsync(CancellationToken cancellationToken);

    /// <summary>Accepted inputs that went without the commercetools details the relay adds, by reason.</summary>
    Task<SortedDictionary<string, long>> UnenrichedAsync(CancellationToken cancellationToken);

    /// <summary>Plan violations sent under an allowing policy: how many inputs, and how often each error occurred.</summary>
    Task<(long Inputs, SortedDictionary<string, long> ByError)> FlagsAsync(CancellationToken cancellationToken);
}

/// <summary>
/// An embedded store as the runner drives it: its ledger and its batches (every operation between
/// <see cref="BeginBatchAsync"/> and <see cref="CommitBatchAsync"/> commits together; a crash or a rollback loses them
/// together). <see cref="SqliteStore"/> (<c>state.db</c>) and the log store (<c>state.log.*</c>, ADR 0007).
/// </summary>
internal interface IEmbeddedStore : IRunLedger
{
    /// <summary>The store's file (SQLite) or folder (the log), for messages.</summary>
    string Path { get; }

    Task BeginBatchAsync(CancellationToken cancellationToken);

    Task CommitBatchAsync(CancellationToken cancellationToken);

    Task RollbackBatchAsync(CancellationToken cancellationToken);
}
