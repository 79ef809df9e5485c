using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;

namespace CtMparticle.Storage.Azure;

/// <summary>
/// The push lease as a blob lease on <c>.locks/push</c> in the quarantine container: 60 seconds, renewed every 20 while
/// held, released when the run ends; a pusher that dies loses it within a minute.
/// </summary>
internal sealed class BlobPushLease(BlobContainerClient container, TimeProvider time) : IPushLease
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Renewal = TimeSpan.FromSeconds(20);

    public async Task<IAsyncDisposable?> TryAcquireAsync(CancellationToken cancellationToken)
    {
        var blob = container.GetBlobClient(".locks/push");
        try
        {
            await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!await blob.ExistsAsync(cancellationToken).ConfigureAwait(false))
            {
                await blob.UploadAsync(BinaryData.FromString("push lease"), overwrite: false, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            // Another pusher created it, or holds a lease on it: either way the blob exists.
        }

        var lease = blob.GetBlobLeaseClient();
        try
        {
            await lease.AcquireAsync(Duration, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            return null; // held by another pusher
        }

        return new Held(lease, time);
    }

    private sealed class Held : IAsyncDisposable
    {
        private readonly BlobLeaseClient lease;
        private readonly CancellationTokenSource stop = new();
        private readonly Task renewing;

        public Held(BlobLeaseClient lease, TimeProvider time)
        {
            this.lease = lease;
            renewing = RenewAsync(time, stop.Token);
        }

        private async Task RenewAsync(TimeProvider time, CancellationToken cancellationToken)
        {
            try
            {
                while (true)
                {
                    await Task.Delay(Renewal, time, cancellationToken).ConfigureAwait(false);
                    await lease.RenewAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                // Released.
            }
            catch (RequestFailedException)
            {
                // Lost (storage unreachable): the lease expires; the run's remaining writes are idempotent.
            }
        }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await renewing.ConfigureAwait(false);
            stop.Dispose();
            try
            {
                await lease.ReleaseAsync().ConfigureAwait(false);
            }
            catch (RequestFailedException)
            {
                // Expired or unreachable: it expires by itself.
            }
        }
    }
}
