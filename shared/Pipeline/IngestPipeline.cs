using CtMparticle.Storage;

namespace CtMparticle.Pipeline;

/// <summary>
/// Ingest, for any source: decode → resolve → map (the source's) → gate (consent) → govern (the plan) → store.
/// Bad input never throws: it ends filtered or quarantined with a reason, and so does a failure of the relay itself
/// on one input (<c>internal_error</c>, with the original bytes), so one input never holds up the ones behind it.
/// Only transient infrastructure failures throw, so the transport redelivers; every stage is idempotent, so a
/// redelivery after a crash at any point stores each event exactly once.
/// </summary>
internal sealed class IngestPipeline(ISource source, ConsentStage gate, GovernStage governor, StoreStage store, TimeProvider time)
{
    public async Task<IngestOutcome> IngestAsync(Inbound inbound, CancellationToken cancellationToken)
    {
        var receivedAt = time.GetUtcNow();
        var stage = "decode";
        InputInfo? info = null;
        try
        {
            var decoded = source.Decode(inbound);
            info = decoded.Info;
            stage = "resolve";
            var resolved = await source.ResolveAsync(decoded, cancellationToken).ConfigureAwait(false);
            stage = "map";
            var mapped = source.Map(resolved);
            stage = "gate";
            var gated = await gate.ApplyAsync(mapped, cancellationToken).ConfigureAwait(false);
            stage = "govern";
            var governed = governor.Apply(gated);
            stage = "store";
            return await store.SettleAsync(inbound, governed, receivedAt, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!Faults.IsTransient(ex, cancellationToken))
        {
            return await store.FailedAsync(inbound, info, stage, ex, receivedAt, cancellationToken).ConfigureAwait(false);
        }
    }
}
