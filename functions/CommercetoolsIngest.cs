using CtMparticle.Pipeline;
using Microsoft.Azure.Functions.Worker;

namespace CtMparticle.Functions;

/// <summary>
/// The commercetools subscription's messages, in batches, bound as bytes so a quarantined body is exactly what Service
/// Bus delivered (a string binding would already have decoded, and possibly mangled, it). A bad message, and a failure
/// of the relay on one message, is quarantined or filtered and completed with the batch; only a transient
/// infrastructure failure throws, so the batch is redelivered (harmlessly: every step is idempotent).
/// </summary>
internal sealed class CommercetoolsIngest(IngestPipeline pipeline)
{
    [Function(nameof(CommercetoolsIngest))]
    public async Task Run(
        [ServiceBusTrigger("%CommercetoolsTopic%", "%CommercetoolsSubscription%", Connection = "ServiceBusConnection", IsBatched = true)] byte[][] messages,
        FunctionContext context,
        CancellationToken cancellationToken)
    {
        foreach (var delivery in ServiceBusBatch.Read(messages, context))
        {
            await pipeline.IngestAsync(delivery, cancellationToken).ConfigureAwait(false);
        }
    }
}
