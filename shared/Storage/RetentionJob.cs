using CtMparticle.Configuration;
using CtMparticle.Consent;
using CtMparticle.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Storage;

/// <summary>
/// Forgets events quarantined at push once their records' retention is over (Relay:QuarantineRetentionDays), then
/// dedupe records older than Relay:DedupeRetentionDays, except those of events still pending, in flight or parked, and
/// identity links not seen for Relay:IdentityLinkRetentionDays (identity decisions go with the dedupe records), order
/// contexts not saved for Relay:OrderContextRetentionDays, and consent states not changed for Relay:ConsentRetentionDays
/// (but those that refuse something).
/// </summary>
internal sealed class RetentionJob(
    IEventStore events, IIdentityLinkStore links, IOrderContextStore orders, IConsentStore consent, IOptions<RelayOptions> options, TimeProvider time, ILogger<RetentionJob> logger)
{
    public async Task<RetentionResult> RunAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var parkedCutoff = now.AddDays(-options.Value.QuarantineRetentionDays);
        var parked = await events.PurgeParkedAsync(parkedCutoff, cancellationToken).ConfigureAwait(false);
        RelayLog.ParkedPurged(logger, parked, parkedCutoff);
        var cutoff = now.AddDays(-options.Value.DedupeRetentionDays);
        var purged = await events.PurgeSeenAsync(cutoff, cancellationToken).ConfigureAwait(false);
        RelayLog.Purged(logger, purged, cutoff);
        var linkCutoff = now.AddDays(-options.Value.IdentityLinkRetentionDays);
        var forgotten = await links.PurgeOlderThanAsync(linkCutoff, cancellationToken).ConfigureAwait(false);
        RelayLog.LinksPurged(logger, forgotten, linkCutoff);
        // An event's identity decision is kept as long as its id is remembered for dedupe.
        var decisions = await links.PurgeDecisionsOlderThanAsync(cutoff, cancellationToken).ConfigureAwait(false);
        RelayLog.DecisionsPurged(logger, decisions, cutoff);
        // Personal data kept for later messages: order contexts and consent states, each after its own lifetime.
        var orderCutoff = now.AddDays(-options.Value.OrderContextRetentionDays);
        var orderContexts = await orders.PurgeOrdersOlderThanAsync(orderCutoff, cancellationToken).ConfigureAwait(false);
        RelayLog.PersonalDataPurged(logger, "order context", orderContexts, orderCutoff);
        var consentCutoff = now.AddDays(-options.Value.ConsentRetentionDays);
        var consentStates = await consent.PurgeConsentOlderThanAsync(consentCutoff, KeepsARefusal, cancellationToken).ConfigureAwait(false);
        RelayLog.PersonalDataPurged(logger, "consent state", consentStates, consentCutoff);
        return new RetentionResult(parked, purged, forgotten, decisions, orderContexts, consentStates);
    }

    /// <summary>A state that refuses a purpose or opts out of sale is kept: forgetting it would let the user's events go again.</summary>
    public static bool KeepsARefusal(UserConsent state) =>
        state.Consent.Gdpr.Values.Any(p => !p.Consented) || state.Consent.CcpaDataSaleOptOut is { Consented: true };
}

/// <summary>What one run of <see cref="RetentionJob"/> forgot, by kind.</summary>
/// <param name="Parked">Events quarantined at push whose records' retention ended.</param>
/// <param name="Seen">Dedupe records.</param>
/// <param name="Links">Identity links.</param>
/// <param name="Decisions">Identity decisions (kept as long as their events' dedupe records).</param>
/// <param name="Orders">Order contexts.</param>
/// <param name="Consent">Consent states.</param>
internal sealed record RetentionResult(int Parked, int Seen, int Links, int Decisions, int Orders, int Consent);
