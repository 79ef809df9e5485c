using System.Globalization;
using System.Text.Json;
using CtMparticle.Configuration;
using CtMparticle.Consent;
using CtMparticle.Identity;
using CtMparticle.Storage;
using CtMparticle.Tracking;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Sources.Commercetools;

/// <summary>What a reconciliation run did.</summary>
internal sealed record ReconcileReport(int CustomersRead, int Changed, int Unchanged, int EventsStored, int Withdrawn, DateTimeOffset? Checkpoint);

/// <summary>
/// Scheduled consent reconciliation: consent that changed in commercetools reaches mParticle even when no message
/// did (custom type replaced, subscription paused, backfill). Reads customers modified since the checkpoint (with an
/// overlap), compares their consent fields with the stored state, stores a consent update for every real change
/// (one event per customer version, so a rerun sends nothing twice), withdraws pending events that no longer pass
/// the gate, and moves the checkpoint only after all of that is durable.
/// </summary>
internal sealed partial class ConsentReconciler(
    CommercetoolsClient client,
    IConsentStore consent,
    IEventStore events,
    ICheckpointStore checkpoints,
    ConsentRules rules,
    IOptions<MappingOptions> mapping,
    IOptions<MParticleOptions> routing,
    IOptions<CommercetoolsOptions> commercetools,
    IOptions<PushOptions> push,
    TimeProvider time,
    ILogger<ConsentReconciler> logger)
{
    public const string CheckpointName = "consent-reconciliation";

    /// <summary>Customers re-read before the checkpoint: query results are not strongly consistent with recent writes.</summary>
    public static readonly TimeSpan Overlap = TimeSpan.FromMinutes(5);

    /// <summary>False without <c>Commercetools:ProjectKey</c>: a run then reads nothing and reports so.</summary>
    public bool IsConfigured => client.IsConfigured;

    public async Task<ReconcileReport> RunAsync(int pageSize, CancellationToken cancellationToken)
    {
        if (!client.IsConfigured)
        {
            ReconcileLog.NotConfigured(logger);
            return new ReconcileReport(0, 0, 0, 0, 0, null);
        }

        var (since, _) = Parse(await checkpoints.GetAsync(CheckpointName, cancellationToken).ConfigureAwait(false));
        var cursor = (At: since - Overlap, Id: "");
        var newest = (At: since, Id: "");
        int read = 0, changed = 0, unchanged = 0, stored = 0;
        var changedUsers = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            var page = await client.QueryCustomersModifiedSinceAsync(cursor.At, cursor.Id, pageSize, cancellationToken).ConfigureAwait(false);
            if (page.Value is not { } customers)
            {
                // Nothing moves on a failure: the checkpoint stays, and the next run tries again.
                throw page.Transient
                    ? new HttpRequestException($"commercetools is unavailable: {page.Problem}")
                    : new InvalidOperationException($"Consent reconciliation cannot read customers: {page.Problem}");
            }

            foreach (var customer in customers.Results)
            {
                read++;
                var modified = customer.LastModifiedAt ?? customer.CreatedAt ?? time.GetUtcNow();
                var userKey = UserKeys.Customer(customer.Id);
                var current = ConsentReader.FromCustomFields(customer.Custom?.Fields, mapping.Value.Consent, modified, absentMeansWithdrawn: true);
                var storedState = await consent.GetAsync(userKey, cancellationToken).ConfigureAwait(false);
                var difference = Difference(storedState?.Consent, current);
                if (difference.IsEmpty)
                {
                    unchanged++;
                }
                else
                {
                    var region = RegionOf(customer) ?? storedState?.Region;
                    var key = $"{commercetools.Value.ProjectKey}/customer/{customer.Id}/consent/v{customer.Version.ToString(CultureInfo.InvariantCulture)}";
                    var update = new ConsentUpdated(
                        new EventContext(Uuid5.ForEvent(key), key, modified, EventSource.Commercetools, key, customer.Stores?.FirstOrDefault()?.Key,
                            region, new UserIds(customer.Id, customer.Email), difference),
                        difference.Purposes);

                    // The event first (idempotent by customer version), then the state: a crash between them redoes both.
                    if (await events.TryAddAsync(update, key, cancellationToken).ConfigureAwait(false) != AddResult.Duplicate)
                    {
                        stored++;
                    }

                    await consent.MergeAsync(userKey, difference, region, cancellationToken).ConfigureAwait(false);
                    changedUsers.Add(userKey);
                    changed++;
                }

                if (modified > newest.At || (modified == newest.At && string.CompareOrdinal(customer.Id, newest.Id) > 0))
                {
                    newest = (modified, customer.Id);
                }
            }

            if (customers.Count < pageSize || customers.Results.Count == 0)
            {
                break;
            }

            var last = customers.Results[^1];
            cursor = (last.LastModifiedAt ?? cursor.At, last.Id);
        }

        var withdrawn = changedUsers.Count == 0 ? 0 : await WithdrawAsync(changedUsers, cancellationToken).ConfigureAwait(false);
        await checkpoints.SetAsync(CheckpointName, Format(newest.At, newest.Id), cancellationToken).ConfigureAwait(false);
        ReconcileLog.Reconciled(logger, read, changed, stored, withdrawn);
        return new ReconcileReport(read, changed, unchanged, stored, withdrawn, newest.At);
    }

    /// <summary>The purposes whose consented value differs from the stored one, stamped to win over the stored state.</summary>
    private static ConsentSnapshot Difference(ConsentSnapshot? stored, ConsentSnapshot current)
    {
        var gdpr = new Dictionary<string, ConsentPurpose>(StringComparer.Ordinal);
        foreach (var (purpose, state) in current.Gdpr)
        {
            ConsentPurpose? before = null;
            if (stored?.Gdpr.TryGetValue(purpose, out var known) == true)
            {
                before = known;
            }

            if (before?.Consented != state.Consented)
            {
                gdpr[purpose] = Stamp(state, before);
            }
        }

        var ccpa = current.CcpaDataSaleOptOut is { } now && stored?.CcpaDataSaleOptOut?.Consented != now.Consented
            ? Stamp(now, stored?.CcpaDataSaleOptOut)
            : null;
        return new ConsentSnapshot(gdpr, ccpa);
    }

    // commercetools is the source of truth: its state must not lose a merge against an older stored timestamp.
    private static ConsentPurpose Stamp(ConsentPurpose state, ConsentPurpose? before) =>
        before is not null && before.At >= state.At ? state with { At = before.At.AddMilliseconds(1) } : state;

    private async Task<int> WithdrawAsync(HashSet<string> users, CancellationToken cancellationToken)
    {
        var withdraw = new List<PendingEventKey>();
        foreach (var pending in await events.ReadPendingAsync(push.Value.MaxEventsPerRun, cancellationToken).ConfigureAwait(false))
        {
            var trackingEvent = JsonSerializer.Deserialize(pending.Json, RelayJsonContext.Default.TrackingEvent);
            if (trackingEvent is null || UserKeys.Of(trackingEvent.Context.User) is not { } key || !users.Contains(key))
            {
                continue;
            }

            var state = await consent.GetAsync(key, cancellationToken).ConfigureAwait(false);
            if (!ConsentGate.Decide(trackingEvent, state, rules, routing.Value.DefaultCountry).Allowed)
            {
                withdraw.Add(pending.Key);
            }
        }

        if (withdraw.Count > 0)
        {
            await events.RemovePendingAsync(withdraw, EventFate.Withdrawn, cancellationToken).ConfigureAwait(false);
        }

        return withdraw.Count;
    }

    private static Region? RegionOf(CtCustomer customer)
    {
        var address = customer.Addresses?.FirstOrDefault(a => a.Id is not null && a.Id == customer.DefaultBillingAddressId) ?? customer.Addresses?.FirstOrDefault();
        return address is null ? null : PurchaseMapper.RegionOf(address);
    }

    private static (DateTimeOffset At, string Id) Parse(string? checkpoint)
    {
        if (checkpoint is not null && checkpoint.Split('|') is [var ticks, var id] && long.TryParse(ticks, CultureInfo.InvariantCulture, out var t))
        {
            return (new DateTimeOffset(t, TimeSpan.Zero), id);
        }

        return (DateTimeOffset.UnixEpoch + Overlap, "");
    }

    private static string Format(DateTimeOffset at, string id) => string.Create(CultureInfo.InvariantCulture, $"{at.UtcTicks}|{id}");

    private static partial class ReconcileLog
    {
        [LoggerMessage(4002, LogLevel.Information, "Consent reconciliation skipped: the commercetools API is not configured (Commercetools:ProjectKey)")]
        public static partial void NotConfigured(ILogger logger);

        [LoggerMessage(4001, LogLevel.Information, "Consent reconciliation: {Read} customer(s) read, {Changed} changed, {Stored} update(s) stored, {Withdrawn} pending event(s) withdrawn")]
        public static partial void Reconciled(ILogger logger, int read, int changed, int stored, int withdrawn);
    }
}
