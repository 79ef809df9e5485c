using CsCheck;
using CtMparticle.Embedded.Log;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The ledger's list of addresses whose older entries live in a file (<see cref="SpillingAddressList"/>) against a
/// <see cref="List{T}"/> as its oracle, on random runs of what the ledger does (adds, changes of any entry, removals
/// of the last ones as a rollback's undo), with a chunk of 1 to 6 entries, so entries pass to the file and back.
/// </summary>
public sealed class SpillingAddressListTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"ctmp-list-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void EveryOperation_WithSpills_AnswersAsAListDoes()
    {
        var operation = Gen.Select(Gen.Int[0, 3], Gen.Int[0, 1_000], Gen.Long[1, long.MaxValue]);
        var run = 0;
        Gen.Select(operation.Array[1, 200], Gen.Int[1, 6]).Sample((operations, chunk) =>
        {
            using var list = new SpillingAddressList(Path.Combine(folder, $"{Interlocked.Increment(ref run)}"), "inputs", chunk);
            var oracle = new List<long>();
            foreach (var (kind, at, address) in operations)
            {
                switch (kind)
                {
                    case 0 or 1: // adds are the ledger's commonest operation
                        list.Add(address);
                        oracle.Add(address);
                        break;
                    case 2 when oracle.Count > 0:
                        var position = at % oracle.Count;
                        list[position] = address;
                        oracle[position] = address;
                        break;
                    case 3 when oracle.Count > 0:
                        // A rollback removes a batch's inputs, newest first: one to a few entries.
                        for (var n = Math.Min(oracle.Count, 1 + (at % 4)); n > 0; n--)
                        {
                            list.RemoveLast();
                            oracle.RemoveAt(oracle.Count - 1);
                        }

                        break;
                }

                Assert.Equal(oracle.Count, list.Count);
                if (oracle.Count > 0)
                {
                    var probe = at % oracle.Count;
                    Assert.Equal(oracle[probe], list[probe]);
                }
            }

            Assert.Equal(oracle, list.ToArray());
            Assert.InRange(list.Count - list.Spilled, 0, 2 * chunk - 1); // memory holds less than two chunks
        }, iter: 1_000);
    }

    [Fact]
    public void AFileThatCannotBeWritten_KeepsTheEntriesInMemory_LosingNothing()
    {
        // The list's folder cannot be made (a file is in its place): every entry stays in memory.
        Directory.CreateDirectory(folder);
        var blocked = Path.Combine(folder, "blocked");
        File.WriteAllText(blocked, "not a folder");
        using var list = new SpillingAddressList(blocked, "inputs", chunk: 4);
        for (var i = 1; i <= 50; i++)
        {
            list.Add(i);
        }

        Assert.Equal(0, list.Spilled);
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), list.ToArray());
    }

    [Fact]
    public void Dispose_DeletesTheFile()
    {
        var list = new SpillingAddressList(folder, "inputs", chunk: 2);
        for (var i = 1; i <= 10; i++)
        {
            list.Add(i);
        }

        Assert.True(list.Spilled > 0);
        Assert.Single(Directory.EnumerateFiles(folder));
        list.Dispose();
        Assert.Empty(Directory.EnumerateFiles(folder));
    }
}
