using CtMparticle.Storage;

namespace CtMparticle.Embedded;

/// <summary>
/// The push lease on the embedded store: <c>push.lock</c> beside the SQLite file, opened exclusively (an operating
/// system lock, so a process that dies releases it at once) and holding the holder's process id for whoever looks.
/// </summary>
internal sealed class FilePushLease(string folder) : IPushLease
{
    public Task<IAsyncDisposable?> TryAcquireAsync(CancellationToken cancellationToken)
    {
        var path = Path.Combine(folder, "push.lock");
        try
        {
            var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            stream.SetLength(0);
            using (var writer = new StreamWriter(stream, leaveOpen: true))
            {
                writer.Write(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            stream.Flush();
            return Task.FromResult<IAsyncDisposable?>(stream);
        }
        catch (IOException)
        {
            return Task.FromResult<IAsyncDisposable?>(null); // another ctmp process is pushing from this store
        }
    }
}
