using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// An in-memory index of ADR 0007 (step 2's building block): from a key's 64-bit hash to the log address of the key's
/// newest record, open addressing with linear probing and no tombstones (a removal shifts its probe run back). The index
/// never holds keys: a hash match is only a candidate, which the caller confirms by reading the record at the address
/// and comparing the whole key (<c>isKey</c>). So two keys with one hash are two entries, and a collision costs a read,
/// never a wrong answer.
/// <para>
/// A slot keeps the hash's low 32 bits and the address, 12 bytes (16 with the whole hash: two hashes that differ only
/// in the bits not kept are candidates for each other, confirmed by the read as any collision is). The table grows by
/// half when three quarters full, so it is between half and three quarters full (16 to 24 bytes a key). It is one table
/// on purpose: 256 shards of small arrays (each growth a 256th of the copy) were tried and measured. At 1,000,000
/// deliveries they held 17 MB less after a full collection, but the run's peak rose from 440 to 521 MB, most likely
/// because a grown-out shard's arrays leave holes in the collector's second generation, which its background
/// collections do not compact, where a large table's old arrays leave the large-object heap whole.
/// </para>
/// One thread at a time.
/// </summary>
internal sealed class KeyIndex : IKeyIndex
{
    private Table table;

    public KeyIndex(int capacity = 1024) => table = new Table(capacity);

    /// <summary>The number of keys indexed.</summary>
    public int Count => table.Count;

    /// <summary>The bytes the index's tables take (what ADR 0007's memory budget counts).</summary>
    public long TableBytes => table.Bytes;

    /// <summary>The address of <paramref name="isKey"/>'s key, or 0 when it is not indexed.</summary>
    public long Find<TState>(ulong hash, TState state, Func<TState, long, bool> isKey)
    {
        var tag = Tag(hash);
        for (var i = table.Home(tag); table.Addresses[i] != 0; i = table.Next(i))
        {
            if (table.Tags[i] == tag && isKey(state, table.Addresses[i]))
            {
                return table.Addresses[i];
            }
        }

        return 0;
    }

    /// <summary>Points the key at <paramref name="address"/>; returns the address it replaced, or 0 for a new key.</summary>
    public long Set<TState>(ulong hash, long address, TState state, Func<TState, long, bool> isKey)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(address, 0);
        var tag = Tag(hash);
        var i = table.Home(tag);
        for (; table.Addresses[i] != 0; i = table.Next(i))
        {
            if (table.Tags[i] == tag && isKey(state, table.Addresses[i]))
            {
                var replaced = table.Addresses[i];
                table.Addresses[i] = address;
                return replaced;
            }
        }

        table.Fill(i, tag, address);
        return 0;
    }

    /// <summary>Forgets the key; returns the address it pointed at, or 0 when it was not indexed.</summary>
    public long Remove<TState>(ulong hash, TState state, Func<TState, long, bool> isKey)
    {
        var tag = Tag(hash);
        for (var i = table.Home(tag); table.Addresses[i] != 0; i = table.Next(i))
        {
            if (table.Tags[i] == tag && isKey(state, table.Addresses[i]))
            {
                var removed = table.Addresses[i];
                table.Empty(i);
                return removed;
            }
        }

        return 0;
    }

    /// <summary>Adds an entry the caller knows is new (a replay of the log, whose records say so): no key is read.</summary>
    public void Insert(ulong hash, long address)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(address, 0);
        var tag = Tag(hash);
        var i = table.Home(tag);
        while (table.Addresses[i] != 0)
        {
            i = table.Next(i);
        }

        table.Fill(i, tag, address);
    }

    /// <summary>
    /// Points the entry that holds <paramref name="from"/> at <paramref name="to"/> instead (a key's newer record,
    /// whose record names the one it follows), or with <paramref name="to"/> 0 removes it. No key is read: the address
    /// is the entry's identity. False when no entry holds <paramref name="from"/>.
    /// </summary>
    public bool Move(ulong hash, long from, long to)
    {
        var tag = Tag(hash);
        for (var i = table.Home(tag); table.Addresses[i] != 0; i = table.Next(i))
        {
            if (table.Tags[i] == tag && table.Addresses[i] == from)
            {
                if (to != 0)
                {
                    table.Addresses[i] = to;
                }
                else
                {
                    table.Empty(i);
                }

                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The addresses of every entry that may be <paramref name="hash"/>'s (the keys that share it, usually one; rarely a
    /// key whose hash differs only in the bits a slot does not keep): candidates, for the caller to confirm.
    /// </summary>
    public List<long> All(ulong hash)
    {
        var found = new List<long>(1);
        var tag = Tag(hash);
        for (var i = table.Home(tag); table.Addresses[i] != 0; i = table.Next(i))
        {
            if (table.Tags[i] == tag)
            {
                found.Add(table.Addresses[i]);
            }
        }

        return found;
    }

    /// <summary>Whether an entry of <paramref name="hash"/> holds exactly <paramref name="address"/> (no key is read).</summary>
    public bool Holds(ulong hash, long address)
    {
        var tag = Tag(hash);
        for (var i = table.Home(tag); table.Addresses[i] != 0; i = table.Next(i))
        {
            if (table.Tags[i] == tag && table.Addresses[i] == address)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Every entry, in table order (what <see cref="SpillingKeyIndex"/> writes out before <see cref="Clear"/>).</summary>
    public IEnumerable<(uint Tag, long Address)> Entries()
    {
        for (var i = 0; i < table.Tags.Length; i++)
        {
            if (table.Addresses[i] != 0)
            {
                yield return (table.Tags[i], table.Addresses[i]);
            }
        }
    }

    /// <summary>Forgets every entry and gives the table back (a new small one takes its place).</summary>
    public void Clear() => table = new Table(1024);

    /// <summary>A key's hash: XxHash3 of its UTF-16 code units, seeded per process so keys cannot be chosen to collide.</summary>
    public static ulong Hash(ReadOnlySpan<char> key) => XxHash3.HashToUInt64(MemoryMarshal.AsBytes(key), Seed);

    /// <summary>An id's hash, seeded as <see cref="Hash(ReadOnlySpan{char})"/>.</summary>
    public static ulong Hash(Guid id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.TryWriteBytes(bytes);
        return XxHash3.HashToUInt64(bytes, Seed);
    }

    private static readonly long Seed = Random.Shared.NextInt64();

    /// <summary>The part of a hash a slot keeps: its low 32 bits.</summary>
    public static uint Tag(ulong hash) => (uint)hash;

    /// <summary>The table: parallel arrays of tags and addresses (address 0: an empty slot; a log address is never 0).</summary>
    private sealed class Table
    {
        private const double MaxLoad = 0.75;
        private const double Growth = 1.5;
        private int limit;

        public Table(int capacity)
        {
            var size = (int)Math.Max(16, Math.Ceiling(capacity / MaxLoad) + 1);
            Tags = new uint[size];
            Addresses = new long[size];
            limit = (int)(size * MaxLoad);
        }

        public uint[] Tags { get; private set; }

        public long[] Addresses { get; private set; }

        public int Count { get; private set; }

        public long Bytes => (long)Tags.Length * (sizeof(uint) + sizeof(long));

        /// <summary>A tag's home slot: the tag scaled to the table's size (any size, no power of two needed).</summary>
        public int Home(uint tag) => (int)((ulong)tag * (ulong)Tags.Length >> 32);

        public int Next(int i) => i + 1 == Tags.Length ? 0 : i + 1;

        /// <summary>Fills the empty slot <paramref name="i"/> (the end of its probe run), growing the table past its load.</summary>
        public void Fill(int i, uint tag, long address)
        {
            Tags[i] = tag;
            Addresses[i] = address;
            if (++Count > limit)
            {
                Grow();
            }
        }

        /// <summary>Empties slot <paramref name="hole"/> and moves later entries of its probe run back into it (no tombstones).</summary>
        public void Empty(int hole)
        {
            Count--;
            for (var j = Next(hole); Addresses[j] != 0; j = Next(j))
            {
                var home = Home(Tags[j]);
                // The entry at j may move to the hole only if its home is not cyclically within (hole, j].
                var stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
                if (!stays)
                {
                    Tags[hole] = Tags[j];
                    Addresses[hole] = Addresses[j];
                    hole = j;
                }
            }

            Addresses[hole] = 0;
            Tags[hole] = 0;
        }

        private void Grow()
        {
            var (oldTags, oldAddresses) = (Tags, Addresses);
            var size = (int)Math.Min(Array.MaxLength, oldTags.Length * Growth);
            Tags = new uint[size];
            Addresses = new long[size];
            limit = (int)(size * MaxLoad);
            for (var k = 0; k < oldTags.Length; k++)
            {
                if (oldAddresses[k] == 0)
                {
                    continue;
                }

                var i = Home(oldTags[k]);
                while (Addresses[i] != 0)
                {
                    i = Next(i);
                }

                Tags[i] = oldTags[k];
                Addresses[i] = oldAddresses[k];
            }
        }
    }
}
