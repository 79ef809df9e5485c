using CtMparticle.Embedded.Log;
using CtMparticle.Storage;

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
/// An embedded store as the runner drives it: the storage ports, its ledger and its batches (every operation between
/// <see cref="BeginBatchAsync"/> and <see cref="CommitBatchAsync"/> commits together; a crash or a rollback loses them
/// together). <see cref="SqliteStore"/> (<c>state.db</c>) or <see cref="LogStore"/> (<c>state.log.*</c>, ADR 0007).
/// </summary>
internal interface IEmbeddedStore : IRunLedger, IAsyncDisposable
{
    /// <summary>The store's folder (<c>--store</c>).</summary>
    string Folder { get; }

    IEventStore Events { get; }

    IOrderContextStore Orders { get; }

    IConsentStore Consent { get; }

    IIdentityLinkStore Links { get; }

    ICheckpointStore Checkpoints { get; }

    Task BeginBatchAsync(CancellationToken cancellationToken);

    Task CommitBatchAsync(CancellationToken cancellationToken);

    Task RollbackBatchAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Marks a point in the open batch that <see cref="RollbackToSavepointAsync"/> returns to: one unit of work (a
    /// collector request) inside a batch that commits many, so a failure undoes only that unit's writes.
    /// </summary>
    Task SavepointAsync(string name, CancellationToken cancellationToken);

    /// <summary>Keeps what was written since the savepoint (it commits with the batch).</summary>
    Task ReleaseSavepointAsync(string name, CancellationToken cancellationToken);

    /// <summary>Undoes what was written since the savepoint, which ends with it (and later ones); the batch stays open.</summary>
    Task RollbackToSavepointAsync(string name, CancellationToken cancellationToken);

    /// <summary>
    /// From now on, a rewrite of a pending event <paramref name="takenByPush"/> names fails as transient (the call is
    /// answered 503 and its retry merges once the push run is over), since the push may be sending that event: for a
    /// push whose store work takes turns with a writer that cannot wait for it (<c>ctmp serve</c>).
    /// </summary>
    void RefuseRewritesOf(Func<Guid, bool> takenByPush);

    /// <summary>
    /// Marks the outbox as read and settled by <paramref name="push"/> (a push beside the ingest) until it completes: a
    /// rewrite of a pending event waits for it, so it finds the event as a push run before it would leave it.
    /// </summary>
    void ClaimOutbox(Task push);

    /// <summary>What a run's pushes beside the ingest take their snapshots with (SQLite: a second connection, closed with it).</summary>
    IPushSnapshots OpenPushSnapshots();
}

/// <summary>How a new embedded store keeps its state (an existing store keeps the format it was written in).</summary>
internal enum StoreFormat
{
    /// <summary>One SQLite file, <c>state.db</c>.</summary>
    Sqlite,

    /// <summary>An append-only log with in-memory indexes, <c>state.log.*</c> (ADR 0007; the default for a new store, <see cref="EmbeddedStore.DefaultFormat"/>).</summary>
    Log,
}

/// <summary>Finds and opens the embedded store in a folder, of whichever format it was written in.</summary>
internal static class EmbeddedStore
{
    /// <summary>The SQLite store's file in its folder.</summary>
    public static string SqlitePath(string folder) => System.IO.Path.Combine(folder, "state.db");

    /// <summary>The format a new store is made in unless a command names another (<c>--store-format</c>).</summary>
    public const StoreFormat DefaultFormat = StoreFormat.Log;

    /// <summary>The format of the store in <paramref name="folder"/>, or null when it holds none yet.</summary>
    public static StoreFormat? FormatIn(string folder) =>
        LogStore.IsIn(folder) ? StoreFormat.Log : File.Exists(SqlitePath(folder)) ? StoreFormat.Sqlite : null;

    /// <summary>Opens the store in <paramref name="folder"/>, creating one of <paramref name="newStore"/>'s format when it holds none.</summary>
    /// <param name="checkLayout">False only for reading a store whatever it was written with (the report, the store commands).</param>
    public static IEmbeddedStore Open(string folder, TimeProvider time, int partitions, StoreFormat newStore = DefaultFormat, bool checkLayout = true) =>
        (FormatIn(folder) ?? newStore) == StoreFormat.Log
            ? LogStore.Open(folder, time, partitions, checkLayout: checkLayout)
            : SqliteStore.Open(SqlitePath(folder), time, partitions, checkLayout);
}
