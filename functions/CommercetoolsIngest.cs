using CtMparticle.Pipeline;
using CtMparticle.Storage.Azure;
using Microsoft.Azure.Functions.Worker;

namespace CtMparticle.Functions;

/// <summary>
/// The commercetools subscription's messages, in batches, bound as bytes so a quarantined body is exactly what Service
/// Bus delivered (a string binding would already have decoded, and possibly mangled, it). A bad message, and a failure
/// of the relay on one message, is quarantined or filtered and completed with the batch; only a transient
/// infrastructure failure throws, so the batch is redelivered (harmlessly: every step is idempotent).
/// The batch's table writes wait in one write-behind batch and go as entity-group transactions before the messages
/// are completed (docs/performance.md, "Storage transactions on Azure"); a batch that throws wrote none of them.
/// </summary>
internal sealed class CommercetoolsIngest(IngestPipeline pipeline, TableWriteBehind writeBehind)
{
    [Function(nameof(CommercetoolsIngest))]
    public async Task Run(
        [ServiceBusTrigger("%CommercetoolsTopic%", "%CommercetoolsSubscription%", Connection = "ServiceBusConnection", IsBatched = true)] byte[][] messages,
        FunctionContext context,
        CancellationToken cancellationToken)
    {
        using var writes = writeBehind.Begin();
        foreach (var delivery in ServiceBusBatch.Read(messages, context))
        {
            await pipeline.IngestAsync(delivery, cancellationToken).ConfigureAwait(false);
        }

        await writes.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
