namespace CtMparticle.Pipeline;

/// <summary>
/// Ingest, for any source: decode → resolve → map (the source's) → gate (consent) → govern (the plan) → store.
/// Bad input never throws: it ends filtered or quarantined with a reason. Only transient infrastructure failures
/// throw, so the transport redelivers; every stage is idempotent, so a redelivery after a crash at any point stores
/// each event exactly once.
/// </summary>
internal sealed class IngestPipeline(ISource source, ConsentStage gate, GovernStage governor, StoreStage store, TimeProvider time)
{
    public async Task<IngestOutcome> IngestAsync(Inbound inbound, CancellationToken cancellationToken)
    {
        var receivedAt = time.GetUtcNow();
        var decoded = source.Decode(inbound);
        var resolved = await source.ResolveAsync(decoded, cancellationToken).ConfigureAwait(false);
        var mapped = source.Map(resolved);
        var gated = await gate.ApplyAsync(mapped, cancellationToken).ConfigureAwait(false);
        var governed = governor.Apply(gated);
        return await store.SettleAsync(inbound, governed, receivedAt, cancellationToken).ConfigureAwait(false);
    }
}
