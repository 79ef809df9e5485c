using System.Globalization;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// Writes a compacted copy of a state log (ADR 0007, step 6): each store hands the records that still count to
/// <see cref="Append"/>, written as a new log in the store's <see cref="Folder"/> whose segment and batch numbers carry
/// on the old log's. <see cref="Complete"/> makes it durable and marks it done; <see cref="Finish"/> then swaps it in.
/// <para>
/// The swap survives a crash at any point: until the <see cref="DoneMarker"/> is on the disk the old log is whole and
/// the copy is dropped at the next open; once it is, every open rolls the swap forward (the old segments deleted, the
/// new ones moved in, the marker last), and each of those steps can be done again.
/// </para>
/// </summary>
internal sealed class LogCompaction : IDisposable
{
    /// <summary>The store folder's subfolder where a compacted copy of the log is written.</summary>
    public const string Folder = "compact";

    /// <summary>The file in <see cref="Folder"/> that says the copy is whole: it names the copy's first segment.</summary>
    public const string DoneMarker = "done";

    /// <summary>
    /// The file in the store's folder that holds the log's size right after its last compaction, for the rule of
    /// <see cref="LogStore.ShouldCompact"/>. Only that rule reads it: lost or stale, a compaction comes sooner or later.
    /// </summary>
    public const string BaseFile = "state.compacted";

    /// <summary>A batch commits once it holds this many bytes (not durably: <see cref="Complete"/> is the durable point).</summary>
    private const long BatchBytes = 4L * 1024 * 1024;

    private readonly string directory;
    private readonly StateLog copy;
    private readonly int firstSegment;
    private long batchBytes;

    private LogCompaction(string directory, StateLog copy, int firstSegment) => (this.directory, this.copy, this.firstSegment) = (directory, copy, firstSegment);

    /// <summary>Records written to the copy.</summary>
    public long Records { get; private set; }

    /// <summary>Starts a copy of <paramref name="log"/>, in <paramref name="directory"/>'s <see cref="Folder"/> (emptied first).</summary>
    public static LogCompaction Begin(string directory, StateLog log, long segmentBytes)
    {
        var folder = Path.Combine(directory, Folder);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true); // what an earlier, unfinished compaction left
        }

        var copy = StateLog.Create(folder, log.Segment + 1, log.NextBatch, segmentBytes);
        StateLog.SyncDirectory(directory); // the folder's own entry, before anything in it counts
        return new(directory, copy, log.Segment + 1);
    }

    /// <summary>Appends a record to the copy and returns its address there.</summary>
    public long Append(byte kind, ReadOnlySpan<byte> payload)
    {
        var address = copy.Append(kind, payload);
        Records++;
        batchBytes += payload.Length + StateLog.HeaderBytes + StateLog.TrailerBytes;
        if (batchBytes >= BatchBytes)
        {
            copy.Commit(durable: false);
            batchBytes = 0;
        }

        return address;
    }

    /// <summary>Commits the copy to the disk and writes the <see cref="DoneMarker"/>: from here on the copy replaces the log.</summary>
    public void Complete()
    {
        copy.Commit(durable: true);
        copy.Dispose();
        // The marker appears whole or not at all: written beside, on the disk, then renamed (a kill while writing it
        // leaves only the file beside, which counts for nothing).
        var folder = Path.Combine(directory, Folder);
        var written = Path.Combine(folder, DoneMarker + ".new");
        using (var marker = new FileStream(written, FileMode.Create, FileAccess.Write))
        {
            marker.Write(System.Text.Encoding.ASCII.GetBytes(firstSegment.ToString(CultureInfo.InvariantCulture)));
            marker.Flush(flushToDisk: true);
        }

        File.Move(written, Path.Combine(folder, DoneMarker));
        StateLog.SyncDirectory(folder);
    }

    /// <summary>The log's size right after its last compaction (<see cref="BaseFile"/>), or 0 when it was never compacted.</summary>
    public static long BaseBytes(string directory)
    {
        var path = Path.Combine(directory, BaseFile);
        return File.Exists(path) && long.TryParse(File.ReadAllText(path), NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) ? bytes : 0;
    }

    /// <summary>Keeps <paramref name="bytes"/> as the log's size right after a compaction (<see cref="BaseFile"/>).</summary>
    public static void SetBase(string directory, long bytes) =>
        File.WriteAllText(Path.Combine(directory, BaseFile), bytes.ToString(CultureInfo.InvariantCulture));

    /// <summary>Drops an unfinished copy's file handle (the folder goes at the next compaction or open).</summary>
    public void Dispose() => copy.Dispose();

    /// <summary>
    /// Ends a compaction left in <paramref name="directory"/>, before the log there is opened: a whole copy (its
    /// <see cref="DoneMarker"/> on the disk) replaces the log's older segments; an unfinished one is deleted.
    /// </summary>
    /// <returns>Whether a copy was swapped in.</returns>
    /// <exception cref="StoreDamagedException">The marker does not name a segment (damage, not a crash).</exception>
    public static bool Finish(string directory)
    {
        var folder = Path.Combine(directory, Folder);
        if (!Directory.Exists(folder))
        {
            return false;
        }

        var marker = Path.Combine(folder, DoneMarker);
        if (!File.Exists(marker))
        {
            Directory.Delete(folder, recursive: true); // the old log is whole: the copy never counted
            return false;
        }

        if (!int.TryParse(File.ReadAllText(marker), NumberStyles.None, CultureInfo.InvariantCulture, out var first) || first < 1)
        {
            throw new StoreDamagedException($"The compaction marker {marker} does not name a segment. Restore the store's folder from a backup.");
        }

        foreach (var (_, path) in StateLog.SegmentFiles(directory).Where(s => s.Number < first))
        {
            File.Delete(path);
        }

        foreach (var (_, path) in StateLog.SegmentFiles(folder))
        {
            File.Move(path, Path.Combine(directory, Path.GetFileName(path)), overwrite: true);
        }

        StateLog.SyncDirectory(directory);
        File.Delete(marker);
        Directory.Delete(folder, recursive: true);
        return true;
    }
}
