using CtMparticle.Configuration;
using CtMparticle.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Storage;

/// <summary>Forgets dedupe records older than the retention (Relay:DedupeRetentionDays).</summary>
internal sealed class RetentionJob(IEventStore events, IOptions<RelayOptions> options, TimeProvider time, ILogger<RetentionJob> logger)
{
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow().AddDays(-options.Value.DedupeRetentionDays);
        var purged = await events.PurgeSeenAsync(cutoff, cancellationToken).ConfigureAwait(false);
        RelayLog.Purged(logger, purged, cutoff);
        return purged;
    }
}
