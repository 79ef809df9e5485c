namespace CtMparticle.Storage;

/// <summary>The store was written with another partition count than the settings now give; nothing may run on it.</summary>
internal sealed class StoreLayoutException(string message) : Exception(message);

/// <summary>
/// Every key of the relay's state is a hash modulo <c>Relay:Partitions</c>, so the count is fixed once a store holds
/// data: a changed count would leave pending events in partitions no one reads, miss dedupe records, and forget
/// consent and order context. The first run records it; every later start compares.
/// </summary>
internal static class StoreLayout
{
    public const string CheckpointName = "layout:partitions";

    /// <summary>Records the partition count on first use; throws <see cref="StoreLayoutException"/> when it changed since.</summary>
    public static async Task EnsureAsync(ICheckpointStore checkpoints, int partitions, CancellationToken cancellationToken)
    {
        var recorded = await checkpoints.GetAsync(CheckpointName, cancellationToken).ConfigureAwait(false);
        if (recorded is null)
        {
            await checkpoints.SetAsync(CheckpointName, partitions.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);
            return;
        }

        if (Problem(partitions, recorded) is { } problem)
        {
            throw new StoreLayoutException(problem);
        }
    }

    /// <summary>What is wrong, as a sentence saying what to set; null when the counts agree.</summary>
    public static string? Problem(int configured, string recorded) =>
        recorded == configured.ToString(System.Globalization.CultureInfo.InvariantCulture)
            ? null
            : $"Relay:Partitions is {configured}, but this store was written with {recorded} partitions. Every key is a hash modulo the partition " +
              $"count, so a new count would hide pending events, dedupe records, consent and order context. Set Relay:Partitions back to {recorded}.";
}

/// <summary>
/// A store whose layout changed since an older version of the relay wrote it: at the function app's start, after the
/// partition check, it moves what that version wrote, once (idempotent, so every instance may run it). Until it has, the
/// store reads both layouts, so nothing is missed meanwhile. <c>ctmp store downgrade</c> moves it back before a rollback.
/// </summary>
internal interface IStoreUpgrade
{
    /// <summary>What is moved, for the log line ("users' consent states moved beside their identity links").</summary>
    string Upgrade { get; }

    /// <summary>Moves what is left in the old layout and records that none is; returns how many records it moved.</summary>
    Task<int> UpgradeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Moves everything back into the old layout, for a rollback to an older version (with this version stopped: its next
    /// start moves it all again); returns how many records it moved.
    /// </summary>
    Task<int> DowngradeAsync(CancellationToken cancellationToken);
}
