using CsCheck;
using CtMparticle.Embedded.Log;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The index that writes its older entries to files (<see cref="SpillingKeyIndex"/>) against the in-memory
/// <see cref="KeyIndex"/> as its oracle, on random runs of the operations the log's stores use (new entries, moves to a
/// newer record, removals, and a rollback's undo of each, after which the log gives the freed address to the next
/// record, of any key), with keys sharing a few hashes and a spill every 1 to 8 entries, so entries pass from memory to
/// runs, runs merge, and entries of runs die and come back to life.
/// </summary>
public sealed class SpillingKeyIndexTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"ctmp-spill-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void HashLists_AddRemoveOf_WithSpills_AnswerAsADictionaryOfSetsDoes()
    {
        // Few owners and members, so owners pass from none to one member to several and back many times, their
        // entries in memory and in runs. Members include hashes with the top bit set and 0: a member comes back with
        // its low 32 bits (the link index's tag) kept, and two members are never taken for one.
        ulong[] members = [0, 1, 42, 0x8000_0000_0000_0002, 0x9E37_79B9_7F4A_7C15, 0xFFFF_FFFF_0000_0003];
        var operation = Gen.Select(Gen.Bool, Gen.ULong[0, 5], Gen.Int[0, members.Length - 1]);
        var run = 0;
        Gen.Select(operation.Array[1, 300], Gen.Int[1, 8]).Sample((operations, spillAt) =>
        {
            using var index = new SpillingKeyIndex(Path.Combine(folder, $"{Interlocked.Increment(ref run)}"), "lists", spillAt);
            var lists = new HashLists(index);
            var model = new Dictionary<ulong, HashSet<ulong>>();
            foreach (var (add, owner, which) in operations)
            {
                var member = members[which];
                var set = model.TryGetValue(owner, out var found) ? found : model[owner] = [];
                Assert.Equal(add ? set.Add(member) : set.Remove(member), add ? lists.Add(owner, member) : lists.Remove(owner, member));
                Assert.Equal(set.Select(KeyIndex.Tag).Order(), lists.Of(owner).Select(KeyIndex.Tag).Order());
            }
        }, iter: 2_000);
    }

    [Fact]
    public void EveryOperation_WithSpillsAndMerges_AnswersAsTheInMemoryIndexDoes()
    {
        var operation = Gen.Select(Gen.Int[0, 5], Gen.Int[0, 40]);
        var run = 0;
        Gen.Select(operation.Array[1, 300], Gen.Int[1, 7], Gen.Int[1, 8]).Sample((operations, hashes, spillAt) =>
        {
            using var index = new SpillingKeyIndex(Path.Combine(folder, $"{Interlocked.Increment(ref run)}"), "test", spillAt);
            var oracle = new KeyIndex();
            var keyAt = new Dictionary<long, int>(); // what "reading the record" at an address finds
            var newest = new Dictionary<int, long>();
            (Action Index, Action Oracle, int Key, long Address)? undo = null;
            var next = StateLog.Address(1, 0);
            foreach (var (kind, key) in operations)
            {
                var hash = Hash(key, hashes);
                var held = newest.GetValueOrDefault(key);
                switch (kind)
                {
                    case 0 when held == 0:
                        var added = ++next;
                        keyAt[added] = key;
                        index.Insert(hash, added);
                        oracle.Insert(hash, added);
                        newest[key] = added;
                        undo = (() => index.Move(hash, added, 0), () => oracle.Move(hash, added, 0), key, 0);
                        break;
                    case 1:
                        // A newer record of the key, or (odd keys) a forgetting; a key not held moves nothing.
                        var to = key % 2 == 0 ? ++next : 0;
                        keyAt[to] = key;
                        Assert.Equal(oracle.Move(hash, held == 0 ? 1 : held, to), index.Move(hash, held == 0 ? 1 : held, to));
                        if (held != 0)
                        {
                            newest[key] = to;
                            undo = to == 0
                                ? (() => index.Insert(hash, held), () => oracle.Insert(hash, held), key, held)
                                : (() => index.Move(hash, to, held), () => oracle.Move(hash, to, held), key, held);
                        }

                        break;
                    case 2 when undo is { } last:
                        // A rollback: the last change undone (an entry of a run marked dead comes back to life). The
                        // log is cut back, so the next record takes the freed address again, for any key.
                        last.Index();
                        last.Oracle();
                        var freed = newest.GetValueOrDefault(last.Key);
                        newest[last.Key] = last.Address;
                        next = freed == next ? next - 1 : next;
                        undo = null;
                        break;
                    case 3:
                        Assert.Equal(oracle.Find(hash, key, IsKey), index.Find(hash, key, IsKey));
                        break;
                    case 4:
                        Assert.Equal(oracle.All(hash).Order(), index.All(hash).Order());
                        break;
                    default:
                        Assert.Equal(held != 0 && oracle.Holds(hash, held), held != 0 && index.Holds(hash, held));
                        Assert.False(index.Holds(hash, next + 1));
                        break;
                }

                Assert.Equal(oracle.Count, index.Count);
            }

            foreach (var key in Enumerable.Range(0, 41))
            {
                Assert.Equal(oracle.Find(Hash(key, hashes), key, IsKey), index.Find(Hash(key, hashes), key, IsKey));
            }

            Assert.InRange(index.Runs, 0, 12);
            bool IsKey(int wanted, long address) => keyAt.TryGetValue(address, out var at) && at == wanted;
        }, iter: 1_000);
    }

    [Fact]
    public void ManyEntriesOfOneTag_AcrossBlocksOfARun_AreAllFound()
    {
        // 341 entries fill a run's 4 KB block: a tag's entries here span many blocks and begin inside one.
        using var index = new SpillingKeyIndex(folder, "shared", spillAt: 1_500);
        var oracle = new KeyIndex();
        var byHash = new Dictionary<ulong, List<long>>();
        for (var i = 1; i <= 5_000; i++)
        {
            var hash = Hash(i, 3);
            index.Insert(hash, StateLog.Address(1, i));
            oracle.Insert(hash, StateLog.Address(1, i));
            (byHash.TryGetValue(hash, out var list) ? list : byHash[hash] = []).Add(StateLog.Address(1, i));
        }

        Assert.True(index.Runs >= 1);
        foreach (var (hash, addresses) in byHash)
        {
            // Candidates by the kept tag: this hash's entries and those of hashes that share its low 32 bits.
            Assert.Equal(oracle.All(hash).Order(), index.All(hash).Order());
            Assert.Subset(index.All(hash).ToHashSet(), addresses.ToHashSet());
            Assert.All(addresses.Where(a => a % 101 == 0), a => Assert.Equal(a, index.Find(hash, a, (wanted, at) => at == wanted)));
            Assert.All(addresses.Where(a => a % 101 == 0), a => Assert.True(index.Holds(hash, a)));
        }
    }

    [Fact]
    public void ASpillThatCannotBeWritten_KeepsTheEntriesInMemory_AndIsTriedAgainLater()
    {
        // The runs' folder cannot be made (a file is in its place): the index goes on in memory, losing nothing.
        Directory.CreateDirectory(folder);
        var blocked = Path.Combine(folder, "blocked");
        File.WriteAllText(blocked, "not a folder");
        using var index = new SpillingKeyIndex(blocked, "events", spillAt: 4);
        var oracle = new KeyIndex();
        for (var i = 1; i <= 10; i++)
        {
            index.Insert(Hash(i, 41), StateLog.Address(1, i));
            oracle.Insert(Hash(i, 41), StateLog.Address(1, i));
        }

        Assert.Equal(0, index.Runs);
        Assert.True(index.Move(Hash(3, 41), StateLog.Address(1, 3), StateLog.Address(1, 33)));
        oracle.Move(Hash(3, 41), StateLog.Address(1, 3), StateLog.Address(1, 33));

        // The disk is back: the next spill writes everything held.
        File.Delete(blocked);
        for (var i = 11; i <= 20; i++)
        {
            index.Insert(Hash(i, 41), StateLog.Address(1, i));
            oracle.Insert(Hash(i, 41), StateLog.Address(1, i));
        }

        Assert.True(index.Runs >= 1);
        Assert.Equal(oracle.Count, index.Count);
        Assert.All(Enumerable.Range(1, 20), i => Assert.Equal(oracle.All(Hash(i, 41)).Order(), index.All(Hash(i, 41)).Order()));
    }

    [Fact]
    public void AMillionKeys_SpilledToRuns_AreEachFoundAndHoldLittleMemory()
    {
        using var index = new SpillingKeyIndex(folder, "events");
        const int Keys = 1_000_000;
        for (var i = 1; i <= Keys; i++)
        {
            index.Insert(KeyIndex.Hash(Name(i)), StateLog.Address(1, i));
        }

        Assert.Equal(Keys, index.Count);
        Assert.All(Enumerable.Range(1, Keys).Where(i => i % 997 == 0), i => Assert.Equal(StateLog.Address(1, i), index.Find(KeyIndex.Hash(Name(i)), i, SameKey)));
        Assert.Equal(0, index.Find(KeyIndex.Hash(Name(Keys + 1)), Keys + 1, SameKey));
        Assert.True(index.Move(KeyIndex.Hash(Name(7)), StateLog.Address(1, 7), 0));
        Assert.Equal(0, index.Find(KeyIndex.Hash(Name(7)), 7, SameKey));
        Assert.Equal(Keys - 1, index.Count);

        // Merged runs of similar sizes: a handful, not one per spill.
        Assert.InRange(index.Runs, 1, 6);
        // The in-memory table holds at most SpillAt entries (16 to 24 bytes each); the runs about 1.3 bytes an entry.
        // The KeyIndex of the same keys takes 16-24 MB.
        Assert.InRange(index.TableBytes, 1L, 4L * 1024 * 1024);
        Assert.NotEmpty(Directory.EnumerateFiles(folder, "events.*.run"));

        index.Dispose();
        Assert.Empty(Directory.EnumerateFiles(folder));

        static bool SameKey(int wanted, long address) => (address & ((1L << 40) - 1)) == wanted;
        static string Name(int i) => $"event-{i:D8}";
    }

    // As KeyIndexTests': hashes shared by many keys, and low 32 bits (the kept tag) shared by keys whose hashes differ above.
    private static ulong Hash(int key, int hashes) =>
        ((ulong)(key % 2) << 56) | ((ulong)(key % 3) << 40) | (uint)((ulong)(key % hashes) * 0x9E3779B97F4A7C15UL >> 32);
}
