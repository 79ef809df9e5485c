using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace CtMparticle.Storage.Azure;

/// <summary>
/// Quarantine in a private blob container: one JSON record per item at <c>yyyy/MM/dd/{reason}/{stage}-{id}.json</c>.
/// The same item writes the same blob, so a redelivered bad message does not multiply.
/// </summary>
internal sealed class BlobQuarantine(BlobContainerClient container) : IQuarantine, IQuarantineArchive
{
    private int created;

    public async Task<string> WriteAsync(QuarantineRecord record, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref created) == 0)
        {
            await container.CreateIfNotExistsAsync(PublicAccessType.None, cancellationToken: cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref created, 1);
        }

        var blob = container.GetBlobClient(record.Path);
        var json = JsonSerializer.SerializeToUtf8Bytes(record, RelayJsonContext.Default.QuarantineRecord);
        await blob.UploadAsync(
            new BinaryData(json),
            new BlobUploadOptions
            {
                HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" },
                Metadata = new Dictionary<string, string> { ["reason"] = record.Reasons[0], ["stage"] = record.Stage },
            },
            cancellationToken).ConfigureAwait(false);
        return $"{container.Name}/{record.Path}";
    }

    public async IAsyncEnumerable<(string Path, QuarantineRecord Record)> ListAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!await container.ExistsAsync(cancellationToken).ConfigureAwait(false))
        {
            yield break;
        }

        await foreach (var item in container.GetBlobsAsync(cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (!item.Name.EndsWith(".json", StringComparison.Ordinal))
            {
                continue; // the push lease's blob (.locks/push) and anything else that is not a record
            }

            var content = await container.GetBlobClient(item.Name).DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            if (QuarantineRecord.TryRead(content.Value.Content.ToMemory().Span) is { } record)
            {
                yield return (item.Name, record);
            }
        }
    }

    public Task DeleteAsync(string path, CancellationToken cancellationToken) =>
        container.DeleteBlobIfExistsAsync(path, cancellationToken: cancellationToken);
}
