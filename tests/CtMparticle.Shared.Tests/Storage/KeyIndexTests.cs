using CsCheck;
using CtMparticle.Embedded.Log;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The log's in-memory index (ADR 0007) against a dictionary, on random runs of sets, finds, removals and moves whose
/// keys share a handful of kept hash bits and hashes: a hash match must never stand for the key, and a removal
/// must leave every other key findable (the probe run shifted back, across the table's end too).
/// </summary>
public sealed class KeyIndexTests
{
    [Fact]
    public void SetFindRemove_WithKeysSharingFewHashes_AnswerAsADictionaryDoes()
    {
        var operation = Gen.Select(Gen.Int[0, 4], Gen.Int[0, 60]);
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
                    case 2:
                        Assert.Equal(model.GetValueOrDefault(key), index.Remove(hash, key, IsKey));
                        model.Remove(key);
                        break;
                    case 3:
                        // A newer record of the key (the replay's way: by address, no key read), or a forgetting.
                        var from = model.GetValueOrDefault(key);
                        var to = from != 0 && key % 2 == 0 ? ++next : 0;
                        Assert.Equal(from != 0, index.Move(hash, from == 0 ? 1 : from, to));
                        if (to != 0)
                        {
                            keyAt[to] = key;
                            model[key] = to;
                        }
                        else
                        {
                            model.Remove(key);
                        }

                        break;
                    default:
                        // Candidates: every key of the same hash among them, and nothing that is not indexed.
                        var candidates = index.All(hash);
                        Assert.All(model.Where(m => Hash(m.Key, hashes) == hash), m => Assert.Contains(m.Value, candidates));
                        Assert.All(candidates, c => Assert.Contains(c, model.Values));
                        Assert.Equal(model.TryGetValue(key, out var held), held != 0 && index.Holds(hash, held));
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
        // 12 bytes a slot, between half and three quarters full: 16 to 24 bytes a key, 16-24 MB here (ADR
        // 0007's budget was 32 bytes a key).
        Assert.InRange(index.TableBytes, 12L * Keys * 4 / 3, 12L * Keys * 2);

        static bool SameKey(int wanted, long address) => (address & ((1L << 40) - 1)) == wanted;
        static string Name(int i) => $"event-{i:D8}";
    }

    // Hashes shared by many keys (k and k + 6 * hashes collide), whose kept low 32 bits are shared too by keys whose
    // hashes differ only in the bits above (k % 6): the home slots cluster.
    private static ulong Hash(int key, int hashes) =>
        ((ulong)(key % 2) << 56) | ((ulong)(key % 3) << 40) | (uint)((ulong)(key % hashes) * 0x9E3779B97F4A7C15UL >> 32);
}
