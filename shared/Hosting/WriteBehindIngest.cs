using CtMparticle.Pipeline;
using CtMparticle.Storage.Azure;
using CtMparticle.Telemetry;
using Microsoft.Extensions.Logging;

namespace CtMparticle.Hosting;

/// <summary>
/// The ingest of a batch of inputs on Azure Tables (the function app's Service Bus batch, a collector request's calls),
/// written behind: the inputs are settled one after another into one <see cref="TableWriteBatch"/>, which is flushed at
/// the end, and only then are their outcomes counted in the metrics. Whatever the batch's size this costs no more
/// transactions than writing each input at once (a batch of one: 5.45 per input against 5.59 on Azurite,
/// docs/performance.md), and far fewer in the large batches a backlog brings. An input whose outcome the flush found
/// wrong (an event it took as new had been stored by another input: <see cref="TableWriteBatch.Unsettle"/>) is
/// settled again at once, as a redelivery would be, and counted by that settling alone. A batch that throws wrote
/// nothing and counted nothing.
/// </summary>
internal sealed class WriteBehindIngest(TableWriteBehind writeBehind, RelayMetrics metrics, ILogger<WriteBehindIngest> logger) : IBatchSettler
{
    public async Task<IReadOnlyList<IngestOutcome>> SettleAsync<T>(
        IReadOnlyList<T> inputs, Func<T, CancellationToken, Task<IngestOutcome>> settle, CancellationToken cancellationToken)
    {
        var outcomes = new IngestOutcome[inputs.Count];
        var counts = new MetricsHold[inputs.Count];
        IReadOnlySet<string> unsettled;
        using (var writes = writeBehind.Begin())
        {
            for (var i = 0; i < inputs.Count; i++)
            {
                using var held = metrics.Hold();
                outcomes[i] = await settle(inputs[i], cancellationToken).ConfigureAwait(false);
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
                using var held = metrics.Hold();
                outcomes[i] = await settle(inputs[i], cancellationToken).ConfigureAwait(false);
                counts[i] = held;
            }
        }

        // Counted only now: should settling one again fail (transiently), the transport redelivers the whole batch, and
        // that delivery counts each input once.
        foreach (var held in counts)
        {
            held.Release();
        }

        return outcomes;
    }
}
