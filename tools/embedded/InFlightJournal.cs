using System.Text.Json;
using CtMparticle.Storage;
using Microsoft.Data.Sqlite;

namespace CtMparticle.Embedded;

/// <summary>
/// Requests a push saves while the writer's batch is open (a push beside the ingest), in a small SQLite file of their
/// own next to the store (<c>state.inflight.db</c>): durable before their POST (<c>synchronous = FULL</c>) without
/// committing the writer's batch, which then commits only at its own points. A request leaves the journal once the
/// batch that removed its events committed (<see cref="SqliteStore.CommitBatchAsync"/>); what a crash leaves in it is
/// moved into the store's own in-flight table when the store is next opened, and resent byte for byte from there.
/// Its own lock keeps one call at a time on its connection, so a store need not hold its own lock for it: the log store
/// saves a push's request (a write and an fsync, about 1.5 ms) while the writer beside the push goes on.
/// </summary>
internal sealed class InFlightJournal : IDisposable
{
    private readonly SqliteConnection connection;
    private readonly Lock gate = new();

    private InFlightJournal(SqliteConnection connection) => this.connection = connection;

    /// <summary>The journal's file for the store at <paramref name="storeFile"/>.</summary>
    public static string PathFor(string storeFile) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(storeFile))!, Path.GetFileNameWithoutExtension(storeFile) + ".inflight.db");

    public static InFlightJournal Open(string storeFile)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = PathFor(storeFile), Pooling = false, DefaultTimeout = 5 }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            PRAGMA busy_timeout = 5000;
            """ + Table;
        command.ExecuteNonQuery();
        return new InFlightJournal(connection);
    }

    /// <summary>Durable when this returns.</summary>
    public void Save(InFlightRequest request) => Save([request]);

    /// <summary>All of <paramref name="requests"/> or none, durable when this returns: one transaction, so one fsync.</summary>
    public void Save(IReadOnlyList<InFlightRequest> requests)
    {
        using var oneCall = gate.EnterScope();
        using var transaction = requests.Count > 1 ? connection.BeginTransaction() : null;
        foreach (var request in requests)
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = Insert;
            foreach (var (name, value) in Parameters(request))
            {
                command.Parameters.AddWithValue(name, value!);
            }

            command.ExecuteNonQuery();
        }

        transaction?.Commit();
    }

    /// <summary>
    /// Every request in the journal but those of <paramref name="except"/>, in <see cref="Select"/>'s order. The ids are
    /// read and ordered first, then each body wanted by its id: a push reads the journal at every run, and an ordered
    /// read of the rows sorted their bodies too (through temporary files), those of requests already settled as well.
    /// </summary>
    public IReadOnlyList<InFlightRequest> ReadAll(IReadOnlySet<string>? except = null)
    {
        using var oneCall = gate.EnterScope();
        var ids = new List<(long Ticks, string Id)>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT request_id, created_ticks FROM inflight";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                if (except is null || !except.Contains(reader.GetString(0)))
                {
                    ids.Add((reader.GetInt64(1), reader.GetString(0)));
                }
            }
        }

        // Select's order: by time, then by id in SQLite's binary collation (UTF-8 bytes; ordinal for the ASCII ids written).
        ids.Sort((a, b) => a.Ticks != b.Ticks ? a.Ticks.CompareTo(b.Ticks) : string.CompareOrdinal(a.Id, b.Id));
        var list = new List<InFlightRequest>(ids.Count);
        using var one = connection.CreateCommand();
        one.CommandText = SelectOne;
        var id = one.Parameters.Add("$id", SqliteType.Text);
        foreach (var (_, requestId) in ids)
        {
            id.Value = requestId;
            using var reader = one.ExecuteReader();
            list.AddRange(ReadAll(reader));
        }

        return list;
    }

    /// <summary>How many requests in the journal are not among <paramref name="settled"/> (ids only: no body is read).</summary>
    public int CountOpen(IReadOnlySet<string> settled)
    {
        using var oneCall = gate.EnterScope();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT request_id FROM inflight";
        using var reader = command.ExecuteReader();
        var open = 0;
        while (reader.Read())
        {
            open += settled.Contains(reader.GetString(0)) ? 0 : 1;
        }

        return open;
    }

    public void Delete(IEnumerable<string> requestIds)
    {
        using var oneCall = gate.EnterScope();
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "DELETE FROM inflight WHERE request_id = $id";
        var id = command.Parameters.Add("$id", SqliteType.Text);
        foreach (var requestId in requestIds)
        {
            id.Value = requestId;
            command.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    /// <summary>
    /// Gives the file back the space of the requests it no longer holds (SQLite keeps freed pages for reuse: a run of
    /// 100,000 deliveries leaves about 5 MB of them). Only with no transaction open (a log store's compaction).
    /// </summary>
    public void Vacuum()
    {
        using var oneCall = gate.EnterScope();
        using var command = connection.CreateCommand();
        command.CommandText = "VACUUM;";
        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        using var oneCall = gate.EnterScope();
        connection.Dispose();
    }

    // The row, shared with the store's own in-flight table.
    internal const string Table =
        "CREATE TABLE IF NOT EXISTS inflight (request_id TEXT PRIMARY KEY, input_name TEXT NOT NULL, body BLOB NOT NULL, batches BLOB NOT NULL, created_ticks INTEGER NOT NULL) WITHOUT ROWID;";

    internal const string Insert = "INSERT OR REPLACE INTO inflight (request_id, input_name, body, batches, created_ticks) VALUES ($id, $i, $b, $bs, $t)";

    internal const string Select = "SELECT request_id, input_name, body, batches, created_ticks FROM inflight ORDER BY created_ticks, request_id";

    private const string SelectOne = "SELECT request_id, input_name, body, batches, created_ticks FROM inflight WHERE request_id = $id";

    internal static (string Name, object? Value)[] Parameters(InFlightRequest request) =>
    [
        ("$id", request.RequestId), ("$i", request.InputName), ("$b", request.Body),
        ("$bs", JsonSerializer.SerializeToUtf8Bytes(request.Batches.ToList(), RelayJsonContext.Default.ListInFlightBatch)), ("$t", request.CreatedAt.UtcTicks),
    ];

    internal static List<InFlightRequest> ReadAll(SqliteDataReader reader, IReadOnlySet<string>? except = null)
    {
        var list = new List<InFlightRequest>();
        while (reader.Read())
        {
            if (except is not null && except.Contains(reader.GetString(0)))
            {
                continue;
            }

            list.Add(new InFlightRequest(reader.GetString(0), reader.GetString(1), (byte[])reader[2],
                JsonSerializer.Deserialize((byte[])reader[3], RelayJsonContext.Default.ListInFlightBatch) ?? [],
                new DateTimeOffset(reader.GetInt64(4), TimeSpan.Zero)));
        }

        return list;
    }
}
