using CtMparticle.Storage;
using Microsoft.Azure.Functions.Worker;

namespace CtMparticle.Functions;

/// <summary>Forgets dedupe records past the retention (setting RetentionSchedule, default daily at 03:15).</summary>
internal sealed class DedupeRetention(RetentionJob job)
{
    [Function(nameof(DedupeRetention))]
    public Task Run([TimerTrigger("%RetentionSchedule%")] TimerInfo timer, CancellationToken cancellationToken) =>
        job.RunAsync(cancellationToken);
}
