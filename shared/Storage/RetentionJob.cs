using CtMparticle.Configuration;
using CtMparticle.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Storage;

/// <summary>
/// Forgets events quarantined at push once their records' retention is over (Relay:QuarantineRetentionDays), then
/// dedupe records older than Relay:DedupeRetentionDays, except those of events still pending, in flight or parked, and
/// identity links not seen for Relay:IdentityLinkRetentionDays (identity decisions go with the dedupe records).
/// </summary>
internal sealed class RetentionJob(IEventStore events, IIdentityLinkStore links, IOptions<RelayOptions> options, TimeProvider time, ILogger<RetentionJob> logger)
{
    public async Task<int> RunAsync(CancellationToken cancellationToken)
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
        return purged;
    }
}
