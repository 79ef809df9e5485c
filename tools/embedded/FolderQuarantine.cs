using System.Text.Json;
using CtMparticle.Storage;

namespace CtMparticle.Embedded;

/// <summary>
/// Quarantine in a local folder, laid out like the blob container: <c>yyyy/MM/dd/{reason}/{stage}-{id}.json</c>.
/// Files are written to a temporary name and moved into place, so a crash never leaves half a record.
/// </summary>
internal sealed class FolderQuarantine(string root) : IQuarantine, IQuarantineArchive
{
    public string Root { get; } = Path.GetFullPath(root);

    public async Task<string> WriteAsync(QuarantineRecord record, CancellationToken cancellationToken)
    {
        var path = Path.Combine(Root, record.Path.Replace('/', Path.DirectorySeparatorChar));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        await File.WriteAllBytesAsync(temporary, JsonSerializer.SerializeToUtf8Bytes(record, RelayJsonContext.Default.QuarantineRecord), cancellationToken).ConfigureAwait(false);
        File.Move(temporary, path, overwrite: true);
        return record.Path;
    }

    /// <summary>Every record, oldest day first, with its relative path.</summary>
    public IEnumerable<(string Path, QuarantineRecord Record)> List()
    {
        if (!Directory.Exists(Root))
        {
            yield break;
        }

        foreach (var file in Directory.EnumerateFiles(Root, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (Read(file) is { } record)
            {
                yield return (Path.GetRelativePath(Root, file).Replace(Path.DirectorySeparatorChar, '/'), record);
            }
        }
    }

    /// <summary>
    /// Relative paths of <c>.json</c> files that are not readable records (edited or damaged by hand: writes are
    /// atomic). <see cref="List"/> leaves them out, so callers report them rather than lose them silently.
    /// </summary>
    public IEnumerable<string> Unreadable() =>
        Directory.Exists(Root)
            ? Directory.EnumerateFiles(Root, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
                .Where(file => Read(file) is null)
                .Select(file => Path.GetRelativePath(Root, file).Replace(Path.DirectorySeparatorChar, '/'))
            : [];

    /// <summary>A record by its relative path, or by its id (message id or payload hash).</summary>
    public (string Path, QuarantineRecord Record)? Find(string pathOrId) =>
        List().Select(r => ((string, QuarantineRecord)?)r).FirstOrDefault(r => QuarantineRecord.IsNamed(r!.Value.Item1, r.Value.Item2, pathOrId));

    public void Delete(string relativePath) => File.Delete(Path.Combine(Root, relativePath.Replace('/', Path.DirectorySeparatorChar)));

    public async IAsyncEnumerable<(string Path, QuarantineRecord Record)> ListAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var item in List())
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return item;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    public Task DeleteAsync(string path, CancellationToken cancellationToken)
    {
        Delete(path);
        return Task.CompletedTask;
    }

    private static QuarantineRecord? Read(string file) => QuarantineRecord.TryRead(File.ReadAllBytes(file));
}
