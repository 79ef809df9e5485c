namespace CtMparticle.Pipeline;

/// <summary>
/// A host's way of settling a batch of inputs in order as one unit of storage work (on Azure Tables: written behind,
/// <c>Hosting.WriteBehindIngest</c>). Returns each input's final outcome, in order; a transient failure throws, and then
/// nothing of the batch is stored, for the transport (or the client) to send it again.
/// </summary>
internal interface IBatchSettler
{
    Task<IReadOnlyList<IngestOutcome>> SettleAsync<T>(IReadOnlyList<T> inputs, Func<T, CancellationToken, Task<IngestOutcome>> settle, CancellationToken cancellationToken);
}
