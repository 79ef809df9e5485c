using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// An in-memory index of ADR 0007 (step 2's building block): from a key's 64-bit hash to the log address of the key's
/// newest record, 16 bytes a slot, open addressing with linear probing and no tombstones (a removal shifts its probe
/// run back). The index never holds keys: a hash match is only a candidate, which the caller confirms by reading the
/// record at the address and comparing the whole key (<c>isKey</c>). So two keys with one hash are two entries, and a
/// collision costs a read, never a wrong answer. The table grows by half when three quarters full, so it is between half
/// and three quarters full (21 to 32 bytes a key; a power-of-two table, a third to two thirds full, took 23 to 46). One
/// thread at a time.
/// </summary>
internal sealed class KeyIndex
{
    private const double MaxLoad = 0.75;
    private const double Growth = 1.5;
    private ulong[] hashes;
    private long[] addresses; // 0: an empty slot (a log address is never 0: segments count from 1)
    private int limit;

    public KeyIndex(int capacity = 1024)
    {
        var size = (int)Math.Max(16, Math.Ceiling(capacity / MaxLoad) + 1);
        hashes = new ulong[size];
        addresses = new long[size];
        limit = (int)(size * MaxLoad);
    }

    /// <summary>The number of keys indexed.</summary>
    public int Count { get; private set; }

    /// <summary>The bytes the index's tables take (what ADR 0007's memory budget counts).</summary>
    public long TableBytes => (long)hashes.Length * (sizeof(ulong) + sizeof(long));

    /// <summary>The address of <paramref name="isKey"/>'s key, or 0 when it is not indexed.</summary>
    public long Find<TState>(ulong hash, TState state, Func<TState, long, bool> isKey)
    {
        for (var i = Home(hash); addresses[i] != 0; i = Next(i))
        {
            if (hashes[i] == hash && isKey(state, addresses[i]))
            {
                return addresses[i];
            }
        }

        return 0;
    }

    /// <summary>Points the key at <paramref name="address"/>; returns the address it replaced, or 0 for a new key.</summary>
    public long Set<TState>(ulong hash, long address, TState state, Func<TState, long, bool> isKey)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(address, 0);
        var i = Home(hash);
        for (; addresses[i] != 0; i = Next(i))
        {
            if (hashes[i] == hash && isKey(state, addresses[i]))
            {
                var replaced = addresses[i];
                addresses[i] = address;
                return replaced;
            }
        }

        hashes[i] = hash;
        addresses[i] = address;
        if (++Count > limit)
        {
            Grow();
        }

        return 0;
    }

    /// <summary>Forgets the key; returns the address it pointed at, or 0 when it was not indexed.</summary>
    public long Remove<TState>(ulong hash, TState state, Func<TState, long, bool> isKey)
    {
        var i = Home(hash);
        for (; addresses[i] != 0; i = Next(i))
        {
            if (hashes[i] == hash && isKey(state, addresses[i]))
            {
                var removed = addresses[i];
                ShiftBack(i);
                Count--;
                return removed;
            }
        }

        return 0;
    }

    /// <summary>Adds an entry the caller knows is new (a replay of the log, whose records say so): no key is read.</summary>
    public void Insert(ulong hash, long address)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(address, 0);
        var i = Home(hash);
        while (addresses[i] != 0)
        {
            i = Next(i);
        }

        hashes[i] = hash;
        addresses[i] = address;
        if (++Count > limit)
        {
            Grow();
        }
    }

    /// <summary>
    /// Points the entry that holds <paramref name="from"/> at <paramref name="to"/> instead (a key's newer record,
    /// whose record names the one it follows), or with <paramref name="to"/> 0 removes it. No key is read: the address
    /// is the entry's identity. False when no entry holds <paramref name="from"/>.
    /// </summary>
    public bool Move(ulong hash, long from, long to)
    {
        for (var i = Home(hash); addresses[i] != 0; i = Next(i))
        {
            if (hashes[i] == hash && addresses[i] == from)
            {
                if (to != 0)
                {
                    addresses[i] = to;
                }
                else
                {
                    ShiftBack(i);
                    Count--;
                }

                return true;
            }
        }

        return false;
    }

    /// <summary>The addresses of every entry of <paramref name="hash"/> (the keys that share it, usually one).</summary>
    public List<long> All(ulong hash)
    {
        var found = new List<long>(1);
        for (var i = Home(hash); addresses[i] != 0; i = Next(i))
        {
            if (hashes[i] == hash)
            {
                found.Add(addresses[i]);
            }
        }

        return found;
    }

    /// <summary>Whether an entry of <paramref name="hash"/> holds exactly <paramref name="address"/> (no key is read).</summary>
    public bool Holds(ulong hash, long address)
    {
        for (var i = Home(hash); addresses[i] != 0; i = Next(i))
        {
            if (hashes[i] == hash && addresses[i] == address)
            {
                return true;
            }
        }

        return false;
    }

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

    /// <summary>A hash's home slot: its folded 32 bits scaled to the table's size (any size, no power of two needed).</summary>
    private int Home(ulong hash) => (int)((ulong)(uint)(hash ^ (hash >> 32)) * (ulong)hashes.Length >> 32);

    private int Next(int i) => i + 1 == hashes.Length ? 0 : i + 1;

    /// <summary>Empties slot <paramref name="hole"/> and moves later entries of its probe run back into it (no tombstones).</summary>
    private void ShiftBack(int hole)
    {
        for (var j = Next(hole); addresses[j] != 0; j = Next(j))
        {
            var home = Home(hashes[j]);
            // The entry at j may move to the hole only if its home is not cyclically within (hole, j].
            var stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
            if (!stays)
            {
                hashes[hole] = hashes[j];
                addresses[hole] = addresses[j];
                hole = j;
            }
        }

        addresses[hole] = 0;
        hashes[hole] = 0;
    }

    private void Grow()
    {
        var (oldHashes, oldAddresses) = (hashes, addresses);
        var size = (int)Math.Min(Array.MaxLength, oldHashes.Length * Growth);
        hashes = new ulong[size];
        addresses = new long[size];
        limit = (int)(hashes.Length * MaxLoad);
        for (var k = 0; k < oldHashes.Length; k++)
        {
            if (oldAddresses[k] == 0)
            {
                continue;
            }

            var i = Home(oldHashes[k]);
            while (addresses[i] != 0)
            {
                i = Next(i);
            }

            hashes[i] = oldHashes[k];
            addresses[i] = oldAddresses[k];
        }
    }
}
