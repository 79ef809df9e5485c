using System.Text.Json;
using CsCheck;
using CtMparticle.Consent;
using CtMparticle.Embedded;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using CtMparticle.Tracking;
using Microsoft.Extensions.Time.Testing;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The log's snapshots for a push beside the ingest (ADR 0007, step 5) against SQLite's (a read transaction on a
/// second connection) as the oracle: while a snapshot is open, the writer merges consent, records, sees again,
/// changes and forgets links (a customer's deletion, retention), in and out of batches, with rollbacks; reads as of
/// the snapshot must give what SQLite's snapshot gives, and the writer's own reads what SQLite's writer gives. A
/// snapshot begins right after a commit, as the relay takes it; the log refuses one while a batch has uncommitted writes.
/// </summary>
public sealed class LogSnapshotTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 12, 4, 9, 0, 0, TimeSpan.Zero);
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-log-snapshot-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    private enum Op { Merge, Link, SeenAgain, SetState, Forget, PurgeLinks, PurgeConsent, Snapshot, EndSnapshot, Wait, Begin, Commit, Rollback, Savepoint, Release, RollbackTo, Crash, Compact }

    [Fact]
    public async Task ReadsAsOfTheSnapshot_WhileTheWriterChangesAndForgets_AnswerAsSqlitesSnapshotDoes()
    {
        var gen = Gen.Select(Gen.Enum<Op>(), Gen.Int[0, 2], Gen.Int[0, 2], Gen.Int[0, 7]).Array[1, 60];
        var runs = 0;
        await gen.SampleAsync(async operations =>
        {
            var directory = Path.Combine(work, $"run-{Interlocked.Increment(ref runs)}");
            var time = new FakeTimeProvider(Start);
            var oracleFile = Path.Combine(directory, "oracle", "state.db");
            await using var oracle = SqliteStore.Open(oracleFile, time);
            await using var reader = SqliteStore.OpenReader(oracleFile, time, 16);
            using var stores = new OracleRun(oracle, Path.Combine(directory, "log"), time);
            (ISnapshotReads Oracle, ISnapshotReads Log)? open = null;
            foreach (var (op, customer, identifier, arg) in operations)
            {
                var at = time.GetUtcNow().AddMinutes(arg - 3);
                var link = new IdentityLink($"c-{customer}", "email", $"e-{identifier}", Guid.Empty, at, at, LinkState.Active, "rules-1");
                switch (op)
                {
                    case Op.Merge:
                        var consent = new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(arg % 2 == 0, at) });
                        await oracle.MergeAsync(User(customer), consent, null, default);
                        await stores.Log.Consent.MergeAsync(User(customer), consent, null, default);
                        break;
                    case Op.Link:
                        await oracle.RecordAsync(link, default);
                        await stores.Log.Links.RecordAsync(link, default);
                        break;
                    case Op.SeenAgain:
                        await oracle.SeenAgainAsync(link, at.AddMinutes(10), default);
                        await stores.Log.Links.SeenAgainAsync(link, at.AddMinutes(10), default);
                        break;
                    case Op.SetState:
                        var state = arg % 2 == 0 ? LinkState.Conflicted : LinkState.Active;
                        await oracle.SetStateAsync(link, state, $"rules-{arg}", default);
                        await stores.Log.Links.SetStateAsync(link, state, $"rules-{arg}", default);
                        break;
                    case Op.Forget:
                        Assert.Equal(await oracle.ForgetCustomerAsync(link.CustomerId, default), await stores.Log.Links.ForgetCustomerAsync(link.CustomerId, default));
                        break;
                    case Op.PurgeLinks:
                        Assert.Equal(await oracle.PurgeOlderThanAsync(at, default), await stores.Log.Links.PurgeOlderThanAsync(at, default));
                        break;
                    case Op.PurgeConsent:
                        Assert.Equal(await oracle.PurgeConsentOlderThanAsync(at, _ => false, default), await stores.Log.Consent.PurgeConsentOlderThanAsync(at, _ => false, default));
                        break;
                    case Op.Snapshot when stores.InBatch && arg % 2 == 0 && stores.Log.Core.Log.End != stores.Log.Core.Log.CommittedEnd:
                        await Assert.ThrowsAsync<InvalidOperationException>(() => stores.Log.OpenPushSnapshots().BeginAsync(default)); // only right after a commit
                        break;
                    case Op.Snapshot:
                        await stores.BatchStepAsync("Commit"); // as the relay takes it: right after the writer committed
                        await EndAsync();
                        open = (await new SqlitePushSnapshots(oracle, reader).BeginAsync(default), await stores.Log.OpenPushSnapshots().BeginAsync(default));
                        break;
                    case Op.EndSnapshot:
                        await EndAsync();
                        break;
                    case Op.Wait:
                        time.Advance(TimeSpan.FromMinutes(arg + 1));
                        break;
                    case Op.Crash or Op.Compact:
                        await EndAsync(); // the process's snapshot ends with it (a compaction closes the store)
                        await stores.BatchStepAsync(op.ToString());
                        break;
                    default:
                        await stores.BatchStepAsync(op.ToString());
                        break;
                }

                if (open is { } snapshots)
                {
                    Assert.Equal(await ReadAsync(snapshots.Oracle), await ReadAsync(snapshots.Log));
                }

                Assert.Equal(await ReadAsync(new Now(oracle)), await ReadAsync(new Now(stores.Log)));
            }

            await EndAsync();

            async Task EndAsync()
            {
                if (open is { } snapshots)
                {
                    await snapshots.Oracle.DisposeAsync();
                    await snapshots.Log.DisposeAsync();
                    open = null;
                }
            }
        }, iter: 300);
    }

    [Fact]
    public async Task OneSnapshotAtATime_ASecondIsRefused_AndTheNextAfterTheFirstEndedSeesTheWritesSince()
    {
        using var store = LogStore.Open(Path.Combine(work, "one"), TimeProvider.System, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);
        var consent = new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(true, Start) });
        var snapshots = store.OpenPushSnapshots();
        await using (await snapshots.BeginAsync(default))
        {
            await store.Consent.MergeAsync("customer:c-1", consent, null, default);
            await Assert.ThrowsAsync<InvalidOperationException>(() => snapshots.BeginAsync(default));
        }

        await using var next = await snapshots.BeginAsync(default);
        Assert.NotNull(await next.GetAsync("customer:c-1", default));
    }

    /// <summary>
    /// A push reads a window's customers and identifiers a few per hold of the lock (<see cref="LogLinkStore.ReadsPerHold"/>),
    /// letting the writer in between: what it reads is still the snapshot's, however much the writer forgets, records
    /// and sees again meanwhile.
    /// </summary>
    [Fact]
    public async Task ReadsOfManyCustomers_HeldAFewAtATime_WhileTheWriterForgetsAndRecordsThem_AreTheSnapshots()
    {
        var time = new FakeTimeProvider(Start);
        using var store = LogStore.Open(Path.Combine(work, "many"), time, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);
        const int Customers = LogLinkStore.ReadsPerHold * 6 + 5;
        var customers = Enumerable.Range(0, Customers).Select(c => $"c-{c}").ToArray();
        var identifiers = Enumerable.Range(0, Customers).Select(c => ("email", $"e-{c % 40}")).Distinct().ToArray();
        foreach (var customer in customers)
        {
            for (var e = 0; e < 2; e++)
            {
                var at = Start.AddMinutes(e);
                await store.Links.RecordAsync(new IdentityLink(customer, "email", $"e-{(customer.Length * 7 + e * 13 + customers.Length) % 40}", Guid.Empty, at, at, LinkState.Active, "rules-1"), default);
            }
        }

        var expectedCustomers = Text(await store.Links.ByCustomersAsync(customers, default));
        var expectedIdentifiers = Text(await store.Links.ByIdentifiersAsync(identifiers, default));
        var snapshots = store.OpenPushSnapshots();
        await using var snapshot = await snapshots.BeginAsync(default);
        using var reading = new CancellationTokenSource();
        var writes = 0;
        await store.BeginBatchAsync(default); // as the relay's writer does beside the push: one batch, committed after it
        var writer = Task.Run(async () =>
        {
            for (var round = 0; !reading.IsCancellationRequested || round < 3; round++)
            {
                foreach (var customer in customers)
                {
                    var at = Start.AddHours(1 + round);
                    await store.Links.ForgetCustomerAsync(customer, default);
                    await store.Links.RecordAsync(new IdentityLink(customer, "email", $"e-new-{round}", Guid.Empty, at, at, LinkState.Active, "rules-2"), default);
                    Interlocked.Increment(ref writes);
                }
            }
        });

        for (var read = 0; read < 20; read++)
        {
            Assert.Equal(expectedCustomers, Text(await snapshot.ByCustomersAsync(customers, default)));
            Assert.Equal(expectedIdentifiers, Text(await snapshot.ByIdentifiersAsync(identifiers, default)));
        }

        await reading.CancelAsync();
        await writer;
        await snapshot.DisposeAsync();
        await store.CommitBatchAsync(default);
        Assert.True(writes >= 3 * Customers);
        Assert.NotEqual(expectedCustomers, Text(await store.Links.ByCustomersAsync(customers, default))); // the writer's own reads see its writes
    }

    private static string Text<TKey>(IReadOnlyDictionary<TKey, IReadOnlyList<IdentityLink>> links)
        where TKey : notnull =>
        string.Join("\n", links.OrderBy(l => l.Key.ToString(), StringComparer.Ordinal)
            .Select(l => $"{l.Key}: {string.Join(", ", l.Value.Select(v => $"{v.CustomerId}/{v.Type}/{v.Value}/{v.State}/{v.LastSeen.UtcTicks}"))}"));

    [Fact]
    public async Task ASavepointRolledBackAfterAForgetting_LeavesTheSnapshotReadingWhatWasCommitted()
    {
        // After a savepoint the batch changes a user's consent and then purges it; going back to the savepoint drops both
        // records, so the snapshot has no removal left to follow: the purged record's address is given again, here to a
        // record of another kind.
        var time = new FakeTimeProvider(Start);
        using var store = LogStore.Open(Path.Combine(work, "savepoint"), time, tailBytes: LogTests.SmallTail, spillAt: LogTests.SmallSpill);
        var consent = new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(true, Start) });
        await store.Consent.MergeAsync(User(1), consent, null, default);
        await using var snapshot = await store.OpenPushSnapshots().BeginAsync(default);
        var committed = await ReadAsync(snapshot);

        await store.BeginBatchAsync(default);
        await store.SavepointAsync("request1", default);
        time.Advance(TimeSpan.FromMinutes(5));
        await store.Consent.MergeAsync(User(1), new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(false, time.GetUtcNow()) }), null, default);
        Assert.Equal(1, await store.Consent.PurgeConsentOlderThanAsync(time.GetUtcNow().AddMinutes(1), _ => false, default));
        await store.RollbackToSavepointAsync("request1", default);
        Assert.Equal(committed, await ReadAsync(snapshot));

        await store.Links.RecordAsync(new IdentityLink("c-2", "email", "e-2", Guid.Empty, Start, Start, LinkState.Active, "rules-1"), default);
        await store.CommitBatchAsync(default);
        Assert.Equal(committed, await ReadAsync(snapshot));
        Assert.True((await store.Consent.GetAsync(User(1), default))!.Consent.Gdpr["analytics"].Consented);
    }

    private static string User(int customer) => $"customer:c-{customer}";

    /// <summary>Every user's consent and every customer's and identifier's links, as text.</summary>
    private static async Task<string> ReadAsync(ISnapshotReads reads)
    {
        var text = new List<string>();
        for (var i = 0; i <= 2; i++)
        {
            var state = await reads.GetAsync(User(i), default);
            text.Add(state is null ? "none" : $"{JsonSerializer.Serialize(state.Consent, RelayJsonContext.Default.ConsentSnapshot)} {state.UpdatedAt.UtcTicks}");
        }

        var customers = await reads.ByCustomersAsync(["c-0", "c-1", "c-2"], default);
        var identifiers = await reads.ByIdentifiersAsync([("email", "e-0"), ("email", "e-1"), ("email", "e-2")], default);
        text.AddRange(customers.OrderBy(p => p.Key, StringComparer.Ordinal).Concat(identifiers.OrderBy(p => p.Key.Value, StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(p.Key.Value, p.Value))).Select(p => $"{p.Key}: {string.Join(", ", p.Value.Select(Text))}"));
        return string.Join("\n", text);
    }

    private static string Text(IdentityLink link) =>
        $"{link.CustomerId}/{link.Type}/{link.Value} {link.FirstSeen.UtcTicks}-{link.LastSeen.UtcTicks} {link.State} {link.RulesVersion}";

    /// <summary>A store's current state read through the snapshot's questions (the writer's own view).</summary>
    private sealed class Now(IEmbeddedStore store) : ISnapshotReads
    {
        public Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken) => store.Events.ReadPendingAsync(max, cancellationToken);

        public Task<PendingStats> PendingStatsAsync(CancellationToken cancellationToken) => store.Events.PendingStatsAsync(cancellationToken);

        public Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken) => store.Consent.GetAsync(userKey, cancellationToken);

        public Task<IReadOnlyDictionary<(string Type, string Value), IReadOnlyList<IdentityLink>>> ByIdentifiersAsync(
            IReadOnlyCollection<(string Type, string Value)> identifiers, CancellationToken cancellationToken) => store.Links.ByIdentifiersAsync(identifiers, cancellationToken);

        public Task<IReadOnlyDictionary<string, IReadOnlyList<IdentityLink>>> ByCustomersAsync(IReadOnlyCollection<string> customerIds, CancellationToken cancellationToken) =>
            store.Links.ByCustomersAsync(customerIds, cancellationToken);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
