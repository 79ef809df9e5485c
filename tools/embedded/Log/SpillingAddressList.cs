using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// A list of log addresses by position (the ledger's newest record of each input, by sequence number) whose older part
/// lives in a file, as <see cref="SpillingKeyIndex"/>'s older entries do: 8 bytes an input would otherwise stay in
/// memory for the whole run (8 MB at 1,000,000 deliveries, with a grown-out copy of half that beside it, and 80 MB at
/// 10,000,000), though only the newest inputs are updated.
/// <para>
/// The newest entries are in memory. Once it holds twice <see cref="Chunk"/> of them the oldest chunk is written to the
/// file, so at least a chunk stays in memory and a rollback (which removes the last entries, a batch's at most) seldom
/// reads one back. An entry in the file is read and changed with one <c>pread</c> or <c>pwrite</c> of 8 bytes, through
/// the page cache, in the machine's byte order (the file never leaves the process). A write that fails (a full disk)
/// leaves the entries in memory and is tried again a chunk later. The file needs no crash safety: the list is rebuilt
/// from the log at every open, which deletes what a previous process left. One thread at a time (the log's lock).
/// </para>
/// </summary>
internal sealed class SpillingAddressList : IDisposable
{
    /// <summary>Entries written to the file at a time, unless told otherwise.</summary>
    public const int DefaultChunk = 1 << 16;

    private readonly string folder;
    private readonly string path;
    private readonly List<long> recent = []; // positions spilled..Count
    private readonly byte[] one = new byte[sizeof(long)];
    private SafeFileHandle? file;
    private int spilled; // entries in the file: positions 0..spilled
    private int spillWhen;

    /// <param name="folder">Where the file is written (created when needed).</param>
    /// <param name="name">The list's name, the start of its file's name.</param>
    /// <param name="chunk">Entries written to the file at a time.</param>
    public SpillingAddressList(string folder, string name, int chunk = DefaultChunk)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunk, 1);
        this.folder = folder;
        path = Path.Combine(folder, $"{name}.list");
        Chunk = chunk;
        spillWhen = 2 * chunk;
    }

    public int Chunk { get; }

    /// <summary>The number of entries.</summary>
    public int Count => spilled + recent.Count;

    /// <summary>Entries in the file now.</summary>
    public int Spilled => spilled;

    public long this[int position]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(position);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(position, Count);
            if (position >= spilled)
            {
                return recent[position - spilled];
            }

            if (RandomAccess.Read(file!, one, (long)position * sizeof(long)) != sizeof(long))
            {
                throw new IOException($"The file {path} ended before entry {position}.");
            }

            return MemoryMarshal.Read<long>(one);
        }

        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(position);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(position, Count);
            if (position >= spilled)
            {
                recent[position - spilled] = value;
                return;
            }

            MemoryMarshal.Write(one, value);
            RandomAccess.Write(file!, one, (long)position * sizeof(long));
        }
    }

    public void Add(long address)
    {
        recent.Add(address);
        if (recent.Count >= spillWhen)
        {
            Spill();
        }
    }

    /// <summary>Removes the last entry (a rollback's undo), reading the last chunk back from the file when memory has none.</summary>
    public void RemoveLast()
    {
        if (Count == 0)
        {
            throw new InvalidOperationException("The list is empty.");
        }

        if (recent.Count == 0)
        {
            var back = Math.Min(Chunk, spilled);
            recent.AddRange(ReadFile(spilled - back, back));
            spilled -= back;
        }

        recent.RemoveAt(recent.Count - 1);
    }

    /// <summary>Every entry in order (a report's scan: the file read once, not an entry at a time).</summary>
    public long[] ToArray()
    {
        var all = new long[Count];
        ReadFile(0, spilled).CopyTo(all, 0);
        recent.CopyTo(all, spilled);
        return all;
    }

    public void Dispose()
    {
        file?.Dispose();
        file = null;
        if (File.Exists(path))
        {
            File.Delete(path);
        }
    }

    private void Spill()
    {
        try
        {
            if (file is null)
            {
                Directory.CreateDirectory(folder);
                file = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
            }

            var count = recent.Count - Chunk;
            RandomAccess.Write(file, MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(recent)[..count]), (long)spilled * sizeof(long));
            recent.RemoveRange(0, count);
            spilled += count;
            spillWhen = 2 * Chunk;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            spillWhen = recent.Count + Chunk;
        }
    }

    private long[] ReadFile(int from, int count)
    {
        var entries = new long[count];
        var bytes = MemoryMarshal.AsBytes(entries.AsSpan());
        var read = 0;
        while (read < bytes.Length && RandomAccess.Read(file!, bytes[read..], (long)from * sizeof(long) + read) is > 0 and var more)
        {
            read += more;
        }

        return read == bytes.Length ? entries : throw new IOException($"The file {path} ended before entry {from + count}.");
    }
}
