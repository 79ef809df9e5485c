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
internal sealed record ReconcileReport(int CustomersRead, int Changed, int Unchanged, int EventsStored, int Withdrawn, DateTimeOffset? Checkpoint)
{
    /// <summary>False when the run stopped at its page budget and the next run continues from the checkpoint.</summary>
    public bool Complete { get; init; } = true;
}

/// <summary>
/// Scheduled consent reconciliation: consent that changed in commercetools reaches mParticle even when no message
/// did (custom type replaced, subscription paused, backfill). Reads customers modified since the checkpoint (with an
/// overlap), compares their consent fields with the stored state (the newer state wins; an absent field says
/// nothing), stores a consent update for every real change (one event per customer version, so a rerun sends nothing
/// twice), withdraws pending events that no longer pass the gate (never ones inside an in-flight request), and moves
/// the checkpoint after every page, once that page is durable.
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

    /// <summary>Pages per run: a first run over a large customer base continues in the next timer run, from the checkpoint.</summary>
    public const int MaxPagesPerRun = 200;

    public async Task<ReconcileReport> RunAsync(int pageSize, CancellationToken cancellationToken, int maxPages = MaxPagesPerRun)
    {
        if (!client.IsConfigured)
        {
            ReconcileLog.NotConfigured(logger);
            return new ReconcileReport(0, 0, 0, 0, 0, null);
        }

        // After a complete run, re-read the last few minutes (queries lag recent writes); after a run cut at its page
        // budget, go on exactly where it stopped, or a budget smaller than the overlap would never get further.
        var (since, afterId, partial) = Parse(await checkpoints.GetAsync(CheckpointName, cancellationToken).ConfigureAwait(false));
        var cursor = partial ? (At: since, Id: afterId) : (At: since - Overlap, Id: "");
        DateTimeOffset? checkpoint = null;
        int read = 0, changed = 0, unchanged = 0, stored = 0, withdrawn = 0;
        var complete = false;
        for (var pages = 0; pages < maxPages; pages++)
        {
            var page = await client.QueryCustomersModifiedSinceAsync(cursor.At, cursor.Id, pageSize, cancellationToken).ConfigureAwait(false);
            if (page.Value is not { } customers)
            {
                // Nothing moves on a failure: the checkpoint stays at the last finished page, and the next run goes on from there.
                throw page.RetryLater
                    ? new TransientFailureException($"commercetools cannot be read now: {page.Problem}")
                    : new InvalidOperationException($"Consent reconciliation cannot read customers: {page.Problem}");
            }

            var changedUsers = new HashSet<string>(StringComparer.Ordinal);
            foreach (var customer in customers.Results)
            {
                read++;
                if (await ReconcileAsync(customer, cancellationToken).ConfigureAwait(false) is not { } outcome)
                {
                    unchanged++;
                    continue;
                }

                changed++;
                stored += outcome.Stored ? 1 : 0;
                changedUsers.Add(outcome.UserKey);
            }

            withdrawn += changedUsers.Count == 0 ? 0 : await WithdrawAsync(changedUsers, cancellationToken).ConfigureAwait(false);
            if (customers.Results.Count > 0)
            {
                // After every page, once what it changed is durable: a run cut short (the function's timeout) loses one page at most.
                var last = customers.Results[^1];
                cursor = (last.LastModifiedAt ?? cursor.At, last.Id);
                complete = customers.Count < pageSize;
                await checkpoints.SetAsync(CheckpointName, Format(cursor.At, cursor.Id, partial: !complete), cancellationToken).ConfigureAwait(false);
                checkpoint = cursor.At;
            }

            if (customers.Count < pageSize || customers.Results.Count == 0)
            {
                complete = true;
                break;
            }
        }

        ReconcileLog.Reconciled(logger, read, changed, stored, withdrawn, complete);
        return new ReconcileReport(read, changed, unchanged, stored, withdrawn, checkpoint) { Complete = complete };
    }

    /// <summary>One customer: stores a consent update when commercetools holds a newer, different state; null when nothing changed.</summary>
    private async Task<(string UserKey, bool Stored)?> ReconcileAsync(CtCustomer customer, CancellationToken cancellationToken)
    {
        var modified = customer.LastModifiedAt ?? customer.CreatedAt ?? time.GetUtcNow();
        var userKey = UserKeys.Customer(customer.Id);
        // A field the customer has no value for is not a withdrawal: only the purposes the record states are compared.
        var current = ConsentReader.FromCustomFields(customer.Custom?.Fields, mapping.Value.Consent, modified, absentMeansWithdrawn: false);
        var storedState = await consent.GetAsync(userKey, cancellationToken).ConfigureAwait(false);
        var difference = Difference(storedState?.Consent, current);
        if (difference.IsEmpty)
        {
            return null;
        }

        var stated = RegionOf(customer);
        var region = stated ?? storedState?.Region;
        var key = $"{commercetools.Value.ProjectKey}/customer/{customer.Id}/consent/v{customer.Version.ToString(CultureInfo.InvariantCulture)}";
        var update = new ConsentUpdated(
            new EventContext(Uuid5.ForEvent(key), key, modified, EventSource.Commercetools, key, customer.Stores?.FirstOrDefault()?.Key,
                region, new UserIds(customer.Id, customer.Email), difference),
            difference.Purposes);

        // The event first (idempotent by customer version), then the state: a crash between them redoes both.
        var added = await events.TryAddAsync(update, key, cancellationToken).ConfigureAwait(false) != AddResult.Duplicate;
        await consent.MergeAsync(userKey, difference, stated is null ? null : new StatedRegion(stated, modified), cancellationToken).ConfigureAwait(false);
        return (userKey, added);
    }

    /// <summary>
    /// The purposes whose state in commercetools is newer than the stored one and says something else. The newest
    /// wins (ADR 0003): a checkout snapshot given after the customer record was last changed is not overwritten by it.
    /// </summary>
    private static ConsentSnapshot Difference(ConsentSnapshot? stored, ConsentSnapshot current)
    {
        static bool Changes(ConsentPurpose state, ConsentPurpose? before) =>
            before is null || (state.At > before.At && state.Consented != before.Consented);

        var gdpr = new Dictionary<string, ConsentPurpose>(StringComparer.Ordinal);
        foreach (var (purpose, state) in current.Gdpr)
        {
            ConsentPurpose? before = null;
            if (stored?.Gdpr.TryGetValue(purpose, out var known) == true)
            {
                before = known;
            }

            if (Changes(state, before))
            {
                gdpr[purpose] = state;
            }
        }

        var ccpa = current.CcpaDataSaleOptOut is { } now && Changes(now, stored?.CcpaDataSaleOptOut) ? now : null;
        return new ConsentSnapshot(gdpr, ccpa);
    }

    private async Task<int> WithdrawAsync(HashSet<string> users, CancellationToken cancellationToken)
    {
        // Events inside a request already handed to mParticle are not the reconciler's: it may have been accepted.
        var inFlight = (await events.ReadInFlightAsync(cancellationToken).ConfigureAwait(false)).SelectMany(r => r.Events).Select(k => k.EventId).ToHashSet();
        var withdraw = new List<PendingEventKey>();
        foreach (var pending in await events.ReadPendingAsync(push.Value.MaxEventsPerRun, cancellationToken).ConfigureAwait(false))
        {
            if (inFlight.Contains(pending.EventId))
            {
                continue;
            }

            var trackingEvent = pending.Event ?? JsonSerializer.Deserialize(pending.Json, RelayJsonContext.Default.TrackingEvent);
            if (trackingEvent is null || UserKeys.Of(trackingEvent.Context.User) is not { } key || !users.Contains(key))
            {
                continue;
            }

            var state = await consent.GetAsync(key, cancellationToken).ConfigureAwait(false);
            if (!ConsentGate.Decide(trackingEvent, state, rules, routing.Value).Allowed)
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

    /// <summary>The checkpoint: <c>{ticks}|{customer id}</c>, and <c>|partial</c> when the run stopped at its page budget.</summary>
    private static (DateTimeOffset At, string Id, bool Partial) Parse(string? checkpoint)
    {
        if (checkpoint?.Split('|') is [var ticks, var id, ..] parts && long.TryParse(ticks, CultureInfo.InvariantCulture, out var t))
        {
            return (new DateTimeOffset(t, TimeSpan.Zero), id, parts is [_, _, "partial"]);
        }

        return (DateTimeOffset.UnixEpoch + Overlap, "", false);
    }

    private static string Format(DateTimeOffset at, string id, bool partial) =>
        string.Create(CultureInfo.InvariantCulture, $"{at.UtcTicks}|{id}{(partial ? "|partial" : "")}");

    private static partial class ReconcileLog
    {
        [LoggerMessage(4002, LogLevel.Information, "Consent reconciliation skipped: the commercetools API is not configured (Commercetools:ProjectKey)")]
        public static partial void NotConfigured(ILogger logger);

        [LoggerMessage(4001, LogLevel.Information, "Consent reconciliation: {Read} customer(s) read, {Changed} changed, {Stored} update(s) stored, {Withdrawn} pending event(s) withdrawn, complete: {Complete}")]
        public static partial void Reconciled(ILogger logger, int read, int changed, int stored, int withdrawn, bool complete);
    }
}
