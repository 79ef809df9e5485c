using System.Text.Json;
using CtMparticle.Consent;
using CtMparticle.Storage;
using CtMparticle.Storage.Azure;
using CtMparticle.Tracking;
using Microsoft.Data.Sqlite;

namespace CtMparticle.Embedded;

/// <summary>
/// The embedded default: the relay's state in one SQLite file (WAL), implementing the same ports as the Azure
/// adapters and passing the same contract tests. Dedupe and outbox are written in one SQLite transaction, as on
/// Azure they are in one entity-group transaction. One connection, used by one operation at a time.
/// Besides the ports it keeps the runner's ledger: one row per input and the fate of every event, which
/// <c>ctmp report</c> reconciles.
/// </summary>
internal sealed class SqliteStore : IEmbeddedStore, IEventStore, IOrderContextStore, IConsentStore, ICheckpointStore, IIdentityLinkStore, IAsyncDisposable, IDisposable
{
    private readonly SqliteConnection connection;
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly TimeProvider time;
    private readonly int partitions;
    private SqliteTransaction? batch;

    // Requests saved while a batch was open, and those of them whose events the open batch removed (left out of
    // ReadInFlight; dropped from the journal when the batch commits).
    private InFlightJournal? journal;
    private readonly HashSet<string> settledInJournal = new(StringComparer.Ordinal);

    // The outbox's next place. SQLite gives a new row the largest rowid + 1, so once a push beside the ingest removed
    // the newest events, an event stored after that push began would take a place below the push's end
    // (OutboxEndAsync) and be sent by it, decided on the push's older snapshot of consent: which events that happened
    // to depended on timing. Places are given here instead, never one this store gave before.
    private long outboxNext;

    // Prepared statements, one per SQL text, reused for the connection's lifetime (preparing dominated the cost).
    private readonly Dictionary<string, SqliteCommand> prepared = new(StringComparer.Ordinal);

    private SqliteStore(SqliteConnection connection, TimeProvider time, int partitions)
    {
        this.connection = connection;
        this.time = time;
        this.partitions = partitions;
    }

    public string Path => connection.DataSource;

    string IEmbeddedStore.Folder => System.IO.Path.GetDirectoryName(Path) ?? Path;

    IEventStore IEmbeddedStore.Events => this;

    IOrderContextStore IEmbeddedStore.Orders => this;

    IConsentStore IEmbeddedStore.Consent => this;

    IIdentityLinkStore IEmbeddedStore.Links => this;

    ICheckpointStore IEmbeddedStore.Checkpoints => this;

    /// <summary>Opens (creating when needed) the store at <paramref name="file"/>.</summary>
    /// <param name="checkLayout">False only for reading a store whatever it was written with (the report).</param>
    public static SqliteStore Open(string file, TimeProvider time, int partitions = 16, bool checkLayout = true)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(file))!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Pooling = false, DefaultTimeout = 5 }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = Schema;
        command.ExecuteNonQuery();
        Migrate(connection, time);
        if (checkLayout)
        {
            CheckLayout(connection, partitions);
        }

        RecoverJournal(connection, file);
        return new SqliteStore(connection, time, partitions);
    }

    /// <summary>
    /// A second connection to a store another <see cref="SqliteStore"/> has open, for reads only (<c>query_only</c>):
    /// a push beside the ingest reads consent and links through it as of its snapshot (<see cref="BeginSnapshotAsync"/>)
    /// while the writer goes on. It writes nothing, not even the schema.
    /// </summary>
    public static SqliteStore OpenReader(string file, TimeProvider time, int partitions)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Pooling = false, DefaultTimeout = 5, Mode = SqliteOpenMode.ReadWrite }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        // A small cache: SQLite empties a connection's cache whenever another connection wrote, so each snapshot starts cold anyway.
        command.CommandText = "PRAGMA query_only = ON; PRAGMA busy_timeout = 5000; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -2048;";
        command.ExecuteNonQuery();
        return new SqliteStore(connection, time, partitions);
    }

    /// <summary>
    /// Moves what a crashed run left in the in-flight journal (<see cref="InFlightJournal"/>) into the store's own
    /// in-flight table, where the next push resends it byte for byte; then empties the journal.
    /// </summary>
    private static void RecoverJournal(SqliteConnection connection, string file)
    {
        if (!File.Exists(InFlightJournal.PathFor(file)))
        {
            return;
        }

        using var journal = InFlightJournal.Open(file);
        var left = journal.ReadAll();
        if (left.Count == 0)
        {
            return;
        }

        // A run that is writing the store now owns these (its batch holds the write lock): leave them to it, at once.
        using var wait = connection.CreateCommand();
        wait.CommandText = "PRAGMA busy_timeout = 0";
        wait.ExecuteNonQuery();
        try
        {
            MoveIntoStore(connection, left);
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is SqliteBusy or SqliteLocked)
        {
            return;
        }
        finally
        {
            wait.CommandText = "PRAGMA busy_timeout = 5000";
            wait.ExecuteNonQuery();
        }

        journal.Delete(left.Select(r => r.RequestId));
    }

    private static void MoveIntoStore(SqliteConnection connection, IReadOnlyList<InFlightRequest> left)
    {
        using var transaction = connection.BeginTransaction();
        using var insert = connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = InFlightJournal.Insert;
        foreach (var request in left)
        {
            insert.Parameters.Clear();
            foreach (var (name, value) in InFlightJournal.Parameters(request))
            {
                insert.Parameters.AddWithValue(name, value!);
            }

            insert.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    /// <summary>Records the partition count on first use; a store written with another count refuses to open (StoreLayout).</summary>
    private static void CheckLayout(SqliteConnection connection, int partitions)
    {
        using var insert = connection.CreateCommand();
        insert.CommandText = "INSERT INTO checkpoints (name, value) VALUES ($n, $v) ON CONFLICT DO NOTHING";
        insert.Parameters.AddWithValue("$n", StoreLayout.CheckpointName);
        insert.Parameters.AddWithValue("$v", partitions.ToString(System.Globalization.CultureInfo.InvariantCulture));
        insert.ExecuteNonQuery();
        using var read = connection.CreateCommand();
        read.CommandText = "SELECT value FROM checkpoints WHERE name = $n";
        read.Parameters.AddWithValue("$n", StoreLayout.CheckpointName);
        if (StoreLayout.Problem(partitions, (string)read.ExecuteScalar()!) is { } problem)
        {
            connection.Dispose();
            throw new StoreLayoutException(problem);
        }
    }

    /// <summary>Columns added after a store file may have been created: added in place, with their defaults.</summary>
    private static void Migrate(SqliteConnection connection, TimeProvider time)
    {
        // Order contexts before retention had no save time: they count as saved when the store is first opened since.
        using (var orderColumns = connection.CreateCommand())
        {
            orderColumns.CommandText = "SELECT COUNT(*) FROM pragma_table_info('orders') WHERE name = 'saved_ticks'";
            if ((long)orderColumns.ExecuteScalar()! == 0)
            {
                using var alter = connection.CreateCommand();
                alter.CommandText = $"ALTER TABLE orders ADD COLUMN saved_ticks INTEGER NOT NULL DEFAULT {time.GetUtcNow().UtcTicks}";
                alter.ExecuteNonQuery();
            }
        }

        AddColumn(connection, "pending", "not_before_ticks", "INTEGER NOT NULL DEFAULT 0");

        // A region stored before regions kept the time they were stated has none (null): the next one stated replaces it.
        AddColumn(connection, "consent", "region_ticks", "INTEGER");

        // The outbox was a WITHOUT ROWID table keyed by the (random) event id: every event's JSON landed in a random
        // page, so each commit rewrote several 4 KB pages per event (a 2 GB WAL for 110,000 calls). As a rowid table
        // the JSON is appended in order and only the unique index on the id is random; stores written before move over.
        MoveToRowid(connection, "pending", PendingTable, "event_id, partition, enqueued_ticks, message_id, json, not_before_ticks", "enqueued_ticks, event_id", PendingIndex);

        // The same for the order contexts (about 1.2 KB each: over a WITHOUT ROWID page's inline limit, so every row
        // also took an overflow page, and the table was 44 % of a 20,000-delivery store) and the identity decisions.
        MoveToRowid(connection, "orders", OrdersTable, "order_id, json, saved_ticks", "saved_ticks, order_id", null);
        MoveToRowid(connection, "identity_decisions", DecisionsTable, "event_id, decided_ticks, json", "decided_ticks, event_id", null);

        // Order contexts saved before they kept their order's version have none (0): any version replaces them.
        AddColumn(connection, "orders", "version", "INTEGER NOT NULL DEFAULT 0");
    }

    private static void AddColumn(SqliteConnection connection, string table, string column, string definition)
    {
        using var columns = connection.CreateCommand();
        columns.CommandText = $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'";
        if ((long)columns.ExecuteScalar()! == 0)
        {
            using var alter = connection.CreateCommand();
            alter.CommandText = $"ALTER TABLE {table} ADD COLUMN {column} {definition}";
            alter.ExecuteNonQuery();
        }
    }

    /// <summary>Rebuilds a table written as WITHOUT ROWID (by an earlier version) as the rowid table <paramref name="create"/> makes, in one transaction.</summary>
    private static void MoveToRowid(SqliteConnection connection, string table, string create, string columns, string orderBy, string? index)
    {
        using var shape = connection.CreateCommand();
        shape.CommandText = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $t";
        shape.Parameters.AddWithValue("$t", table);
        if (shape.ExecuteScalar() is not string sql || !sql.Contains("WITHOUT ROWID", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        using var transaction = connection.BeginTransaction();
        using var move = connection.CreateCommand();
        move.Transaction = transaction;
        move.CommandText = $"""
            {create.Replace($"{table} (", $"{table}_rowid (", StringComparison.Ordinal)}
            INSERT INTO {table}_rowid ({columns}) SELECT {columns} FROM {table} ORDER BY {orderBy};
            DROP TABLE {table};
            ALTER TABLE {table}_rowid RENAME TO {table};
            {index}
            """;
        move.ExecuteNonQuery();
        transaction.Commit();
    }

    /// <summary>The outbox: a rowid table (events appended in arrival order), unique by event id.</summary>
    private const string PendingTable =
        "CREATE TABLE IF NOT EXISTS pending (event_id TEXT NOT NULL UNIQUE, partition TEXT NOT NULL, enqueued_ticks INTEGER NOT NULL, message_id TEXT, json BLOB NOT NULL, not_before_ticks INTEGER NOT NULL DEFAULT 0);";

    private const string PendingIndex = "CREATE INDEX IF NOT EXISTS pending_by_age ON pending (enqueued_ticks, event_id);";

    /// <summary>Order contexts: a rowid table (appended as saved), unique by order id, with the order version each was taken from.</summary>
    private const string OrdersTable =
        "CREATE TABLE IF NOT EXISTS orders (order_id TEXT NOT NULL UNIQUE, json BLOB NOT NULL, saved_ticks INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 0);";

    /// <summary>Identity decisions: a rowid table (appended as decided), unique by event id.</summary>
    private const string DecisionsTable =
        "CREATE TABLE IF NOT EXISTS identity_decisions (event_id TEXT NOT NULL UNIQUE, decided_ticks INTEGER NOT NULL, json BLOB NOT NULL);";

    private const string Schema = $"""
        PRAGMA journal_mode = WAL;
        PRAGMA synchronous = FULL;
        PRAGMA busy_timeout = 5000;
        PRAGMA foreign_keys = OFF;
        PRAGMA temp_store = MEMORY;
        PRAGMA wal_autocheckpoint = 16384;
        PRAGMA cache_size = -16384;
        CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY, message_id TEXT, dedupe_key TEXT, seen_ticks INTEGER NOT NULL) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS seen_by_time ON seen (seen_ticks);
        {PendingTable}
        {PendingIndex}
        CREATE TABLE IF NOT EXISTS parked (event_id TEXT PRIMARY KEY, partition TEXT NOT NULL, enqueued_ticks INTEGER NOT NULL, message_id TEXT, json BLOB NOT NULL, parked_ticks INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS fates (event_id TEXT PRIMARY KEY, fate TEXT NOT NULL, ticks INTEGER NOT NULL) WITHOUT ROWID;
        {InFlightJournal.Table}
        {OrdersTable}
        CREATE TABLE IF NOT EXISTS payment_orders (payment_id TEXT PRIMARY KEY, order_id TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS consent (user_key TEXT PRIMARY KEY, json TEXT NOT NULL, country TEXT, state TEXT, updated_ticks INTEGER NOT NULL, region_ticks INTEGER) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS inputs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT, message_id TEXT, message_type TEXT,
            outcome TEXT NOT NULL, reason TEXT, detail TEXT, quarantine TEXT, received_ticks INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS inputs_by_message ON inputs (message_id);
        CREATE INDEX IF NOT EXISTS inputs_by_quarantine ON inputs (quarantine);
        CREATE TABLE IF NOT EXISTS input_events (seq INTEGER NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (seq, event_id)) WITHOUT ROWID;
        -- An index of the ledger by event id was never read and cost a random insert per event.
        DROP INDEX IF EXISTS input_events_by_event;
        CREATE TABLE IF NOT EXISTS input_flags (seq INTEGER NOT NULL, error TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS input_flags_by_seq ON input_flags (seq);
        CREATE TABLE IF NOT EXISTS input_unenriched (seq INTEGER PRIMARY KEY, reason TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS identity_links (
            customer_id TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, source_event_id TEXT NOT NULL,
            first_ticks INTEGER NOT NULL, last_ticks INTEGER NOT NULL, state TEXT NOT NULL, rules_version TEXT NOT NULL,
            PRIMARY KEY (customer_id, type, value)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS identity_links_by_identifier ON identity_links (type, value);
        CREATE TABLE IF NOT EXISTS withheld_links (customer_id TEXT NOT NULL, event_id TEXT NOT NULL, at_ticks INTEGER NOT NULL, PRIMARY KEY (customer_id, event_id)) WITHOUT ROWID;
        {DecisionsTable}
        """;

    /// <summary>
    /// Starts a batch: until <see cref="CommitBatchAsync"/>, every operation joins one transaction, so a run writes
    /// thousands of inputs per commit. A crash loses the whole uncommitted batch (events and their ledger rows
    /// together), which a rerun processes again: nothing is half-recorded. A push's in-flight request must be durable
    /// before its POST (with <c>synchronous = FULL</c>, across a power loss too): saved inside a batch (a push beside
    /// the ingest), it goes to the in-flight journal, a file of its own (<see cref="InFlightJournal"/>), so the batch
    /// still commits only when its owner commits it; a push's other writes join the batch.
    /// </summary>
    public Task BeginBatchAsync(CancellationToken cancellationToken) => Locked(() =>
    {
        batch ??= connection.BeginTransaction();
        return true;
    }, cancellationToken);

    /// <summary>
    /// Starts a read transaction and takes its snapshot at once: until <see cref="RollbackBatchAsync"/> every read sees
    /// the store as it was committed now, whatever other connections commit meanwhile (WAL).
    /// </summary>
    public Task BeginSnapshotAsync(CancellationToken cancellationToken) => Locked(() =>
    {
        batch ??= connection.BeginTransaction(deferred: true);
        return Scalar(null, "SELECT COUNT(*) FROM checkpoints") is not null; // a read starts the snapshot; BEGIN alone does not
    }, cancellationToken);

    /// <summary>
    /// A place for an event entering the outbox: after every event in it and every place given before (see
    /// <see cref="outboxNext"/>), and after whatever another process's connection stored meanwhile.
    /// </summary>
    private long NextOutboxPlace(SqliteTransaction? transaction)
    {
        var newest = Scalar(transaction, "SELECT COALESCE(MAX(rowid), 0) FROM pending") is long end ? end : 0;
        outboxNext = Math.Max(outboxNext, newest + 1);
        return outboxNext++;
    }

    /// <summary>The outbox's newest place (0 when it was never written): events stored from now on come after it.</summary>
    public Task<long> OutboxEndAsync(CancellationToken cancellationToken) =>
        Locked(() => Scalar(null, "SELECT COALESCE(MAX(rowid), 0) FROM pending") is long end ? end : 0, cancellationToken);

    /// <summary>Abandons the open batch: nothing of it was recorded.</summary>
    public Task RollbackBatchAsync(CancellationToken cancellationToken) => Locked(() =>
    {
        batch?.Rollback();
        batch?.Dispose();
        batch = null;
        settledInJournal.Clear(); // their events' removal is undone: they go again, byte for byte
        return true;
    }, cancellationToken);

    public Task CommitBatchAsync(CancellationToken cancellationToken) => Locked(() =>
    {
        batch?.Commit();
        batch?.Dispose();
        batch = null;
        ForgetSettledRequests();
        return true;
    }, cancellationToken);

    /// <summary>The journal's requests whose events a batch removed, now that it committed: nothing to resend.</summary>
    private void ForgetSettledRequests()
    {
        if (settledInJournal.Count > 0)
        {
            journal!.Delete(settledInJournal);
            settledInJournal.Clear();
        }
    }

    /// <summary>
    /// Marks a point in the open batch that <see cref="RollbackToSavepointAsync"/> returns to: one unit of work (a
    /// collector request) inside a batch that commits many, so a failure undoes only that unit's writes.
    /// </summary>
    public Task SavepointAsync(string name, CancellationToken cancellationToken) => Locked(() =>
    {
        (batch ?? throw new InvalidOperationException("A savepoint needs an open batch (BeginBatchAsync).")).Save(name);
        return true;
    }, cancellationToken);

    /// <summary>Keeps what was written since the savepoint (it commits with the batch).</summary>
    public Task ReleaseSavepointAsync(string name, CancellationToken cancellationToken) => Locked(() =>
    {
        batch?.Release(name);
        return true;
    }, cancellationToken);

    /// <summary>Undoes what was written since the savepoint; the batch stays open.</summary>
    public Task RollbackToSavepointAsync(string name, CancellationToken cancellationToken) => Locked(() =>
    {
        var open = batch ?? throw new InvalidOperationException("The batch is gone: nothing to roll back to.");
        open.Rollback(name);
        open.Release(name);
        return true;
    }, cancellationToken);

    // ---- IEventStore -------------------------------------------------------------------------------------------

    public Task<AddResult> TryAddAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken) => Locked(() =>
    {
        var id = Key(trackingEvent.Context.EventId);
        using var own = Own(out var transaction);
        var inserted = Execute(transaction, "INSERT INTO seen (event_id, message_id, dedupe_key, seen_ticks) VALUES ($id, $m, $k, $t) ON CONFLICT DO NOTHING",
            ("$id", id), ("$m", messageId), ("$k", trackingEvent.Context.DedupeKey), ("$t", time.GetUtcNow().UtcTicks));
        if (inserted == 0)
        {
            // Stored before by this message (a redelivery after a crash); an event it withheld was never stored.
            var existing = Scalar(transaction,
                "SELECT s.message_id FROM seen s WHERE s.event_id = $id AND NOT EXISTS (SELECT 1 FROM fates f WHERE f.event_id = s.event_id AND f.fate = 'withheld')",
                ("$id", id)) as string;
            own?.Commit();
            return messageId is not null && existing == messageId ? AddResult.AddedBefore : AddResult.Duplicate;
        }

        Execute(transaction, "INSERT INTO pending (rowid, event_id, partition, enqueued_ticks, message_id, json) VALUES ($place, $id, $p, $t, $m, $j)",
            ("$place", NextOutboxPlace(transaction)), ("$id", id), ("$p", PartitionOf(trackingEvent.Context.EventId)), ("$t", time.GetUtcNow().UtcTicks), ("$m", messageId),
            ("$j", JsonSerializer.SerializeToUtf8Bytes(trackingEvent, RelayJsonContext.Default.TrackingEvent)));
        own?.Commit();
        return AddResult.Added;
    }, cancellationToken);

    public Task<AddResult> WithholdAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken) => Locked(() =>
    {
        var id = Key(trackingEvent.Context.EventId);
        using var own = Own(out var transaction);
        var now = time.GetUtcNow().UtcTicks;
        var inserted = Execute(transaction, "INSERT INTO seen (event_id, message_id, dedupe_key, seen_ticks) VALUES ($id, $m, $k, $t) ON CONFLICT DO NOTHING",
            ("$id", id), ("$m", messageId), ("$k", trackingEvent.Context.DedupeKey), ("$t", now));
        if (inserted == 0)
        {
            // Only this message's own earlier withholding (a redelivery after a crash) counts as done before.
            var existing = Scalar(transaction,
                "SELECT s.message_id FROM seen s JOIN fates f ON f.event_id = s.event_id AND f.fate = 'withheld' WHERE s.event_id = $id", ("$id", id)) as string;
            own?.Commit();
            return messageId is not null && existing == messageId ? AddResult.AddedBefore : AddResult.Duplicate;
        }

        Execute(transaction, "INSERT OR REPLACE INTO fates (event_id, fate, ticks) VALUES ($id, 'withheld', $t)", ("$id", id), ("$t", now));
        own?.Commit();
        return AddResult.Added;
    }, cancellationToken);

    /// <summary>
    /// A push running beside the ingest over the outbox as it was when the push began (<see cref="ClaimOutbox"/>), or
    /// null. A rewrite of a pending event waits for it, so it finds the event as a push run before it would leave it.
    /// </summary>
    private volatile Task? claim;

    /// <summary>Marks the outbox as read and settled by <paramref name="push"/> until it completes (see <see cref="ReplacePendingAsync"/>).</summary>
    public void ClaimOutbox(Task push) => claim = push;

    public IPushSnapshots OpenPushSnapshots() => new SqlitePushSnapshots(this, OpenReader(Path, time, partitions));

    /// <summary>
    /// The pending events a push whose store work takes turns with a writer that cannot wait for it (<c>ctmp serve</c>:
    /// a rewrite comes inside a group of calls that holds the turn the push needs next) has read and may be sending.
    /// </summary>
    private volatile Func<Guid, bool>? taken;

    /// <summary>
    /// From now on, a rewrite of a pending event <paramref name="takenByPush"/> names fails as transient (the call is
    /// answered 503 and its retry merges once the push run is over), since the push may be sending that event.
    /// </summary>
    public void RefuseRewritesOf(Func<Guid, bool> takenByPush) => taken = takenByPush;

    public async Task<bool> ReplacePendingAsync(Guid eventId, Func<TrackingEvent, TrackingEvent?> replace, CancellationToken cancellationToken)
    {
        if (taken?.Invoke(eventId) == true)
        {
            throw new TransientFailureException("A push run is sending this pending event now: it is not rewritten under it. Retry after the run.");
        }

        if (claim is { IsCompleted: false } running)
        {
            await running.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
        }

        return await Replace(eventId, replace, cancellationToken).ConfigureAwait(false);
    }

    private Task<bool> Replace(Guid eventId, Func<TrackingEvent, TrackingEvent?> replace, CancellationToken cancellationToken) => Locked<bool>(() =>
    {
        using var own = Own(out var transaction);
        var id = Key(eventId);
        if (Scalar(transaction, "SELECT json FROM pending WHERE event_id = $id", ("$id", id)) is not byte[] json
            || JsonSerializer.Deserialize(json, RelayJsonContext.Default.TrackingEvent) is not { } stored
            || replace(stored) is not { } replacement)
        {
            return false;
        }

        Execute(transaction, "UPDATE pending SET json = $j, not_before_ticks = 0 WHERE event_id = $id",
            ("$j", JsonSerializer.SerializeToUtf8Bytes(replacement, RelayJsonContext.Default.TrackingEvent)), ("$id", id));
        own?.Commit();
        return true;
    }, cancellationToken);

    public Task HoldPendingAsync(IReadOnlyCollection<PendingEventKey> events, DateTimeOffset until, CancellationToken cancellationToken) => Locked(() =>
    {
        using var own = Own(out var transaction);
        foreach (var key in events)
        {
            Execute(transaction, "UPDATE pending SET not_before_ticks = $u WHERE event_id = $id", ("$u", until.UtcTicks), ("$id", Key(key.EventId)));
        }

        own?.Commit();
        return true;
    }, cancellationToken);

    public Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken) => ReadPendingAsync(max, long.MaxValue, cancellationToken);

    /// <summary>As <see cref="ReadPendingAsync(int, CancellationToken)"/>, of the events stored up to <paramref name="upTo"/> (<see cref="OutboxEndAsync"/>).</summary>
    public Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, long upTo, CancellationToken cancellationToken) => Locked<IReadOnlyList<PendingEvent>>(() =>
    {
        var command = Command(null, "SELECT event_id, partition, enqueued_ticks, message_id, json FROM pending WHERE not_before_ticks <= $now AND rowid <= $upTo ORDER BY enqueued_ticks, event_id LIMIT $max",
            ("$now", time.GetUtcNow().UtcTicks), ("$upTo", upTo), ("$max", max));
        using var reader = command.ExecuteReader();
        var list = new List<PendingEvent>();
        while (reader.Read())
        {
            list.Add(new PendingEvent(reader.GetString(1), Guid.ParseExact(reader.GetString(0), "N"),
                new DateTimeOffset(reader.GetInt64(2), TimeSpan.Zero), reader.IsDBNull(3) ? null : reader.GetString(3), (byte[])reader[4]));
        }

        return list;
    }, cancellationToken);

    public Task RemovePendingAsync(IReadOnlyCollection<PendingEventKey> events, EventFate fate, CancellationToken cancellationToken) => Locked(() =>
    {
        using var own = Own(out var transaction);
        var now = time.GetUtcNow().UtcTicks;
        foreach (var key in events)
        {
            var id = Key(key.EventId);
            if (fate == EventFate.Quarantined)
            {
                // Parked, not deleted: a replay of the quarantine record can put it back as it was.
                Execute(transaction, "INSERT OR IGNORE INTO parked (event_id, partition, enqueued_ticks, message_id, json, parked_ticks) " +
                    "SELECT event_id, partition, enqueued_ticks, message_id, json, $t FROM pending WHERE event_id = $id", ("$id", id), ("$t", now));
            }

            if (Execute(transaction, "DELETE FROM pending WHERE event_id = $id", ("$id", id)) > 0)
            {
                Execute(transaction, "INSERT OR REPLACE INTO fates (event_id, fate, ticks) VALUES ($id, $f, $t)", ("$id", id), ("$f", FateCode(fate)), ("$t", now));
            }
        }

        own?.Commit();
        return true;
    }, cancellationToken);

    public Task<int> RestoreParkedAsync(IReadOnlyCollection<Guid> eventIds, CancellationToken cancellationToken) => Locked<int>(() =>
    {
        using var own = Own(out var transaction);
        var restored = 0;
        foreach (var id in eventIds.Select(Key).Distinct(StringComparer.Ordinal))
        {
            Execute(transaction, "INSERT OR IGNORE INTO pending (rowid, event_id, partition, enqueued_ticks, message_id, json) " +
                "SELECT $place, event_id, partition, enqueued_ticks, message_id, json FROM parked WHERE event_id = $id", ("$place", NextOutboxPlace(transaction)), ("$id", id));
            if (Execute(transaction, "DELETE FROM parked WHERE event_id = $id", ("$id", id)) > 0)
            {
                Execute(transaction, "DELETE FROM fates WHERE event_id = $id", ("$id", id));
                restored++;
            }
        }

        own?.Commit();
        return restored;
    }, cancellationToken);

    public Task<int> PurgeParkedAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) =>
        Locked<int>(() => Execute(null, "DELETE FROM parked WHERE parked_ticks < $t", ("$t", olderThan.UtcTicks)), cancellationToken);

    /// <summary>
    /// Persists a request before its POST: durable when this returns. Inside a batch (a push beside the ingest) it goes
    /// to the in-flight journal, so the batch's writes stay uncommitted until its owner commits: a crash then loses
    /// the inputs read after the last commit and the push's settling together, and the rerun redoes both as an
    /// uninterrupted run would, resending the journal's requests byte for byte.
    /// </summary>
    public Task SaveInFlightAsync(InFlightRequest request, CancellationToken cancellationToken) => SaveInFlightAsync([request], cancellationToken);

    /// <summary>In one commit (one fsync for the requests a push starts together): the journal's in a batch, else the store's own.</summary>
    public Task SaveInFlightAsync(IReadOnlyList<InFlightRequest> requests, CancellationToken cancellationToken) => Locked(() =>
    {
        if (batch is not null)
        {
            (journal ??= InFlightJournal.Open(Path)).Save(requests);
            return true;
        }

        using var transaction = connection.BeginTransaction();
        foreach (var request in requests)
        {
            Execute(transaction, InFlightJournal.Insert, InFlightJournal.Parameters(request));
        }

        transaction.Commit();
        return true;
    }, cancellationToken);

    public Task<IReadOnlyList<InFlightRequest>> ReadInFlightAsync(CancellationToken cancellationToken) => Locked<IReadOnlyList<InFlightRequest>>(() =>
    {
        List<InFlightRequest> list;
        using (var reader = Command(null, InFlightJournal.Select).ExecuteReader())
        {
            list = InFlightJournal.ReadAll(reader);
        }

        if (journal is not null)
        {
            list.AddRange(journal.ReadAll(except: settledInJournal)); // the settled ones' bodies are not read
            list.Sort((a, b) => a.CreatedAt != b.CreatedAt ? a.CreatedAt.CompareTo(b.CreatedAt) : string.CompareOrdinal(a.RequestId, b.RequestId));
        }

        return list;
    }, cancellationToken);

    /// <summary>
    /// The request's events are settled: it is no longer in flight. A journal request leaves the journal only once
    /// the open batch, which holds its events' removal, commits.
    /// </summary>
    public Task DeleteInFlightAsync(string requestId, CancellationToken cancellationToken) => Locked(() =>
    {
        Execute(null, "DELETE FROM inflight WHERE request_id = $id", ("$id", requestId));
        if (journal is not null)
        {
            if (batch is not null)
            {
                settledInJournal.Add(requestId);
            }
            else
            {
                journal.Delete([requestId]);
            }
        }

        return true;
    }, cancellationToken);

    public Task<PendingStats> PendingStatsAsync(CancellationToken cancellationToken) => PendingStatsAsync(long.MaxValue, cancellationToken);

    /// <summary>As <see cref="PendingStatsAsync(CancellationToken)"/>, of the events stored up to <paramref name="upTo"/> (<see cref="OutboxEndAsync"/>).</summary>
    public Task<PendingStats> PendingStatsAsync(long upTo, CancellationToken cancellationToken) => Locked(() =>
    {
        var command = Command(null, "SELECT COUNT(*), MIN(enqueued_ticks), SUM(CASE WHEN not_before_ticks > $now THEN 1 ELSE 0 END) FROM pending WHERE rowid <= $upTo",
            ("$now", time.GetUtcNow().UtcTicks), ("$upTo", upTo));
        using var reader = command.ExecuteReader();
        reader.Read();
        return new PendingStats(reader.GetInt64(0), reader.IsDBNull(1) ? null : new DateTimeOffset(reader.GetInt64(1), TimeSpan.Zero), reader.IsDBNull(2) ? 0 : reader.GetInt64(2));
    }, cancellationToken);

    /// <summary>
    /// As the port says. A withheld event's fate goes with its dedupe record: it is only the mark of that record (a
    /// later withholding of the same id, stored again after its record was forgotten, must not read as done before,
    /// and the report counts withheld events among those seen); the fates of sent events stay for the ledger.
    /// </summary>
    public Task<int> PurgeSeenAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) => Locked<int>(() =>
    {
        using var own = Own(out var transaction);
        const string Purged = "seen_ticks < $t AND event_id NOT IN (SELECT event_id FROM pending) AND event_id NOT IN (SELECT event_id FROM parked)";
        Execute(transaction, $"DELETE FROM fates WHERE fate = 'withheld' AND event_id IN (SELECT event_id FROM seen WHERE {Purged})", ("$t", olderThan.UtcTicks));
        var purged = Execute(transaction, $"DELETE FROM seen WHERE {Purged}", ("$t", olderThan.UtcTicks));

        own?.Commit();
        return purged;
    }, cancellationToken);

    // ---- IOrderContextStore ------------------------------------------------------------------------------------

    public Task SaveAsync(OrderContext order, CancellationToken cancellationToken) => Locked(() =>
    {
        using var own = Own(out var transaction);
        // An older version than the stored one changes nothing (nor its save time, retention's clock).
        Execute(transaction, """
            INSERT INTO orders (order_id, json, saved_ticks, version) VALUES ($id, $j, $t, $v)
            ON CONFLICT (order_id) DO UPDATE SET json = excluded.json, saved_ticks = excluded.saved_ticks, version = excluded.version
            WHERE excluded.version >= orders.version
            """,
            ("$id", order.OrderId), ("$j", JsonSerializer.SerializeToUtf8Bytes(order, RelayJsonContext.Default.OrderContext)),
            ("$t", time.GetUtcNow().UtcTicks), ("$v", order.Version));
        foreach (var payment in order.PaymentIds)
        {
            Execute(transaction, "INSERT OR REPLACE INTO payment_orders (payment_id, order_id) VALUES ($p, $o)", ("$p", payment), ("$o", order.OrderId));
        }

        own?.Commit();
        return true;
    }, cancellationToken);

    public Task<OrderContext?> FindByOrderAsync(string orderId, CancellationToken cancellationToken) => Locked(() => FindOrder(orderId), cancellationToken);

    public Task<OrderContext?> FindByPaymentAsync(string paymentId, CancellationToken cancellationToken) => Locked(() =>
        Scalar(null, "SELECT order_id FROM payment_orders WHERE payment_id = $p", ("$p", paymentId)) is string orderId ? FindOrder(orderId) : null,
        cancellationToken);

    public Task<int> PurgeOrdersOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => Locked<int>(() =>
    {
        using var own = Own(out var transaction);
        var purged = Execute(transaction, "DELETE FROM orders WHERE saved_ticks < $t", ("$t", cutoff.UtcTicks));
        Execute(transaction, "DELETE FROM payment_orders WHERE order_id NOT IN (SELECT order_id FROM orders)");
        own?.Commit();
        return purged;
    }, cancellationToken);

    public Task<int> PurgeConsentOlderThanAsync(DateTimeOffset cutoff, Func<UserConsent, bool> keep, CancellationToken cancellationToken) => Locked<int>(() =>
    {
        using var own = Own(out var transaction);
        var old = new List<string>();
        using (var reader = Command(transaction, "SELECT user_key FROM consent WHERE updated_ticks < $t", ("$t", cutoff.UtcTicks)).ExecuteReader())
        {
            while (reader.Read())
            {
                old.Add(reader.GetString(0));
            }
        }

        var purged = 0;
        foreach (var key in old.Where(k => ReadConsent(transaction, k) is { } state && !keep(state)))
        {
            purged += Execute(transaction, "DELETE FROM consent WHERE user_key = $k", ("$k", key));
        }

        own?.Commit();
        return purged;
    }, cancellationToken);

    private OrderContext? FindOrder(string orderId) =>
        Scalar(null, "SELECT json FROM orders WHERE order_id = $id", ("$id", orderId)) is byte[] json
            ? JsonSerializer.Deserialize(json, RelayJsonContext.Default.OrderContext)
            : null;

    // ---- IIdentityLinkStore ------------------------------------------------------------------------------------

    public Task<IdentityLink> RecordAsync(IdentityLink link, CancellationToken cancellationToken) => Locked(() =>
    {
        // A new link as given; an existing one only moves its last sighting forward (state and first sighting kept).
        Execute(null,
            "INSERT INTO identity_links (customer_id, type, value, source_event_id, first_ticks, last_ticks, state, rules_version) " +
            "VALUES ($c, $t, $v, $e, $f, $l, $s, $r) ON CONFLICT (customer_id, type, value) DO UPDATE SET last_ticks = MAX(last_ticks, excluded.last_ticks)",
            ("$c", link.CustomerId), ("$t", link.Type), ("$v", link.Value), ("$e", Key(link.SourceEventId)), ("$f", link.FirstSeen.UtcTicks),
            ("$l", link.LastSeen.UtcTicks), ("$s", link.State.ToString()), ("$r", link.RulesVersion));
        return Links("WHERE customer_id = $c AND type = $t AND value = $v", ("$c", link.CustomerId), ("$t", link.Type), ("$v", link.Value)).Single();
    }, cancellationToken);

    /// <remarks>The embedded store's upsert needs no read first: the same as <see cref="RecordAsync"/>.</remarks>
    public Task<IdentityLink> RecordNewAsync(IdentityLink link, CancellationToken cancellationToken) => RecordAsync(link, cancellationToken);

    public Task SeenAgainAsync(IdentityLink stored, DateTimeOffset at, CancellationToken cancellationToken) =>
        Locked(() => Execute(null, "UPDATE identity_links SET last_ticks = MAX(last_ticks, $l) WHERE customer_id = $c AND type = $t AND value = $v",
            ("$l", at.UtcTicks), ("$c", stored.CustomerId), ("$t", stored.Type), ("$v", stored.Value)), cancellationToken);

    public Task<IReadOnlyList<IdentityLink>> ByIdentifierAsync(string type, string value, CancellationToken cancellationToken) =>
        Locked(() => Links("WHERE type = $t AND value = $v", ("$t", type), ("$v", value)), cancellationToken);

    /// <summary>One statement per identifier, all under one turn of the connection.</summary>
    public Task<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>> ByIdentifiersAsync(
        IReadOnlyCollection<(string Type, string Value)> identifiers, CancellationToken cancellationToken) =>
        Locked<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>>(
            () => identifiers.Distinct().ToDictionary(id => id, id => Links("WHERE type = $t AND value = $v", ("$t", id.Type), ("$v", id.Value))), cancellationToken);

    public Task<IReadOnlyList<IdentityLink>> ByCustomerAsync(string customerId, CancellationToken cancellationToken) =>
        Locked(() => Links("WHERE customer_id = $c", ("$c", customerId)), cancellationToken);

    /// <summary>One statement per customer, all under one turn of the connection.</summary>
    public Task<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>> ByCustomersAsync(IReadOnlyCollection<string> customerIds, CancellationToken cancellationToken) =>
        Locked<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>>(
            () => customerIds.Distinct(StringComparer.Ordinal).ToDictionary(id => id, id => Links("WHERE customer_id = $c", ("$c", id)), StringComparer.Ordinal), cancellationToken);

    public Task SetStateAsync(IdentityLink link, LinkState state, string rulesVersion, CancellationToken cancellationToken) =>
        Locked(() => Execute(null, "UPDATE identity_links SET state = $s, rules_version = $r WHERE customer_id = $c AND type = $t AND value = $v",
            ("$s", state.ToString()), ("$r", rulesVersion), ("$c", link.CustomerId), ("$t", link.Type), ("$v", link.Value)), cancellationToken);

    public Task RecordWithheldAsync(string customerId, Guid eventId, DateTimeOffset at, CancellationToken cancellationToken) =>
        Locked(() => Execute(null, "INSERT OR IGNORE INTO withheld_links (customer_id, event_id, at_ticks) VALUES ($c, $e, $t)",
            ("$c", customerId), ("$e", Key(eventId)), ("$t", at.UtcTicks)), cancellationToken);

    public Task<bool> WasWithheldAsync(string customerId, Guid eventId, CancellationToken cancellationToken) =>
        Locked<bool>(() => Scalar(null, "SELECT 1 FROM withheld_links WHERE customer_id = $c AND event_id = $e", ("$c", customerId), ("$e", Key(eventId))) is not null,
            cancellationToken);

    public Task<int> ForgetCustomerAsync(string customerId, CancellationToken cancellationToken) => Locked<int>(() =>
    {
        using var own = Own(out var transaction);
        Execute(transaction, "DELETE FROM withheld_links WHERE customer_id = $c", ("$c", customerId));
        var forgotten = Execute(transaction, "DELETE FROM identity_links WHERE customer_id = $c", ("$c", customerId));
        own?.Commit();
        return forgotten;
    }, cancellationToken);

    public Task<int> PurgeOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => Locked<int>(() =>
    {
        using var own = Own(out var transaction);
        Execute(transaction, "DELETE FROM withheld_links WHERE at_ticks < $t", ("$t", cutoff.UtcTicks));
        var purged = Execute(transaction, "DELETE FROM identity_links WHERE last_ticks < $t", ("$t", cutoff.UtcTicks));
        own?.Commit();
        return purged;
    }, cancellationToken);

    public Task SaveDecisionsAsync(IReadOnlyList<IdentityDecision> decisions, CancellationToken cancellationToken) => Locked(() =>
    {
        using var own = Own(out var transaction);
        foreach (var decision in decisions)
        {
            Execute(transaction, "INSERT OR REPLACE INTO identity_decisions (event_id, decided_ticks, json) VALUES ($id, $t, $j)",
                ("$id", Key(decision.EventId)), ("$t", decision.DecidedAt.UtcTicks), ("$j", JsonSerializer.SerializeToUtf8Bytes(decision, RelayJsonContext.Default.IdentityDecision)));
        }

        own?.Commit();
        return decisions.Count;
    }, cancellationToken);

    public Task<IdentityDecision?> DecisionAsync(Guid eventId, CancellationToken cancellationToken) => Locked(() =>
        Scalar(null, "SELECT json FROM identity_decisions WHERE event_id = $id", ("$id", Key(eventId))) is byte[] json
            ? JsonSerializer.Deserialize(json, RelayJsonContext.Default.IdentityDecision)
            : null, cancellationToken);

    public Task<int> PurgeDecisionsOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) =>
        Locked<int>(() => Execute(null, "DELETE FROM identity_decisions WHERE decided_ticks < $t", ("$t", cutoff.UtcTicks)), cancellationToken);

    private IReadOnlyList<IdentityLink> Links(string where, params (string Name, object? Value)[] parameters)
    {
        var command = Command(null,
            "SELECT customer_id, type, value, source_event_id, first_ticks, last_ticks, state, rules_version FROM identity_links " + where +
            " ORDER BY first_ticks, customer_id", parameters);
        using var reader = command.ExecuteReader();
        var links = new List<IdentityLink>();
        while (reader.Read())
        {
            links.Add(new IdentityLink(reader.GetString(0), reader.GetString(1), reader.GetString(2), Guid.Parse(reader.GetString(3)),
                new DateTimeOffset(reader.GetInt64(4), TimeSpan.Zero), new DateTimeOffset(reader.GetInt64(5), TimeSpan.Zero),
                Enum.Parse<LinkState>(reader.GetString(6)), reader.GetString(7)));
        }

        return links;
    }

    // ---- IConsentStore -----------------------------------------------------------------------------------------

    public Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken) => Locked(() => ReadConsent(null, userKey), cancellationToken);

    public Task<UserConsent> MergeAsync(string userKey, ConsentSnapshot? consent, StatedRegion? region, CancellationToken cancellationToken) => Locked(() =>
    {
        using var own = Own(out var transaction);
        var existing = ReadConsent(transaction, userKey);
        var merged = UserConsent.Merged(existing, consent, region, time.GetUtcNow());
        Execute(transaction, "INSERT OR REPLACE INTO consent (user_key, json, country, state, region_ticks, updated_ticks) VALUES ($k, $j, $c, $s, $r, $t)",
            ("$k", userKey), ("$j", JsonSerializer.Serialize(merged.Consent, RelayJsonContext.Default.ConsentSnapshot)),
            ("$c", merged.Region?.Country), ("$s", RegionColumns.State(merged.Region)),
            ("$r", merged.Region is null ? null : merged.RegionAt.UtcTicks), ("$t", merged.UpdatedAt.UtcTicks));
        own?.Commit();
        return merged;
    }, cancellationToken);

    private UserConsent? ReadConsent(SqliteTransaction? transaction, string userKey)
    {
        var command = Command(transaction, "SELECT json, country, state, updated_ticks, region_ticks FROM consent WHERE user_key = $k", ("$k", userKey));
        using var reader = command.ExecuteReader();
        if (!reader.Read())
        {
            return null;
        }

        var snapshot = JsonSerializer.Deserialize(reader.GetString(0), RelayJsonContext.Default.ConsentSnapshot) ?? ConsentSnapshot.Empty;
        var region = reader.IsDBNull(1) ? null : RegionColumns.Read(reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2));
        return new UserConsent(snapshot, region, new DateTimeOffset(reader.GetInt64(3), TimeSpan.Zero))
        {
            // Written before regions kept their time: the first region stated since replaces it.
            RegionAt = reader.IsDBNull(4) ? DateTimeOffset.MinValue : new DateTimeOffset(reader.GetInt64(4), TimeSpan.Zero),
        };
    }

    // ---- ICheckpointStore ---------------------------------------------------------------------------------------

    Task<string?> ICheckpointStore.GetAsync(string name, CancellationToken cancellationToken) =>
        Locked(() => Scalar(null, "SELECT value FROM checkpoints WHERE name = $n", ("$n", name)) as string, cancellationToken);

    public Task SetAsync(string name, string value, CancellationToken cancellationToken) =>
        Locked(() => Execute(null, "INSERT OR REPLACE INTO checkpoints (name, value) VALUES ($n, $v)", ("$n", name), ("$v", value)), cancellationToken);

    // ---- The runner's ledger -----------------------------------------------------------------------------------

    /// <summary>The latest recorded input of a message that was not itself a redelivery, if any.</summary>
    public Task<LedgerInput?> FindInputAsync(string messageId, CancellationToken cancellationToken) => Locked(() =>
    {
        var command = Command(null,
            "SELECT seq, outcome, reason, quarantine FROM inputs WHERE message_id = $m AND NOT (outcome = 'duplicate' AND reason = 'redelivered') ORDER BY seq DESC LIMIT 1",
            ("$m", messageId));
        using var reader = command.ExecuteReader();
        return reader.Read()
            ? new LedgerInput(reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3))
            : null;
    }, cancellationToken);

    /// <summary>Records one input's outcome and the events it stored; returns its sequence number.</summary>
    /// <param name="flags">Plan violations the policy allowed on the stored events (sent, flagged).</param>
    /// <param name="unenriched">Why the input went without the commercetools details the relay adds (<see cref="Pipeline.InputInfo.Unenriched"/>).</param>
    public Task<long> RecordInputAsync(string source, string? messageId, string? messageType, string outcome, string? reason, string detail,
        string? quarantine, IReadOnlyList<Guid> eventIds, IReadOnlyList<string> flags, string? unenriched, CancellationToken cancellationToken) => Locked(() =>
    {
        using var own = Own(out var transaction);
        var seq = (long)Scalar(transaction,
            "INSERT INTO inputs (source, message_id, message_type, outcome, reason, detail, quarantine, received_ticks) VALUES ($s, $m, $mt, $o, $r, $d, $q, $t) RETURNING seq",
            ("$s", source), ("$m", messageId), ("$mt", messageType), ("$o", outcome), ("$r", reason), ("$d", detail), ("$q", quarantine),
            ("$t", time.GetUtcNow().UtcTicks))!;
        LinkEvents(transaction, seq, eventIds);
        RecordFlags(transaction, seq, flags, unenriched);
        own?.Commit();
        return seq;
    }, cancellationToken);

    /// <summary>Replaces an input's outcome (a quarantined input that a replay resolved).</summary>
    public Task UpdateInputAsync(long seq, string outcome, string? reason, string detail, string? quarantine, IReadOnlyList<Guid> eventIds,
        IReadOnlyList<string> flags, string? unenriched, CancellationToken cancellationToken) => Locked(() =>
    {
        using var own = Own(out var transaction);
        Execute(transaction, "UPDATE inputs SET outcome = $o, reason = $r, detail = $d, quarantine = $q WHERE seq = $s",
            ("$o", outcome), ("$r", reason), ("$d", detail), ("$q", quarantine), ("$s", seq));
        LinkEvents(transaction, seq, eventIds);
        Execute(transaction, "DELETE FROM input_flags WHERE seq = $s", ("$s", seq));
        Execute(transaction, "DELETE FROM input_unenriched WHERE seq = $s", ("$s", seq));
        RecordFlags(transaction, seq, flags, unenriched);
        own?.Commit();
        return true;
    }, cancellationToken);

    /// <summary>Inputs currently recorded as quarantined under a record id.</summary>
    public Task<IReadOnlyList<long>> InputsQuarantinedAsAsync(string quarantine, CancellationToken cancellationToken) => Locked<IReadOnlyList<long>>(() =>
    {
        var command = Command(null, "SELECT seq FROM inputs WHERE quarantine = $q AND outcome = 'quarantined'", ("$q", quarantine));
        using var reader = command.ExecuteReader();
        var list = new List<long>();
        while (reader.Read())
        {
            list.Add(reader.GetInt64(0));
        }

        return list;
    }, cancellationToken);

    /// <summary>
    /// Every input with its final state: recorded outcomes as they are, accepted inputs resolved through their
    /// events' fates (pending, delivered, withdrawn, quarantined at push).
    /// </summary>
    public Task<IReadOnlyList<LedgerRow>> LedgerAsync(CancellationToken cancellationToken) => Locked<IReadOnlyList<LedgerRow>>(() =>
    {
        const string sql = """
            SELECT i.outcome, i.reason,
                   SUM(CASE WHEN p.event_id IS NOT NULL THEN 1 ELSE 0 END),
                   SUM(CASE WHEN f.fate = 'delivered' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN f.fate = 'withdrawn' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN f.fate = 'quarantined' THEN 1 ELSE 0 END),
                   COUNT(e.event_id)
            FROM inputs i
            LEFT JOIN input_events e ON e.seq = i.seq
            LEFT JOIN pending p ON p.event_id = e.event_id
            LEFT JOIN fates f ON f.event_id = e.event_id
            GROUP BY i.seq
            """;
        var command = Command(null, sql);
        using var reader = command.ExecuteReader();
        var rows = new List<LedgerRow>();
        while (reader.Read())
        {
            rows.Add(new LedgerRow(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4), reader.GetInt32(5), reader.GetInt32(6)));
        }

        return rows;
    }, cancellationToken);

    /// <summary>Event totals: stored (seen by this store), and how many are pending or met each fate.</summary>
    public Task<EventTotals> EventTotalsAsync(CancellationToken cancellationToken) => Locked(() =>
    {
        long Count(string sql) => (long)Scalar(null, sql)!;
        return new EventTotals(
            Count("SELECT COUNT(*) FROM seen") - Count("SELECT COUNT(*) FROM fates WHERE fate = 'withheld'"),
            Count("SELECT COUNT(*) FROM pending"),
            Count("SELECT COUNT(*) FROM fates WHERE fate = 'delivered'"),
            Count("SELECT COUNT(*) FROM fates WHERE fate = 'withdrawn'"),
            Count("SELECT COUNT(*) FROM fates WHERE fate = 'quarantined'"),
            Count("SELECT COUNT(*) FROM inflight") + (journal?.CountOpen(settledInJournal) ?? 0), // the journal's too, as the log counts them
            Count("SELECT COUNT(*) FROM fates WHERE fate = 'withheld'"),
            (long)Scalar(null, "SELECT COUNT(*) FROM pending WHERE not_before_ticks > $now", ("$now", time.GetUtcNow().UtcTicks))!);
    }, cancellationToken);

    private void LinkEvents(SqliteTransaction transaction, long seq, IReadOnlyList<Guid> eventIds)
    {
        foreach (var id in eventIds)
        {
            Execute(transaction, "INSERT OR IGNORE INTO input_events (seq, event_id) VALUES ($s, $e)", ("$s", seq), ("$e", Key(id)));
        }
    }

    private void RecordFlags(SqliteTransaction transaction, long seq, IReadOnlyList<string> flags, string? unenriched)
    {
        foreach (var error in flags)
        {
            Execute(transaction, "INSERT INTO input_flags (seq, error) VALUES ($s, $e)", ("$s", seq), ("$e", error));
        }

        if (unenriched is not null)
        {
            Execute(transaction, "INSERT INTO input_unenriched (seq, reason) VALUES ($s, $r)", ("$s", seq), ("$r", unenriched));
        }
    }

    /// <summary>Accepted inputs that went without the commercetools details the relay adds, by reason.</summary>
    public Task<SortedDictionary<string, long>> UnenrichedAsync(CancellationToken cancellationToken) => Locked(() =>
    {
        var command = Command(null,
            "SELECT u.reason, COUNT(*) FROM input_unenriched u JOIN inputs i ON i.seq = u.seq WHERE i.outcome = 'accepted' GROUP BY u.reason");
        using var reader = command.ExecuteReader();
        var byReason = new SortedDictionary<string, long>(StringComparer.Ordinal);
        while (reader.Read())
        {
            byReason[reader.GetString(0)] = reader.GetInt64(1);
        }

        return byReason;
    }, cancellationToken);

    /// <summary>Plan violations sent under an allowing policy: how many inputs, and how often each error occurred.</summary>
    public Task<(long Inputs, SortedDictionary<string, long> ByError)> FlagsAsync(CancellationToken cancellationToken) => Locked(() =>
    {
        var inputs = (long)Scalar(null, "SELECT COUNT(DISTINCT seq) FROM input_flags")!;
        var command = Command(null, "SELECT error, COUNT(*) FROM input_flags GROUP BY error");
        using var reader = command.ExecuteReader();
        var byError = new SortedDictionary<string, long>(StringComparer.Ordinal);
        while (reader.Read())
        {
            byError[reader.GetString(0)] = reader.GetInt64(1);
        }

        return (inputs, byError);
    }, cancellationToken);

    // ---- plumbing ----------------------------------------------------------------------------------------------

    private string PartitionOf(Guid id) => Partitions.Name("e", Partitions.Of(id, partitions));

    private static string Key(Guid id) => id.ToString("N");

    private static string FateCode(EventFate fate) => fate switch
    {
        EventFate.Delivered => "delivered",
        EventFate.Withdrawn => "withdrawn",
        _ => "quarantined",
    };

    private async Task<T> Locked<T>(Func<T> work, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return work();
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is SqliteBusy or SqliteLocked or SqliteIoError or SqliteFull)
        {
            // Another process holds the file, or the disk failed or filled: not the input's fault, so retry it later.
            throw new TransientFailureException($"The store {Path} is unavailable now (SQLite error {ex.SqliteErrorCode}).", ex);
        }
        finally
        {
            gate.Release();
        }
    }

    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;
    private const int SqliteIoError = 10;
    private const int SqliteFull = 13;

    private Task Locked(Func<int> work, CancellationToken cancellationToken) => Locked<int>(work, cancellationToken);

    private Task Locked(Func<bool> work, CancellationToken cancellationToken) => Locked<bool>(work, cancellationToken);

    /// <summary>The batch's transaction when one is open (returns null: nothing to commit), else a new one.</summary>
    private SqliteTransaction? Own(out SqliteTransaction transaction)
    {
        if (batch is not null)
        {
            transaction = batch;
            return null;
        }

        transaction = connection.BeginTransaction();
        return transaction;
    }

    private SqliteCommand Command(SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        if (!prepared.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            prepared[sql] = command;
        }

        command.Transaction = transaction ?? batch;
        command.Parameters.Clear();
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    private int Execute(SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = Command(transaction, sql, parameters);
        return command.ExecuteNonQuery();
    }

    private object? Scalar(SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = Command(transaction, sql, parameters);
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    public void Dispose()
    {
        batch?.Commit();
        batch?.Dispose();
        batch = null;
        ForgetSettledRequests();
        journal?.Dispose();
        foreach (var command in prepared.Values)
        {
            command.Dispose();
        }

        prepared.Clear();
        connection.Dispose();
        gate.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A recorded input, for redelivery and replay decisions.</summary>
internal sealed record LedgerInput(long Seq, string Outcome, string? Reason, string? Quarantine);

/// <summary>An input with the fates of the events it stored.</summary>
internal sealed record LedgerRow(string Outcome, string? Reason, int Pending, int Delivered, int Withdrawn, int QuarantinedAtPush, int Events);

/// <param name="Withheld">Events consent refused at ingest: recorded as seen (so replays are duplicates), never stored for push.</param>
/// <param name="Held">Of <paramref name="Pending"/>, events waiting for their user's consent (Relay:ConsentWait).</param>
internal sealed record EventTotals(long Stored, long Pending, long Delivered, long Withdrawn, long Quarantined, long InFlightRequests, long Withheld = 0, long Held = 0);
