using CtMparticle.Configuration;
using CtMparticle.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Functions;

/// <summary>
/// At start: the storage must have been written with the configured <c>Relay:Partitions</c> (recorded on first use).
/// A different count stops the host with a sentence saying what to set; storage that cannot be reached now does
/// not (the functions then retry as usual). Then, in the background, each <see cref="IStoreUpgrade"/> moves what an
/// older version left in an older layout: a store with many users' states takes a while, and the functions need not
/// wait, since the stores read both layouts until it is done.
/// </summary>
internal sealed partial class StoreLayoutCheck(
    ICheckpointStore checkpoints, IEnumerable<IStoreUpgrade> upgrades, IOptions<RelayOptions> relay, ILogger<StoreLayoutCheck> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource stopping = new();

    /// <summary>The background upgrade (done at once when the layout could not be checked); tests wait for it.</summary>
    internal Task Upgrading { get; private set; } = Task.CompletedTask;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await StoreLayout.EnsureAsync(checkpoints, relay.Value.Partitions, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (Faults.IsTransient(ex, cancellationToken) && !cancellationToken.IsCancellationRequested)
        {
            LayoutUnchecked(logger, ex.GetType().Name);
            return; // nothing is moved on a layout not checked; the stores read both places until a later start moves it
        }

        Upgrading = Task.Run(() => UpgradeAsync(stopping.Token), CancellationToken.None);
    }

    private async Task UpgradeAsync(CancellationToken cancellationToken)
    {
        foreach (var upgrade in upgrades)
        {
            try
            {
                var moved = await upgrade.UpgradeAsync(cancellationToken).ConfigureAwait(false);
                if (moved > 0)
                {
                    Upgraded(logger, upgrade.Upgrade, moved);
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                UpgradeUnfinished(logger, upgrade.Upgrade, ex.GetType().Name);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        await Upgrading.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public void Dispose() => stopping.Dispose();

    [LoggerMessage(3003, LogLevel.Warning, "The storage layout (Relay:Partitions) could not be checked at start ({ExceptionType}); it is checked at the next start")]
    private static partial void LayoutUnchecked(ILogger logger, string exceptionType);

    [LoggerMessage(3008, LogLevel.Information, "Storage upgraded at start: {What} ({Count} records)")]
    private static partial void Upgraded(ILogger logger, string what, int count);

    [LoggerMessage(3009, LogLevel.Warning, "Storage upgrade not finished ({What}, {ExceptionType}): the relay reads both layouts meanwhile; the next start goes on with it")]
    private static partial void UpgradeUnfinished(ILogger logger, string what, string exceptionType);
}
