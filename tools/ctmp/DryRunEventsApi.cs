using System.Security.Cryptography;
using CtMparticle.Configuration;
using CtMparticle.Delivery;

namespace CtMparticle.Tool;

/// <summary>
/// <c>--dry-run</c>: instead of posting, writes each bulk request body exactly as it would be sent, one JSON file per
/// request (<c>{n}-{request id}.json</c>), and answers 202. Nothing leaves the machine.
/// </summary>
internal sealed class DryRunEventsApi(DirectoryInfo output) : IEventsApi
{
    private int written;

    public int Written => Volatile.Read(ref written);

    public async Task<EventsApiResult> SendBulkAsync(InputRoute route, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        output.Create();
        var id = Convert.ToHexStringLower(SHA256.HashData(body.Span))[..32];
        var number = Interlocked.Increment(ref written);
        var path = Path.Combine(output.FullName, $"{number:D6}-{route.InputName}-{id}.json");
        await File.WriteAllBytesAsync(path, body, cancellationToken).ConfigureAwait(false); // the body itself, not a copy (request bodies reach the large-object heap)
        return new Accepted(202);
    }
}
