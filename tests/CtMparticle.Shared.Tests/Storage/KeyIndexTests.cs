using CsCheck;
using CtMparticle.Embedded.Log;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The log's in-memory index (ADR 0007) against a dictionary, on random runs of sets, finds and removals whose keys
/// share a handful of hashes: a hash match must never stand for the key, and a removal must leave every other key
/// findable (the probe run shifted back, across the table's end too).
/// </summary>
public sealed class KeyIndexTests
{
    [Fact]
    public void SetFindRemove_WithKeysSharingFewHashes_AnswerAsADictionaryDoes()
    {
        var operation = Gen.Select(Gen.Int[0, 2], Gen.Int[0, 60]);
        Gen.Select(operation.Array[1, 400], Gen.Int[1, 9], Gen.Int[1, 64]).Sample((operations, hashes, capacity) =>
        {
            var index = new KeyIndex(capacity);
            var model = new Dictionary<int, long>();
            var keyAt = new Dictionary<long, int>(); // what "reading the record" at an address finds
            var next = StateLog.Address(1, 0);
            foreach (var (kind, key) in operations)
            {
                var hash = Hash(key, hashes);
                switch (kind)
                {
                    case 0:
                        var address = ++next;
                        keyAt[address] = key;
                        Assert.Equal(model.GetValueOrDefault(key), index.Set(hash, address, key, IsKey));
                        model[key] = address;
                        break;
                    case 1:
                        Assert.Equal(model.GetValueOrDefault(key), index.Find(hash, key, IsKey));
                        break;
                    default:
                        Assert.Equal(model.GetValueOrDefault(key), index.Remove(hash, key, IsKey));
                        model.Remove(key);
                        break;
                }

                Assert.Equal(model.Count, index.Count);
            }

            foreach (var key in Enumerable.Range(0, 61))
            {
                Assert.Equal(model.GetValueOrDefault(key), index.Find(Hash(key, hashes), key, IsKey));
            }

            bool IsKey(int wanted, long address) => keyAt[address] == wanted;
        }, iter: 2_000);
    }

    [Fact]
    public void Set_OfAMillionKeys_GrowsWithinTheMemoryBudgetAndFindsEveryOne()
    {
        var index = new KeyIndex();
        const int Keys = 1_000_000;
        for (var i = 1; i <= Keys; i++)
        {
            index.Set(KeyIndex.Hash(Name(i)), StateLog.Address(1, i), i, SameKey);
        }

        Assert.Equal(Keys, index.Count);
        Assert.All(Enumerable.Range(1, Keys).Where(i => i % 997 == 0), i => Assert.Equal(StateLog.Address(1, i), index.Find(KeyIndex.Hash(Name(i)), i, SameKey)));
        Assert.Equal(0, index.Find(KeyIndex.Hash(Name(Keys + 1)), Keys + 1, SameKey));
        // 16 bytes a slot, between half and three quarters full: at most 32 bytes a key (ADR 0007's budget), 21-32 MB here.
        Assert.InRange(index.TableBytes, 16L * Keys * 4 / 3, 16L * Keys * 2);

        static bool SameKey(int wanted, long address) => (address & ((1L << 40) - 1)) == wanted;
        static string Name(int i) => $"event-{i:D8}";
    }

    [Fact]
    public void HashLists_AddRemoveOf_AnswerAsADictionaryOfSetsDoes()
    {
        // Few owners and members, so owners pass from none to one member to several and back many times.
        var operation = Gen.Select(Gen.Bool, Gen.ULong[0, 5], Gen.ULong[0, 6]);
        operation.Array[1, 300].Sample(operations =>
        {
            var lists = new HashLists();
            var model = new Dictionary<ulong, HashSet<ulong>>();
            foreach (var (add, owner, member) in operations)
            {
                var set = model.TryGetValue(owner, out var found) ? found : model[owner] = [];
                Assert.Equal(add ? set.Add(member) : set.Remove(member), add ? lists.Add(owner, member) : lists.Remove(owner, member));
                if (set.Count == 0)
                {
                    model.Remove(owner);
                }

                Assert.Equal(model.Count, lists.Count);
                Assert.Equal(set.Order(), lists.Of(owner).Order());
            }
        }, iter: 2_000);
    }

    // A hash shared by many keys: keys k and k + hashes collide, and the home slots cluster.
    private static ulong Hash(int key, int hashes) => (ulong)(key % hashes) * 0x9E3779B97F4A7C15UL;
}
