using CtMparticle.Hosting;
using CtMparticle.Pipeline;
using Microsoft.Azure.Functions.Worker;

namespace CtMparticle.Functions;

/// <summary>
/// The commercetools subscription's messages, in batches, bound as bytes so a quarantined body is exactly what Service
/// Bus delivered (a string binding would already have decoded, and possibly mangled, it). A bad message, and a failure
/// of the relay on one message, is quarantined or filtered and completed with the batch; only a transient
/// infrastructure failure throws, so the batch is redelivered (harmlessly: every step is idempotent).
/// Each batch writes behind (<see cref="WriteBehindIngest"/>): its table writes go as entity-group transactions before
/// the messages are completed (docs/performance.md, "Storage transactions on Azure"); a batch that throws wrote none of
/// them and counted none of its outcomes in the metrics; a message whose outcome the flush found wrong (an event it
/// took as new was another message's) is settled again at once, and counted once.
/// </summary>
internal sealed class CommercetoolsIngest(IngestPipeline pipeline, IBatchSettler batches)
{
    [Function(nameof(CommercetoolsIngest))]
    public async Task Run(
        [ServiceBusTrigger("%CommercetoolsTopic%", "%CommercetoolsSubscription%", Connection = "ServiceBusConnection", IsBatched = true)] byte[][] messages,
        FunctionContext context,
        CancellationToken cancellationToken) =>
        await batches.SettleAsync(ServiceBusBatch.Read(messages, context), pipeline.IngestAsync, cancellationToken).ConfigureAwait(false);
}
