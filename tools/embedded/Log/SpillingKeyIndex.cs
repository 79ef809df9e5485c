using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// An index of ADR 0007 whose older entries live in files, not in the process's memory: the next memory step of
/// docs/performance.md. At 1,000,000 deliveries the three largest indexes (event ids, the ledger's message ids,
/// identity decisions) held some 2.7 million entries in about 50 MB of tables, most of them keys that are never asked
/// for again, while 300 MB leaves the whole state some 60 MB. Every index of the log's stores is one now (the links,
/// their owners' sets, consent and order contexts followed on 2026-12-06): a key asked for again after its entry was
/// written costs a read of one 4 KB block of a run, from the page cache.
/// <para>
/// New entries go into an in-memory <see cref="KeyIndex"/>. When it holds <see cref="SpillAt"/> entries they are
/// sorted by hash tag and written to a file of their own (a run), and the table starts again small. A run is never
/// changed: an entry of a run that is moved or removed is marked dead (by its tag and address: a rollback frees an
/// address, which the log then gives to another record) and its new address, if any, goes into memory. Two runs of
/// similar size are merged into one, dead entries dropped, so a spilled index of n entries has about
/// log2(n / <see cref="SpillAt"/>) runs.
/// </para>
/// <para>
/// A run's file is read with <c>pread</c>, through the operating system's page cache, which is not the process's
/// resident memory (as SQLite's pages are not). In memory each run keeps a Bloom filter of its tags (10 bits an entry,
/// about 1 % false positives) and the first tag of each 4 KB block: about 1.3 bytes an entry against 16–24 in the
/// table. Most keys are new when they arrive (events, message ids), so the filters spare nearly every look-up any
/// read. The files need no crash safety: the indexes are rebuilt from the log at every open, which deletes what a
/// previous process left in the folder.
/// </para>
/// One thread at a time (the log's lock).
/// </summary>
internal sealed class SpillingKeyIndex : IKeyIndex, IDisposable
{
    /// <summary>Entries held in memory before they are written to a run, unless told otherwise.</summary>
    public const int DefaultSpillAt = 1 << 16;

    private const int EntryBytes = 12; // tag (4) and address (8), little-endian
    private const int BlockBytes = 4096;
    private const int EntriesPerBlock = BlockBytes / EntryBytes; // 341; a block's last 4 bytes are unused

    private readonly string folder;
    private readonly string name;
    private readonly KeyIndex memory = new();
    private readonly List<Run> runs = []; // oldest first
    private readonly HashSet<(uint Tag, long Address)> dead = []; // entries of runs moved or removed since
    private readonly byte[] block = new byte[BlockBytes];
    private int nextRun = 1;
    private long spilled; // entries in runs, dead ones included
    private int spillWhen; // memory's entry count at which to spill next (later after a failed write)

    /// <param name="folder">Where the runs are written (created when needed).</param>
    /// <param name="name">The index's name, the start of its runs' file names.</param>
    /// <param name="spillAt">Entries held in memory before they are written to a run.</param>
    public SpillingKeyIndex(string folder, string name, int spillAt = DefaultSpillAt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(spillAt, 1);
        this.folder = folder;
        this.name = name;
        SpillAt = spillAt;
        spillWhen = spillAt;
    }

    public int SpillAt { get; }

    /// <summary>Runs on disk now.</summary>
    public int Runs => runs.Count;

    public int Count => (int)(memory.Count + spilled - dead.Count);

    public long TableBytes => memory.TableBytes + runs.Sum(r => r.MemoryBytes) + dead.Count * 32L;

    public long Find<TState>(ulong hash, TState state, Func<TState, long, bool> isKey)
    {
        if (memory.Find(hash, state, isKey) is var found and not 0)
        {
            return found;
        }

        var tag = KeyIndex.Tag(hash);
        for (var r = runs.Count - 1; r >= 0; r--)
        {
            if (!runs[r].MayHold(tag))
            {
                continue;
            }

            foreach (var address in Read(runs[r], tag))
            {
                if (!dead.Contains((tag, address)) && isKey(state, address))
                {
                    return address;
                }
            }
        }

        return 0;
    }

    public void Insert(ulong hash, long address)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(address, 0);
        Add(hash, address);
    }

    public bool Move(ulong hash, long from, long to)
    {
        var tag = KeyIndex.Tag(hash);
        if (to == 0 || dead.Count == 0 || !dead.Contains((tag, to)))
        {
            if (memory.Move(hash, from, to))
            {
                return true;
            }
        }
        else if (memory.Move(hash, from, 0))
        {
            Add(hash, to);
            return true;
        }

        if (!InRuns(hash, from))
        {
            return false;
        }

        dead.Add((tag, from));
        if (to != 0)
        {
            Add(hash, to);
        }

        return true;
    }

    public List<long> All(ulong hash)
    {
        var found = memory.All(hash);
        var tag = KeyIndex.Tag(hash);
        foreach (var run in runs)
        {
            if (run.MayHold(tag))
            {
                found.AddRange(Read(run, tag).Where(a => !dead.Contains((tag, a))));
            }
        }

        return found;
    }

    public bool Holds(ulong hash, long address) => memory.Holds(hash, address) || InRuns(hash, address);

    public void Dispose()
    {
        foreach (var run in runs)
        {
            run.Delete();
        }

        runs.Clear();
    }

    private bool InRuns(ulong hash, long address)
    {
        var tag = KeyIndex.Tag(hash);
        if (dead.Contains((tag, address)))
        {
            return false;
        }

        foreach (var run in runs)
        {
            if (run.MayHold(tag) && Read(run, tag).Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// An entry into memory, or back to life in its run when that very entry (tag and address) was marked dead: a
    /// rollback's undo, or a record the log appended at an address a rollback freed, whose entry is the same pair.
    /// </summary>
    private void Add(ulong hash, long address)
    {
        if (dead.Count > 0 && dead.Remove((KeyIndex.Tag(hash), address)))
        {
            return;
        }

        memory.Insert(hash, address);
        if (memory.Count >= spillWhen)
        {
            Spill();
        }
    }

    /// <summary>The addresses of a run's entries with <paramref name="tag"/>: the block where they begin, and the next ones while they go on.</summary>
    private List<long> Read(Run run, uint tag)
    {
        var found = new List<long>(1);
        var first = Math.Max(0, LowerBound(run.FirstTags, tag) - 1);
        for (var b = first; b < run.FirstTags.Length && (b == first || run.FirstTags[b] <= tag); b++)
        {
            var entries = run.ReadBlock(b, block);
            for (var i = 0; i < entries; i++)
            {
                var (entryTag, address) = Run.Entry(block, i);
                if (entryTag == tag)
                {
                    found.Add(address);
                }
                else if (entryTag > tag)
                {
                    return found;
                }
            }
        }

        return found;
    }

    /// <summary>The first block whose first tag is at least <paramref name="tag"/> (the count when none is).</summary>
    private static int LowerBound(uint[] firstTags, uint tag)
    {
        int low = 0, high = firstTags.Length;
        while (low < high)
        {
            var middle = (low + high) >>> 1;
            if (firstTags[middle] < tag)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }

    /// <summary>
    /// Writes memory's entries to a new run, then merges the newest runs while the newer is at least half the older.
    /// Nothing changes until a file is written whole: a write that fails (a full disk) leaves the entries where they
    /// were, in memory or in the runs merged, and the spill is tried again after <see cref="SpillAt"/> more entries.
    /// The failure is not the caller's: its change of the index is made either way, and its log record stands.
    /// </summary>
    private void Spill()
    {
        try
        {
            var entries = memory.Entries().ToArray();
            Array.Sort(entries);
            runs.Add(Write(entries.Length, entries));
            spilled += entries.Length;
            memory.Clear();
            while (runs.Count >= 2 && runs[^1].Count * 2 >= runs[^2].Count)
            {
                var (older, newer) = (runs[^2], runs[^1]);
                var dropped = new List<(uint, long)>();
                var merged = Write(older.Count + newer.Count, Merge(Scan(older), Scan(newer)).Where(e =>
                {
                    if (dead.Count > 0 && dead.Contains(e))
                    {
                        dropped.Add(e);
                        return false;
                    }

                    return true;
                }));
                runs.RemoveRange(runs.Count - 2, 2);
                runs.Add(merged);
                dead.ExceptWith(dropped);
                spilled -= dropped.Count;
                older.Delete();
                newer.Delete();
            }

            spillWhen = SpillAt;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            spillWhen = memory.Count + SpillAt;
        }
    }

    private static IEnumerable<(uint Tag, long Address)> Merge(IEnumerable<(uint Tag, long Address)> a, IEnumerable<(uint Tag, long Address)> b)
    {
        using var left = a.GetEnumerator();
        using var right = b.GetEnumerator();
        var (hasLeft, hasRight) = (left.MoveNext(), right.MoveNext());
        while (hasLeft || hasRight)
        {
            if (hasLeft && (!hasRight || left.Current.CompareTo(right.Current) <= 0))
            {
                yield return left.Current;
                hasLeft = left.MoveNext();
            }
            else
            {
                yield return right.Current;
                hasRight = right.MoveNext();
            }
        }
    }

    /// <summary>A run's entries in order, read block by block.</summary>
    private static IEnumerable<(uint Tag, long Address)> Scan(Run run)
    {
        var buffer = new byte[BlockBytes];
        for (var b = 0; b < run.FirstTags.Length; b++)
        {
            var entries = run.ReadBlock(b, buffer);
            for (var i = 0; i < entries; i++)
            {
                yield return Run.Entry(buffer, i);
            }
        }
    }

    /// <summary>Writes sorted entries (at most <paramref name="capacity"/>) to a new run file, with its filter and block tags.</summary>
    private Run Write(long capacity, IEnumerable<(uint Tag, long Address)> sorted)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, $"{name}.{nextRun++}.run");
        var bloom = new Bloom(capacity);
        var firstTags = new List<uint>();
        var count = 0;
        var buffer = new byte[BlockBytes];
        try
        {
            using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 1 << 16);
            var inBlock = 0;
            foreach (var (tag, address) in sorted)
            {
                if (inBlock == 0)
                {
                    firstTags.Add(tag);
                }

                BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(inBlock * EntryBytes), tag);
                BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(inBlock * EntryBytes + 4), address);
                bloom.Add(tag);
                count++;
                if (++inBlock == EntriesPerBlock)
                {
                    file.Write(buffer);
                    inBlock = 0;
                }
            }

            if (inBlock > 0)
            {
                file.Write(buffer.AsSpan(0, inBlock * EntryBytes));
            }
        }
        catch
        {
            File.Delete(path);
            throw;
        }

        return new Run(path, File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete), count, [.. firstTags], bloom);
    }

    /// <summary>One run: its file, open for reading, its entry count, the first tag of each block, and its filter.</summary>
    private sealed class Run(string path, SafeFileHandle handle, int count, uint[] firstTags, Bloom bloom)
    {
        public string Path { get; } = path;

        public SafeFileHandle Handle { get; } = handle;

        public int Count { get; } = count;

        public uint[] FirstTags { get; } = firstTags;

        public long MemoryBytes => FirstTags.Length * sizeof(uint) + bloom.Bytes;

        public bool MayHold(uint tag) => bloom.MayHold(tag);

        /// <summary>Reads block <paramref name="block"/> into <paramref name="into"/> (at least a block long); returns its entry count.</summary>
        public int ReadBlock(int block, byte[] into)
        {
            var entries = block < FirstTags.Length - 1 ? EntriesPerBlock : Count - block * EntriesPerBlock;
            return RandomAccess.Read(Handle, into.AsSpan(0, entries * EntryBytes), (long)block * BlockBytes) == entries * EntryBytes
                ? entries
                : throw new IOException($"The index run {Path} is shorter than it was written: it was changed by something else.");
        }

        /// <summary>Entry <paramref name="i"/> of a block read by <see cref="ReadBlock"/>.</summary>
        public static (uint Tag, long Address) Entry(byte[] block, int i) =>
            (BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(i * EntryBytes)), BinaryPrimitives.ReadInt64LittleEndian(block.AsSpan(i * EntryBytes + 4)));

        public void Delete()
        {
            Handle.Dispose();
            File.Delete(Path);
        }
    }

    /// <summary>A Bloom filter of tags: about 10 bits and 7 probes an entry (about 1 % false positives).</summary>
    private sealed class Bloom
    {
        private const int Probes = 7;
        private readonly ulong[] bits;
        private readonly ulong size;

        public Bloom(long entries)
        {
            size = (ulong)Math.Max(64, entries * 10);
            bits = new ulong[(size + 63) / 64];
        }

        public long Bytes => bits.LongLength * sizeof(ulong);

        public void Add(uint tag)
        {
            var (h1, h2) = Hashes(tag);
            for (var i = 0UL; i < Probes; i++)
            {
                var bit = (h1 + i * h2) % size;
                bits[bit >> 6] |= 1UL << (int)(bit & 63);
            }
        }

        public bool MayHold(uint tag)
        {
            var (h1, h2) = Hashes(tag);
            for (var i = 0UL; i < Probes; i++)
            {
                var bit = (h1 + i * h2) % size;
                if ((bits[bit >> 6] & (1UL << (int)(bit & 63))) == 0)
                {
                    return false;
                }
            }

            return true;
        }

        // A tag is already hash bits (XxHash3's, seeded per process); mixing it gives the second probe stride.
        private static (ulong, ulong) Hashes(uint tag)
        {
            var mixed = tag * 0x9E3779B97F4A7C15UL;
            return (tag, (mixed >> 32) | 1);
        }
    }
}
