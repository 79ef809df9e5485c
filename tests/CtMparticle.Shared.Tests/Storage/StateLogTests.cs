using System.Buffers.Binary;
using CsCheck;
using CtMparticle.Embedded.Log;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The append-only log of ADR 0007, step 1. Its promise is SQLite's: a committed batch is kept whole, an uncommitted or
/// torn one is lost whole, and nothing before the last good commit is ever cut. The crash tests cut a real log file at
/// every byte of its last batches, and damage single bytes, then reopen it.
/// </summary>
public sealed class StateLogTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-log-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    [Fact]
    public void Reopen_AfterCommittedBatches_ReadsEveryRecordBackInOrderAndAtItsAddress()
    {
        Gen.Select(Gen.Byte[1, 254], Gen.Byte.Array[0, 300]).Array[0, 12].Array[1, 6].Sample(batches =>
        {
            var directory = Fresh();
            var written = new List<(long Address, byte Kind, byte[] Payload)>();
            using (var log = StateLog.Open(directory))
            {
                foreach (var batch in batches)
                {
                    written.AddRange(batch.Select(r => (log.Append(r.Item1, r.Item2), r.Item1, r.Item2)));
                    log.Commit(durable: false);
                }
            }

            using var reopened = StateLog.Open(directory);
            Assert.Equal(LogRecovery.Clean with { Batches = batches.Length, Records = written.Count }, reopened.Recovery);
            Assert.Equal(written.Select(Text), reopened.ReadCommitted().Select(Text));
            Assert.All(written, w => Assert.Equal(Text(w), Text(reopened.ReadAt(w.Address))));
            Assert.Equal(batches.Length + 1, reopened.NextBatch);
        }, iter: 200);
    }

    /// <summary>
    /// Reads of recent records come from the in-memory tail, older ones from the file: whatever the tail's size, the
    /// record sizes, rollbacks (whose records overwrote part of the tail) and rollovers, every live address reads back
    /// its own record, before and after a reopen.
    /// </summary>
    [Fact]
    public void ReadAt_ThroughTheTailAndTheFile_WithRollbacksAndRollovers_ReadsEveryLiveRecordBack()
    {
        // Small records, and ones past the first read of a segment file (2 KB), which take a second read.
        var step = Gen.Select(Gen.Int[0, 9], Gen.OneOf(Gen.Byte.Array[0, 120], Gen.Byte.Array[1_900, 4_300]));
        Gen.Select(Gen.Int[9, 300], Gen.Int[50, 600], step.Array[1, 60]).Sample((tailBytes, segmentBytes, steps) =>
        {
            var directory = Fresh();
            var live = new List<(long Address, byte[] Payload)>();
            var open = new List<(long Address, byte[] Payload)>();
            using (var log = StateLog.Open(directory, segmentBytes, tailBytes))
            {
                foreach (var (action, payload) in steps)
                {
                    switch (action)
                    {
                        case 0:
                            log.Commit(durable: false);
                            live.AddRange(open);
                            open.Clear();
                            break;
                        case 1:
                            log.Rollback();
                            open.Clear();
                            break;
                        default:
                            open.Add((log.Append(1, payload), payload));
                            break;
                    }

                    // Every record read first and compared after: a payload must not share the buffer a later read fills.
                    var records = live.Concat(open).ToList();
                    var read = records.Select(r => log.ReadAt(r.Address).Payload).ToList();
                    Assert.All(records.Zip(read), r => Assert.Equal(r.First.Payload, r.Second.ToArray()));
                }

                log.Commit(durable: false);
                live.AddRange(open);
            }

            using var reopened = StateLog.Open(directory, segmentBytes, tailBytes);
            var reread = live.Select(r => reopened.ReadAt(r.Address).Payload).ToList();
            Assert.All(live.Zip(reread), r => Assert.Equal(r.First.Payload, r.Second.ToArray()));
        }, iter: 300);
    }

    [Theory]
    [InlineData(70_000)]
    [InlineData(200_000)]
    [InlineData(65_000)]
    public void ARecordPastTheWritersBuffer_IsReadWholeFromTheFile_RightAfterItsAppendAndBehindSmallerOnes(int size)
    {
        // Past the tail (4 KB here) a read goes to the file; the writer may still buffer its last bytes (its trailer,
        // here) although its first 2 KB lie well before the writer's last 64 KB, so the read must flush them first.
        var payload = new byte[size];
        new Random(size).NextBytes(payload);
        using var log = StateLog.Open(Fresh(), tailBytes: 4096);
        var first = log.Append(1, [1, 2, 3]);
        var large = log.Append(2, payload);
        Assert.Equal(payload, log.ReadAt(large).Payload.ToArray());
        var small = Enumerable.Range(0, 40).Select(i => log.Append(3, new byte[i * 10])).ToList();
        Assert.Equal(payload, log.ReadAt(large).Payload.ToArray());
        Assert.Equal([1, 2, 3], log.ReadAt(first).Payload.ToArray());
        Assert.All(small.Select((address, i) => (address, i)), r => Assert.Equal(r.i * 10, log.ReadAt(r.address).Payload.Length));
    }

    [Fact]
    public void Reopen_WithAnUncommittedBatch_DropsItWholeAndAppendsAfterTheLastCommit()
    {
        var directory = Fresh();
        using (var log = StateLog.Open(directory))
        {
            log.Append(1, "kept"u8);
            log.Commit(durable: true);
            log.Append(1, "lost one"u8);
            log.Append(2, "lost two"u8);
            // closed without a commit: as a process that stopped mid-batch
        }

        using (var log = StateLog.Open(directory))
        {
            Assert.Equal(new LogRecovery(1, 1, 2 * (StateLog.HeaderBytes + 8 + StateLog.TrailerBytes), "2 record(s) after the last commit"), log.Recovery);
            Assert.Equal(["1:kept"], log.ReadCommitted().Select(Text));
            log.Append(3, "after"u8);
            log.Commit(durable: true);
        }

        using var last = StateLog.Open(directory);
        Assert.Equal(["1:kept", "3:after"], last.ReadCommitted().Select(Text));
        Assert.Null(last.Recovery.Problem);
    }

    [Fact]
    public void Rollback_DropsTheOpenBatch_AndTheNextBatchTakesItsPlace()
    {
        var directory = Fresh();
        using (var log = StateLog.Open(directory))
        {
            log.Append(1, "a"u8);
            log.Commit(durable: false);
            var end = log.End;
            var dropped = log.Append(1, "dropped"u8);
            Assert.Equal("1:dropped", Text(log.ReadAt(dropped)));
            log.Rollback();
            Assert.Equal(end, log.End);
            Assert.Equal(dropped, log.Append(2, "b"u8)); // the same place, now another record
            log.Commit(durable: false);
        }

        using var reopened = StateLog.Open(directory);
        Assert.Equal(["1:a", "2:b"], reopened.ReadCommitted().Select(Text));
        Assert.Equal(LogRecovery.Clean with { Batches = 2, Records = 2 }, reopened.Recovery);
    }

    [Fact]
    public void Reopen_OfALogCutAtEveryByteOfItsLastBatches_KeepsExactlyTheBatchesCommittedBeforeTheCut()
    {
        var (source, batches, commitEnds) = ThreeBatches();
        var file = StateLog.SegmentPath(source, 1);
        var bytes = File.ReadAllBytes(file);
        for (var cut = (int)commitEnds[0]; cut <= bytes.Length; cut++)
        {
            var directory = Fresh();
            File.WriteAllBytes(StateLog.SegmentPath(directory, 1), bytes[..cut]);
            var kept = commitEnds.Count(end => end <= cut);
            using (var log = StateLog.Open(directory))
            {
                Assert.Equal(batches.Take(kept).SelectMany(b => b), log.ReadCommitted().Select(r => r.Payload.ToArray()));
                Assert.Equal(commitEnds[kept - 1], new FileInfo(StateLog.SegmentPath(directory, 1)).Length);
                Assert.Equal(cut - commitEnds[kept - 1], log.Recovery.CutBytes);
                Assert.Equal(cut == commitEnds[kept - 1], log.Recovery.Problem is null);

                // The log goes on from the cut, and what it writes then is read back too.
                log.Append(9, "next"u8);
                log.Commit(durable: false);
            }

            using var again = StateLog.Open(directory);
            Assert.Equal(batches.Take(kept).SelectMany(b => b).Append("next"u8.ToArray()), again.ReadCommitted().Select(r => r.Payload.ToArray()));
            Assert.Null(again.Recovery.Problem);
        }
    }

    [Fact]
    public void Reopen_OfALogWithOneDamagedByte_CutsAtTheDamagedRecordAndKeepsEveryBatchBeforeIt()
    {
        // Without the file that says how far the log had reached the disk (commits that were not durable, an older
        // build's log, a power loss that took the file's last write), any damage may be a torn write.

        var (source, batches, commitEnds) = ThreeBatches();
        var bytes = File.ReadAllBytes(StateLog.SegmentPath(source, 1));
        Gen.Select(Gen.Int[0, bytes.Length - 1], Gen.Byte[1, 255]).Sample((at, flip) =>
        {
            var damaged = (byte[])bytes.Clone();
            damaged[at] ^= flip;
            var directory = Fresh();
            File.WriteAllBytes(StateLog.SegmentPath(directory, 1), damaged);
            using var log = StateLog.Open(directory);
            // Every batch that ends before the damaged byte is kept whole; the one holding it and all after are not.
            var kept = commitEnds.Count(end => end <= at);
            Assert.Equal(batches.Take(kept).SelectMany(b => b), log.ReadCommitted().Select(r => r.Payload.ToArray()));
            Assert.NotNull(log.Recovery.Problem);
        }, iter: 300);
    }

    /// <summary>
    /// A crash can tear only what follows the last durable commit: a damaged byte before it was damaged on the disk or
    /// by hand, and cutting there would throw committed batches away (the whole run's state, in a 256 MB segment). The
    /// log refuses, names the file and leaves it as it was; damage after it is cut as a torn batch.
    /// </summary>
    [Fact]
    public void Reopen_OfALogWithOneDamagedByte_RefusesWhenTheByteHadReachedTheDisk_AndCutsWhereACrashCouldHaveTornIt()
    {
        var (source, batches, commitEnds) = ThreeBatches(durable: 2);
        var bytes = File.ReadAllBytes(StateLog.SegmentPath(source, 1));
        var synced = File.ReadAllBytes(Path.Combine(source, LogSyncedEnd.FileName));
        Assert.Equal(StateLog.Address(1, commitEnds[1]), LogSyncedEnd.Read(source)); // the second commit's end, not the third's
        Gen.Select(Gen.Int[0, bytes.Length - 1], Gen.Byte[1, 255]).Sample((at, flip) =>
        {
            var damaged = (byte[])bytes.Clone();
            damaged[at] ^= flip;
            var directory = Fresh();
            var segment = StateLog.SegmentPath(directory, 1);
            File.WriteAllBytes(segment, damaged);
            File.WriteAllBytes(Path.Combine(directory, LogSyncedEnd.FileName), synced);
            if (at < commitEnds[1])
            {
                var refused = Assert.Throws<StoreDamagedException>(() => StateLog.Open(directory));
                Assert.Contains($"in {segment}, before byte {commitEnds[1]}", refused.Message, StringComparison.Ordinal);
                Assert.Contains("Restore the store's folder from a backup", refused.Message, StringComparison.Ordinal);
                Assert.Equal(damaged, File.ReadAllBytes(segment)); // left as found, for whoever restores it
            }
            else
            {
                using var log = StateLog.Open(directory);
                Assert.Equal(batches.Take(2).SelectMany(b => b), log.ReadCommitted().Select(r => r.Payload.ToArray()));
                Assert.NotNull(log.Recovery.Problem);
            }
        }, iter: 300);
    }

    [Fact]
    public void Reopen_OfALogCutShort_RefusesACutBeforeWhatHadReachedTheDisk_AndKeepsEveryBatchBeforeALaterCut()
    {
        var (source, batches, commitEnds) = ThreeBatches(durable: 2);
        var bytes = File.ReadAllBytes(StateLog.SegmentPath(source, 1));
        var synced = File.ReadAllBytes(Path.Combine(source, LogSyncedEnd.FileName));
        for (var cut = 0; cut <= bytes.Length; cut++)
        {
            var directory = Fresh();
            var segment = StateLog.SegmentPath(directory, 1);
            File.WriteAllBytes(segment, bytes[..cut]);
            File.WriteAllBytes(Path.Combine(directory, LogSyncedEnd.FileName), synced);
            if (cut < commitEnds[1])
            {
                var refused = Assert.Throws<StoreDamagedException>(() => StateLog.Open(directory));
                Assert.Contains(segment, refused.Message, StringComparison.Ordinal);
                Assert.Equal(cut, new FileInfo(segment).Length);
                continue;
            }

            using var log = StateLog.Open(directory);
            Assert.Equal(batches.Take(commitEnds.Count(end => end <= cut)).SelectMany(b => b), log.ReadCommitted().Select(r => r.Payload.ToArray()));
        }
    }

    [Fact]
    public void Reopen_WithoutTheSegmentThatHadReachedTheDisk_RefusesSayingItIsMissing()
    {
        var directory = Fresh();
        using (var log = StateLog.Open(directory, segmentBytes: 100))
        {
            for (var i = 0; i < 3; i++)
            {
                log.Append(1, new byte[120]);
                log.Commit(durable: true); // each fills a segment: 1, 2 and 3, and segment 4 is begun empty
            }
        }

        File.Delete(StateLog.SegmentPath(directory, 4));
        File.Delete(StateLog.SegmentPath(directory, 3));
        var refused = Assert.Throws<StoreDamagedException>(() => StateLog.Open(directory, segmentBytes: 100));
        Assert.StartsWith($"The state log is damaged: {StateLog.SegmentPath(directory, 3)} is missing", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// With no backup, <c>ctmp store salvage</c> opens a refused log cutting it after the last good commit before the
    /// damage, in whichever segment, and deletes the segments after that one; the log then opens as a whole one.
    /// </summary>
    [Fact]
    public void Salvage_OfALogDamagedInAnOlderSegment_CutsThereDropsTheLaterSegments_AndTheLogOpensWholeAgain()
    {
        var directory = Fresh();
        using (var log = StateLog.Open(directory, segmentBytes: 100))
        {
            for (var i = 0; i < 4; i++)
            {
                log.Append(1, [(byte)i]);
                log.Append(1, new byte[100]);
                log.Commit(durable: true); // segments 1 to 4, and an empty 5
            }
        }

        var second = StateLog.SegmentPath(directory, 2);
        var bytes = File.ReadAllBytes(second);
        bytes[StateLog.HeaderBytes + 6 + StateLog.TrailerBytes + 20] ^= 1; // in the second record (the large one)
        File.WriteAllBytes(second, bytes);
        Assert.Throws<StoreDamagedException>(() => StateLog.Open(directory, segmentBytes: 100));

        var after = StateLog.Segments(directory).Where(s => s.Number > 2).Sum(s => s.Bytes) + bytes.Length;
        using (var salvaged = StateLog.Open(directory, segmentBytes: 100, salvage: true))
        {
            Assert.Equal(new LogRecovery(1, 2, after, "a record failing its checksum at byte 10"), salvaged.Recovery);
            Assert.Equal(StateLog.Address(2, 0), salvaged.End);
            Assert.Equal([1, 2], StateLog.Segments(directory).Select(s => s.Number));
            Assert.Equal(salvaged.End, LogSyncedEnd.Read(directory));
            salvaged.Append(2, "after the salvage"u8);
            salvaged.Commit(durable: true);
        }

        using var reopened = StateLog.Open(directory, segmentBytes: 100);
        Assert.Null(reopened.Recovery.Problem);
        Assert.Equal(["1:00", "1:" + Show(new byte[100]), "2:" + Show("after the salvage"u8)], reopened.ReadCommitted().Select(Text));
    }

    [Fact]
    public void Reopen_WithTheSyncedEndDamagedOrMissing_CutsAtTheFirstBadRecordAsBeforeThatFileExisted()
    {
        var (source, batches, commitEnds) = ThreeBatches(durable: 3);
        var bytes = File.ReadAllBytes(StateLog.SegmentPath(source, 1));
        var synced = File.ReadAllBytes(Path.Combine(source, LogSyncedEnd.FileName));
        foreach (var marker in new byte[]?[] { null, [], synced[..5], [.. synced[..^1], (byte)(synced[^1] ^ 1)] })
        {
            var directory = Fresh();
            var damaged = (byte[])bytes.Clone();
            damaged[(int)commitEnds[0] + 2] ^= 0x10; // in the second batch
            File.WriteAllBytes(StateLog.SegmentPath(directory, 1), damaged);
            if (marker is not null)
            {
                File.WriteAllBytes(Path.Combine(directory, LogSyncedEnd.FileName), marker);
            }

            Assert.Null(LogSyncedEnd.Read(directory));
            using var log = StateLog.Open(directory);
            Assert.Equal(batches[0], log.ReadCommitted().Select(r => r.Payload.ToArray()));
            log.Append(2, "next"u8);
            log.Commit(durable: true);
            Assert.Equal(log.CommittedEnd, LogSyncedEnd.Read(directory)); // written whole again by the next durable commit
        }
    }

    [Fact]
    public void Reopen_WithAHugeLengthInATornHeader_CutsThereWithoutReadingIt()
    {
        var directory = Fresh();
        using (var log = StateLog.Open(directory))
        {
            log.Append(1, "kept"u8);
            log.Commit(durable: false);
        }

        var header = new byte[StateLog.HeaderBytes + StateLog.TrailerBytes];
        header[0] = 1;
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(1), int.MaxValue);
        using (var file = new FileStream(StateLog.SegmentPath(directory, 1), FileMode.Append))
        {
            file.Write(header);
        }

        using var reopened = StateLog.Open(directory);
        Assert.Equal(["1:kept"], reopened.ReadCommitted().Select(Text));
        Assert.Equal(header.Length, reopened.Recovery.CutBytes);
    }

    [Fact]
    public void Commit_PastTheSegmentSize_RollsOverToANewFile_AndAReopenReadsAcrossThem()
    {
        var directory = Fresh();
        var addresses = new List<long>();
        using (var log = StateLog.Open(directory, segmentBytes: 100))
        {
            for (var i = 0; i < 10; i++)
            {
                addresses.Add(log.Append(1, new byte[80]));
                addresses.Add(log.Append(2, [(byte)i]));
                log.Commit(durable: true);
            }

            Assert.Equal("2:" + Convert.ToHexString([3]), Text(log.ReadAt(addresses[7]))); // an older segment, read while writing
        }

        Assert.Equal(11, StateLog.Segments(directory).Count); // ten full segments, and the empty one after the last commit
        using (var log = StateLog.Open(directory, segmentBytes: 100))
        {
            Assert.Equal(Enumerable.Range(0, 10).Select(i => "2:" + Convert.ToHexString([(byte)i])), log.ReadCommitted().Where(r => r.Kind == 2).Select(Text));
            Assert.Equal(addresses, log.ReadCommitted().Select(r => r.Address));
            Assert.Equal(LogRecovery.Clean with { Batches = 10, Records = 20 }, log.Recovery);
            log.Append(3, "in the newest"u8);
        }

        using var last = StateLog.Open(directory, segmentBytes: 100);
        Assert.Equal(20, last.ReadCommitted().Count());
    }

    [Fact]
    public void Open_WithDamageInAnOlderSegment_RefusesRatherThanCutCommittedBatchesAway()
    {
        var directory = Fresh();
        using (var log = StateLog.Open(directory, segmentBytes: 50))
        {
            for (var i = 0; i < 3; i++)
            {
                log.Append(1, new byte[60]);
                log.Commit(durable: false);
            }
        }

        var older = StateLog.SegmentPath(directory, 2);
        var bytes = File.ReadAllBytes(older);
        bytes[10] ^= 0xFF;
        File.WriteAllBytes(older, bytes);

        var refused = Assert.Throws<StoreDamagedException>(() => StateLog.Open(directory, segmentBytes: 50));
        Assert.Contains("not its newest segment", refused.Message, StringComparison.Ordinal);
        Assert.Equal(bytes, File.ReadAllBytes(older)); // left as found, for whoever restores it
    }

    /// <summary>
    /// A read in place lends the log's own buffers (the tail, the read-ahead) for the length of the call: reading or
    /// appending from inside it would overwrite what it is reading, so both are refused, and a failing reader leaves
    /// the log as it was.
    /// </summary>
    [Fact]
    public void Read_InPlace_RefusesANestedReadOrAppend_AndALaterReadStillWorks()
    {
        using var log = StateLog.Open(Fresh(), tailBytes: 64);
        var small = log.Append(1, "small"u8);
        var large = log.Append(2, Enumerable.Range(0, 3_000).Select(i => (byte)i).ToArray()); // past the tail and the 2 KB read-ahead
        log.Commit(durable: false);

        Assert.Throws<InvalidOperationException>(() => log.Read(small, log, static (_, _, inner) => inner.ReadAt(inner.CommittedEnd - 1)));
        Assert.Throws<InvalidOperationException>(() => log.Read(large, log, static (_, _, inner) => inner.Read(inner.CommittedEnd, 0, static (_, _, _) => 0)));
        Assert.Throws<InvalidOperationException>(() => log.Read(small, log, static (_, _, inner) => inner.Append(1, "x"u8)));
        Assert.Throws<FormatException>(() => log.Read<int, int>(large, 0, static (_, _, _) => throw new FormatException()));

        Assert.Equal("1:small", Text(log.ReadAt(small)));
        Assert.Equal((2, 3_000, (byte)(2_999 % 256)), log.Read(large, 0, static (kind, payload, _) => (kind, payload.Length, payload[^1])));
        var after = log.Append(3, "after"u8);
        Assert.Equal("3:after", Text(log.ReadAt(after)));
    }

    /// <summary>A record damaged on disk after the log opened is refused when read, in place or copied, whatever its size.</summary>
    [Fact]
    public void Read_OfARecordDamagedOnDiskSinceOpen_FailsItsChecksum()
    {
        var directory = Fresh();
        using var log = StateLog.Open(directory, tailBytes: 16);
        var small = log.Append(1, "short record"u8);
        var large = log.Append(1, new byte[2_500]);
        log.Commit(durable: false);

        using (var file = File.OpenHandle(StateLog.SegmentPath(directory, 1), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            foreach (var at in new[] { small, large })
            {
                var offset = (at & ((1L << 40) - 1)) + StateLog.HeaderBytes + 3;
                RandomAccess.Write(file, new byte[] { 0x5A }, offset);
            }
        }

        Assert.Throws<InvalidDataException>(() => log.ReadAt(small));
        Assert.Throws<InvalidDataException>(() => log.Read(large, 0, static (_, payload, _) => payload.Length));
    }

    [Fact]
    public void Append_RefusesTheReservedKindsAndOversizedPayloads()
    {
        using var log = StateLog.Open(Fresh());
        Assert.Throws<ArgumentOutOfRangeException>(() => log.Append(0, "x"u8));
        Assert.Throws<ArgumentOutOfRangeException>(() => log.Append(StateLog.CommitKind, "x"u8));
        Assert.Throws<ArgumentOutOfRangeException>(() => log.Append(1, new byte[StateLog.MaxPayloadBytes + 1]));
        Assert.Throws<InvalidDataException>(() => log.ReadAt(StateLog.Address(7, 0)));
    }

    /// <summary>
    /// Three committed batches of different sizes in one segment, and where each commit record ends; the first
    /// <paramref name="durable"/> commits are durable (and leave <see cref="LogSyncedEnd"/> at their end).
    /// </summary>
    private (string Directory, List<List<byte[]>> Batches, long[] CommitEnds) ThreeBatches(int durable = 0)
    {
        var directory = Fresh();
        var random = new Random(5);
        var batches = new List<List<byte[]>>();
        var ends = new List<long>();
        using var log = StateLog.Open(directory);
        foreach (var size in new[] { 3, 1, 4 })
        {
            var batch = Enumerable.Range(0, size).Select(_ => RandomBytes(random)).ToList();
            batch.ForEach(p => log.Append(1, p));
            log.Commit(durable: batches.Count < durable);
            batches.Add(batch);
            ends.Add(log.CommittedEnd & ((1L << 40) - 1));
        }

        return (directory, batches, [.. ends]);
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, 40)];
        random.NextBytes(bytes);
        return bytes;
    }

    private string Fresh() => Directory.CreateDirectory(Path.Combine(work, Guid.NewGuid().ToString("N"))).FullName;

    private static string Text(LogRecord record) => $"{record.Kind}:{Show(record.Payload.Span)}";

    private static string Text((long Address, byte Kind, byte[] Payload) record) => $"{record.Kind}:{Show(record.Payload)}";

    private static string Show(ReadOnlySpan<byte> payload) =>
        payload.Length > 0 && payload.IndexOfAnyExceptInRange((byte)'a', (byte)'z') < 0 ? System.Text.Encoding.ASCII.GetString(payload) : Convert.ToHexString(payload);
}
