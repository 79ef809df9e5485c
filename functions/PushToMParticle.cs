using CtMparticle.Delivery;
using Microsoft.Azure.Functions.Worker;

namespace CtMparticle.Functions;

/// <summary>Sends pending events to mParticle on a schedule (setting PushSchedule, default every 30 seconds).</summary>
internal sealed class PushToMParticle(PushPipeline pipeline)
{
    [Function(nameof(PushToMParticle))]
    public Task Run([TimerTrigger("%PushSchedule%")] TimerInfo timer, CancellationToken cancellationToken) =>
        pipeline.PushAsync(cancellationToken);
}
