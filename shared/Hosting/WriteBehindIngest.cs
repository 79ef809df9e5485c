using CtMparticle.Pipeline;
using CtMparticle.Storage.Azure;
using CtMparticle.Telemetry;
using Microsoft.Extensions.Logging;

namespace CtMparticle.Hosting;

/// <summary>
/// The ingest of a batch of inputs on Azure Tables (the function app's Service Bus batch), written behind when the
/// batch is large enough to gain by it (<see cref="TableWriteBehind.WorthFor"/>): the inputs are settled one after
/// another into one <see cref="TableWriteBatch"/>, which is flushed at the end, and only then are their outcomes
/// counted in the metrics. An input whose outcome the flush found wrong (an event it took as new had been stored by
/// another input: <see cref="TableWriteBatch.Unsettle"/>) is settled again at once, as a redelivery would be, and
/// counted by that settling alone. A batch that throws wrote nothing and counted nothing; its transport redelivers it.
/// </summary>
internal sealed class WriteBehindIngest(IngestPipeline pipeline, TableWriteBehind writeBehind, RelayMetrics metrics, ILogger<WriteBehindIngest> logger)
{
    /// <summary>Each input's final outcome, in order: written behind when worth it, otherwise each at once.</summary>
    public async Task<IReadOnlyList<IngestOutcome>> IngestAsync(IReadOnlyList<Inbound> inputs, CancellationToken cancellationToken)
    {
        if (writeBehind.WorthFor(inputs.Count))
        {
            return await IngestBehindAsync(inputs, cancellationToken).ConfigureAwait(false);
        }

        var outcomes = new IngestOutcome[inputs.Count];
        for (var i = 0; i < inputs.Count; i++)
        {
            outcomes[i] = await pipeline.IngestAsync(inputs[i], cancellationToken).ConfigureAwait(false);
        }

        return outcomes;
    }

    /// <summary>Each input's final outcome, in order, written behind whatever the batch's size (the tests measure small batches too).</summary>
    public async Task<IReadOnlyList<IngestOutcome>> IngestBehindAsync(IReadOnlyList<Inbound> inputs, CancellationToken cancellationToken)
    {
        var outcomes = new IngestOutcome[inputs.Count];
        var counts = new MetricsHold[inputs.Count];
        IReadOnlySet<string> unsettled;
        using (var writes = writeBehind.Begin())
        {
            for (var i = 0; i < inputs.Count; i++)
            {
                using var held = metrics.Hold();
                outcomes[i] = await pipeline.IngestAsync(inputs[i], cancellationToken).ConfigureAwait(false);
                counts[i] = held;
            }

            await writes.FlushAsync(cancellationToken).ConfigureAwait(false);
            unsettled = writes.Unsettled;
        }

        for (var i = 0; i < inputs.Count; i++)
        {
            if (outcomes[i].Info is { MessageId: { } id } info && unsettled.Contains(id))
            {
                counts[i].Discard();
                RelayLog.SettledAgain(logger, info.MessageType, id);
                outcomes[i] = await pipeline.IngestAsync(inputs[i], cancellationToken).ConfigureAwait(false);
            }
            else
            {
                counts[i].Release();
            }
        }

        return outcomes;
    }
}
