using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using CtMparticle.Storage;

namespace CtMparticle.Embedded;

/// <summary>
/// Quarantine in a local folder, laid out like the blob container: <c>yyyy/MM/dd/{reason}/{stage}-{id}.json</c>.
/// Files are written to a temporary name and moved into place, so a crash never leaves half a record.
/// </summary>
internal sealed class FolderQuarantine(string root) : IQuarantine, IQuarantineArchive
{
    // The folders this process has created (one a day and reason): a write into one of them needs no mkdir.
    private readonly ConcurrentDictionary<string, bool> created = new(StringComparer.Ordinal);

    public string Root { get; } = Path.GetFullPath(root);

    /// <summary>
    /// Writes on the caller's thread: a record is a few KB on a local disk, and the asynchronous write handed each one
    /// to the thread pool and back (on the relay's writer, about 2,000 times per 100,000 deliveries).
    /// </summary>
    public Task<string> WriteAsync(QuarantineRecord record, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<string>(cancellationToken);
        }

        try
        {
            return Task.FromResult(Write(record));
        }
        catch (Exception ex)
        {
            return Task.FromException<string>(ex);
        }
    }

    /// <summary>Writes the record before it returns (on the caller's thread); its path under <see cref="Root"/>.</summary>
    public string Write(QuarantineRecord record)
    {
        var path = Path.Combine(Root, record.Path.Replace('/', Path.DirectorySeparatorChar));
        var folder = Path.GetDirectoryName(path)!;
        var temporary = path + ".tmp";
        var bytes = JsonSerializer.SerializeToUtf8Bytes(record, RelayJsonContext.Default.QuarantineRecord);
        if (!created.ContainsKey(folder))
        {
            Directory.CreateDirectory(folder);
            created[folder] = true;
        }

        try
        {
            WriteNew(temporary, bytes);
        }
        catch (DirectoryNotFoundException)
        {
            // Deleted since this process created it (by hand, or by a command's cleanup): create it again.
            Directory.CreateDirectory(folder);
            WriteNew(temporary, bytes);
        }

        File.Move(temporary, path, overwrite: true);
        return record.Path;
    }

    /// <summary>
    /// Writes a new file. Not <see cref="File.WriteAllBytes(string, byte[])"/>: it truncates the file it opens, even a
    /// new one, and ext4 starts writing a truncated file's pages to the disk when it is closed (its replace-via-truncate
    /// safeguard), so every record cost the writer a block-device round trip. A temporary left by a crash is replaced.
    /// </summary>
    private static void WriteNew(string file, byte[] bytes)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(file, FileMode.CreateNew, FileAccess.Write);
        }
        catch (IOException) when (File.Exists(file))
        {
            File.Delete(file);
            handle = File.OpenHandle(file, FileMode.CreateNew, FileAccess.Write);
        }

        using (handle)
        {
            RandomAccess.Write(handle, bytes, 0);
        }
    }

    /// <summary>
    /// Deletes the days of records received before <paramref name="cutoff"/> (a day's folder once the whole day is
    /// before it), as the blob container's lifecycle rule does on Azure; the number of records deleted. Folders that
    /// are not a day of the layout are left alone.
    /// </summary>
    public int PurgeOlderThan(DateTimeOffset cutoff)
    {
        var deleted = 0;
        foreach (var (day, folder) in Days())
        {
            if (day.AddDays(1) > cutoff)
            {
                continue;
            }

            deleted += Directory.EnumerateFiles(folder, "*.json", SearchOption.AllDirectories).Count();
            Directory.Delete(folder, recursive: true);
            created.Clear(); // a record of that day written again must create its folder again
        }

        return deleted;
    }

    /// <summary>The <c>yyyy/MM/dd</c> folders under the root, with their day (UTC).</summary>
    private IEnumerable<(DateTimeOffset Day, string Folder)> Days()
    {
        if (!Directory.Exists(Root))
        {
            yield break;
        }

        foreach (var year in Directory.GetDirectories(Root))
        {
            foreach (var month in Directory.GetDirectories(year))
            {
                foreach (var day in Directory.GetDirectories(month))
                {
                    var name = Path.GetRelativePath(Root, day).Replace(Path.DirectorySeparatorChar, '/');
                    if (DateTimeOffset.TryParseExact(name, "yyyy'/'MM'/'dd", System.Globalization.CultureInfo.InvariantCulture,
                        System.Globalization.DateTimeStyles.AssumeUniversal, out var at))
                    {
                        yield return (at, day);
                    }
                }
            }
        }
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
