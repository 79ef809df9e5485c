namespace CtMparticle.Storage;

/// <summary>Named checkpoints of scheduled jobs (the consent reconciliation's last customer seen).</summary>
internal interface ICheckpointStore
{
    Task<string?> GetAsync(string name, CancellationToken cancellationToken);

    Task SetAsync(string name, string value, CancellationToken cancellationToken);
}
