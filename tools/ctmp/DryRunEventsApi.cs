using System.Security.Cryptography;
using CtMparticle.Configuration;
using CtMparticle.Delivery;

namespace CtMparticle.Tool;

/// <summary>
/// <c>--dry-run</c>: instead of posting, writes each bulk request body exactly as it would be sent, one JSON file per
/// request (<c>{n}-{input}-{request id}.json</c>), and answers 202. Nothing leaves the machine.
/// </summary>
/// <remarks>
/// A file appears whole or not at all: the body is written under <c>.partial/</c> in the output folder and then moved
/// into place, so whatever watches the folder while the relay runs (a <c>ctmp serve</c> user, a test) never reads a
/// file the relay is still writing. A write that fails or is cancelled leaves nothing in the output folder, and the
/// hidden folder goes when the run ends (<see cref="Dispose"/>), unless a process killed mid-write left a body in it.
/// </remarks>
internal sealed class DryRunEventsApi(DirectoryInfo output) : IEventsApi, IDisposable
{
    /// <summary>The hidden folder, inside the output folder, that a body is written in before it is moved into place.</summary>
    public const string PartialFolder = ".partial";

    private int written;

    public int Written => Volatile.Read(ref written);

    public async Task<EventsApiResult> SendBulkAsync(InputRoute route, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var partial = Directory.CreateDirectory(Path.Combine(output.FullName, PartialFolder)).FullName; // creates the output folder too
        var id = Convert.ToHexStringLower(SHA256.HashData(body.Span))[..32];
        var number = Interlocked.Increment(ref written);
        var name = $"{number:D6}-{route.InputName}-{id}.json";
        var writing = Path.Combine(partial, name + ".partial"); // not .json: no reader of folders takes it for a request
        try
        {
            await File.WriteAllBytesAsync(writing, body, cancellationToken).ConfigureAwait(false); // the body itself, not a copy (request bodies reach the large-object heap)
            File.Move(writing, Path.Combine(output.FullName, name), overwrite: true); // same folder tree, so a rename: atomic
        }
        catch
        {
            File.Delete(writing);
            throw;
        }

        return new Accepted(202);
    }

    /// <summary>Removes the hidden folder bodies are written in, when it is empty: the run's output is its request files only.</summary>
    public void Dispose()
    {
        try
        {
            Directory.Delete(Path.Combine(output.FullName, PartialFolder)); // not recursive: a leftover stays for a person to see
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not there (nothing was written), or not empty: either way nothing to tidy.
        }
    }
}
