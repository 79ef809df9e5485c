using CtMparticle.Configuration;
using CtMparticle.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Functions;

/// <summary>
/// At start: the storage must have been written with the configured <c>Relay:Partitions</c> (recorded on first use).
/// A different count stops the host with a sentence saying what to set; storage that cannot be reached now does
/// not (the functions then retry as usual). Then each <see cref="IStoreUpgrade"/> moves what an older version left in
/// an older layout (the stores read both until it has).
/// </summary>
internal sealed partial class StoreLayoutCheck(
    ICheckpointStore checkpoints, IEnumerable<IStoreUpgrade> upgrades, IOptions<RelayOptions> relay, ILogger<StoreLayoutCheck> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await StoreLayout.EnsureAsync(checkpoints, relay.Value.Partitions, upgrades, (what, count) => Upgraded(logger, what, count), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (Faults.IsTransient(ex, cancellationToken) && !cancellationToken.IsCancellationRequested)
        {
            LayoutUnchecked(logger, ex.GetType().Name);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(3003, LogLevel.Warning, "The storage layout (Relay:Partitions) could not be checked at start ({ExceptionType}); it is checked at the next start")]
    private static partial void LayoutUnchecked(ILogger logger, string exceptionType);

    [LoggerMessage(3008, LogLevel.Information, "Storage upgraded at start: {What} ({Count} records)")]
    private static partial void Upgraded(ILogger logger, string what, int count);
}
