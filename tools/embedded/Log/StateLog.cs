using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace CtMparticle.Embedded.Log;

/// <summary>One record of the log: its kind (1–254), its payload, and the address <see cref="StateLog.ReadAt"/> finds it at.</summary>
internal readonly record struct LogRecord(long Address, byte Kind, ReadOnlyMemory<byte> Payload);

/// <summary>A point inside the open batch of a state log: its end then, and how many records the batch held.</summary>
internal readonly record struct BatchMark(long End, int Records);

/// <summary>Makes something of a record's payload read in place (<see cref="StateLog.Read{TState, TResult}"/>): valid only during the call.</summary>
internal delegate TResult PayloadReader<in TState, out TResult>(byte kind, ReadOnlySpan<byte> payload, TState state);

/// <summary>
/// The append-only log of ADR 0007 (step 1): records appended in batches, each batch ended by a commit record, in
/// segment files <c>state.log.000001</c>, <c>state.log.000002</c>, … of one directory.
/// <para>
/// A record is <c>[kind:1][length:4, little-endian][payload][CRC-32 of the three before it:4]</c>. A batch is
/// durable once <see cref="Commit"/> with <c>durable</c> returns (the file is flushed to the disk, and so is the
/// directory entry of a segment it began). At <see cref="Open"/> the log is read from the start and cut after the last
/// commit record that every record before it validates up to: an uncommitted batch, a record torn by a crash, a
/// length or checksum that does not match, all end the log there, exactly as an uncommitted SQLite transaction is
/// lost. Nothing before that point is ever lost or changed.
/// </para>
/// <para>
/// A crash can tear only what came after the last durable commit. Damage before it (a flipped byte, a file cut short
/// or swapped for an older copy) is not a crash, and cutting there would throw committed batches away: the log refuses
/// to open instead, naming the file and the byte. It knows how far it reached the disk from <see cref="LogSyncedEnd"/>.
/// </para>
/// One thread at a time; a segment rolls over only right after a commit, so a batch never spans two files.
/// </summary>
internal sealed class StateLog : IDisposable
{
    /// <summary>The kind of the record that ends a batch. Kind 0 is never written (zeroed bytes are not records).</summary>
    public const byte CommitKind = 255;

    /// <summary>A record's payload may not be larger: a larger length read back is corruption, not a record.</summary>
    public const int MaxPayloadBytes = 16 * 1024 * 1024;

    /// <summary>A segment rolls over once a commit leaves it at least this large.</summary>
    public const long DefaultSegmentBytes = 256L * 1024 * 1024;

    /// <summary>How many of the newest bytes are also kept in memory, for reads without a system call.</summary>
    public const int DefaultTailBytes = 16 * 1024 * 1024;

    /// <summary>What <see cref="ReadAt"/> reads first from a segment file: all of nearly every record.</summary>
    private const int ReadAheadBytes = 2048;

    /// <summary>
    /// The writer's buffer: what it holds, not yet with the operating system, is always the last bytes written (at most
    /// this many), so a read that ends before them needs no flush.
    /// </summary>
    private const int WriterBufferBytes = 1 << 16;

    internal const int HeaderBytes = 5;
    internal const int TrailerBytes = 4;
    private const int CommitPayloadBytes = 12; // batch number (8) and the batch's record count (4)
    private const int PositionBits = 40; // an address is (segment << 40) | position: segments up to 1 TB
    private const long PositionMask = (1L << PositionBits) - 1;
    private const string Prefix = "state.log.";

    private readonly string directory;
    private readonly long segmentBytes;
    private readonly Crc32 crc = new();
    private readonly Dictionary<int, SafeFileHandle> readers = [];
    private readonly byte[] readAhead = new byte[ReadAheadBytes];
    private LogSyncedEnd? synced; // the log opened in its store's folder (not a compaction's copy) keeps how far it is on the disk
    private byte[] scratch = new byte[ReadAheadBytes]; // a record read in place that the read-ahead or the tail cannot hold whole
    private bool reading; // a read in place is under way (Read): the log's buffers are lent out

    // The newest bytes appended to the current segment, kept in memory (a ring): most reads are of records written
    // shortly before (an event's JSON read back by the push, a returning user's consent), and a read served from here
    // costs no system call. Valid for the current segment's positions from tailFrom to position.
    private readonly byte[] tail;
    private long tailFrom;
    private FileStream writer;
    private int segment;
    private long position;
    private long committedEnd;
    private long batch;
    private int batchRecords;

    private StateLog(string directory, long segmentBytes, int tailBytes, FileStream writer, int segment, long position, long batch)
    {
        this.directory = directory;
        this.segmentBytes = segmentBytes;
        tail = GC.AllocateUninitializedArray<byte>(tailBytes); // only what was written is ever read
        tailFrom = position;
        this.writer = writer;
        this.segment = segment;
        this.position = position;
        committedEnd = position;
        this.batch = batch;
    }

    /// <summary>What <see cref="Open"/> found and cut: for the store's own report and the tests.</summary>
    public LogRecovery Recovery { get; private init; } = LogRecovery.Clean;

    /// <summary>The address the next record gets.</summary>
    public long End => Address(segment, position);

    /// <summary>The end of the last committed batch: what a reader of committed state may read up to.</summary>
    public long CommittedEnd => Address(segment, committedEnd);

    /// <summary>The number the next commit gives its batch (batches are numbered from 1, with no gaps).</summary>
    public long NextBatch => batch;

    /// <summary>Opens the log in <paramref name="directory"/> (creating it when needed), cut after its last valid commit.</summary>
    /// <param name="salvage">
    /// Cut a damaged log too (<c>ctmp store salvage</c>, when there is no backup to restore): after the last good commit
    /// before the first damage, whatever reached the disk after it, and the segments after that one deleted.
    /// </param>
    /// <exception cref="StoreDamagedException">The log is damaged before the end of what reached the disk (see <see cref="Scan"/>).</exception>
    public static StateLog Open(string directory, long segmentBytes = DefaultSegmentBytes, int tailBytes = DefaultTailBytes, bool salvage = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(tailBytes, HeaderBytes + TrailerBytes);
        Directory.CreateDirectory(directory);
        LogCompaction.Finish(directory); // a compaction that ended before its swap did: rolled forward or dropped
        var scan = Scan(directory, salvage);
        var cut = 0L;
        foreach (var (_, path) in salvage ? SegmentFiles(directory).Where(s => s.Number > scan.Segment) : [])
        {
            cut += new FileInfo(path).Length; // the segments after a damaged one
            File.Delete(path);
        }

        var current = scan.Segment == 0 ? 1 : scan.Segment;
        var file = SegmentPath(directory, current);
        var created = !File.Exists(file);
        var writer = new FileStream(file, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: WriterBufferBytes);
        if (writer.Length > scan.End)
        {
            cut += writer.Length - scan.End;
            writer.SetLength(scan.End);
            writer.Flush(flushToDisk: true);
        }

        if (created || cut > 0)
        {
            SyncDirectory(directory);
        }

        writer.Position = scan.End;
        var log = new StateLog(directory, segmentBytes, tailBytes, writer, current, scan.End, scan.LastBatch + 1)
        {
            Recovery = new LogRecovery(scan.Batches, scan.Records, cut, scan.Problem),
            synced = LogSyncedEnd.Open(directory),
        };
        if (cut > 0)
        {
            log.synced.Write(log.End); // the log is on the disk up to here now (flushed above), and no further
        }

        return log;
    }

    /// <summary>
    /// A new, empty log in <paramref name="directory"/> (which must hold no segment) that carries on another's numbers:
    /// its first segment is <paramref name="firstSegment"/> and its first batch <paramref name="firstBatch"/>, so its
    /// segments can replace that log's in one folder (<see cref="LogCompaction"/>) and still read as one log.
    /// </summary>
    /// <exception cref="IOException">The folder already holds that segment.</exception>
    public static StateLog Create(string directory, int firstSegment, long firstBatch, long segmentBytes = DefaultSegmentBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(firstSegment, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(firstBatch, 1);
        Directory.CreateDirectory(directory);
        var writer = new FileStream(SegmentPath(directory, firstSegment), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, bufferSize: WriterBufferBytes);
        SyncDirectory(directory);
        return new StateLog(directory, segmentBytes, 1 << 16, writer, firstSegment, 0, firstBatch); // never read back: a small tail
    }

    /// <summary>The number of the segment appended to now (the newest).</summary>
    public int Segment => segment;

    /// <summary>The segments' numbers and sizes in bytes, oldest first.</summary>
    public static IReadOnlyList<(int Number, long Bytes)> Segments(string directory) => [.. SegmentFiles(directory).Select(s => (s.Number, new FileInfo(s.Path).Length))];

    /// <summary>Appends a record to the open batch and returns its address; it counts once the batch commits.</summary>
    public long Append(byte kind, ReadOnlySpan<byte> payload)
    {
        if (kind is 0 or CommitKind)
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Record kinds are 1-254: 0 is never written and 255 ends a batch.");
        }

        batchRecords++;
        return Write(kind, payload);
    }

    /// <summary>
    /// Ends the open batch with a commit record. With <paramref name="durable"/>, returns once the batch is on the disk;
    /// without, once it is with the operating system (a crash of the process keeps it, a power loss may not).
    /// </summary>
    public void Commit(bool durable)
    {
        Span<byte> payload = stackalloc byte[CommitPayloadBytes];
        BinaryPrimitives.WriteInt64LittleEndian(payload, batch);
        BinaryPrimitives.WriteInt32LittleEndian(payload[8..], batchRecords);
        Write(CommitKind, payload);
        writer.Flush(flushToDisk: durable);
        committedEnd = position;
        if (durable)
        {
            synced?.Write(Address(segment, position)); // only once the flush returned: what it says is then always true
        }

        batch++;
        batchRecords = 0;
        if (position >= segmentBytes)
        {
            RollOver();
        }
    }

    /// <summary>Drops the open batch's records: the log ends at its last commit again.</summary>
    public void Rollback() => RollbackTo(new BatchMark(Address(segment, committedEnd), 0));

    /// <summary>Where the open batch ends now, for <see cref="RollbackTo"/> (a savepoint).</summary>
    public BatchMark Mark() => new(End, batchRecords);

    /// <summary>
    /// Drops the records appended to the open batch since <paramref name="mark"/>; those before it stay in the batch.
    /// The tail stays valid below the new end, as after <see cref="Rollback"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The mark is not inside the open batch (a commit came between).</exception>
    public void RollbackTo(BatchMark mark)
    {
        var to = mark.End & PositionMask;
        if ((int)(mark.End >> PositionBits) != segment || to < committedEnd || to > position || mark.Records > batchRecords)
        {
            throw new InvalidOperationException($"The mark at {mark.End} is not inside the open batch of the state log (a commit came since?).");
        }

        writer.Flush();
        writer.SetLength(to);
        writer.Position = to;
        position = to;
        batchRecords = mark.Records;
    }

    /// <summary>The record at <paramref name="address"/> (committed, or appended to the open batch), its payload in an array of its own.</summary>
    /// <exception cref="InvalidDataException">No valid record starts there: the caller's address is wrong or the file was damaged.</exception>
    public LogRecord ReadAt(long address) => Read(address, address, static (kind, payload, at) => new LogRecord(at, kind, payload.ToArray()));

    /// <summary>
    /// Hands the record at <paramref name="address"/> to <paramref name="read"/> in place, and returns what it makes
    /// of it: the payload is a view of the log's memory (the tail, or the buffer a segment is read into), valid only
    /// during the call, so a key check or a field read costs no copy of the record. <paramref name="read"/> copies what
    /// it keeps, and may neither read nor append to the log (both throw).
    /// </summary>
    /// <exception cref="InvalidDataException">No valid record starts there: the caller's address is wrong or the file was damaged.</exception>
    public TResult Read<TState, TResult>(long address, TState state, PayloadReader<TState, TResult> read)
    {
        if (reading)
        {
            throw new InvalidOperationException("A read of the state log in place may not read the log again: copy what it needs first.");
        }

        reading = true;
        try
        {
            var payload = Locate(address, out var kind);
            return read(kind, payload, state);
        }
        finally
        {
            reading = false;
        }
    }

    /// <summary>The kind and payload of the record at <paramref name="address"/>, in the tail or in a buffer kept for reads.</summary>
    private ReadOnlySpan<byte> Locate(long address, out byte kind)
    {
        var (number, offset) = ((int)(address >> PositionBits), address & PositionMask);
        if (number == segment && InTail(address, offset, out kind, out var length))
        {
            // Most records lie in one piece of the ring; one that wraps around its end is copied together.
            var index = (int)((offset + HeaderBytes) % tail.Length);
            if (index + length <= tail.Length)
            {
                return tail.AsSpan(index, length);
            }

            var joined = Scratch(length);
            FromTail(offset + HeaderBytes, joined);
            return joined;
        }

        // What the writer still buffers lies in the current segment's last WriterBufferBytes: a read that reaches them
        // flushes it first, to the operating system, where the read handle sees it (the writer's own handle is left
        // alone). Most reads here are of older records (a returning customer's consent or links), which must not cut
        // the writer's buffer short each time.
        var flushed = false;
        if (number == segment && offset + ReadAheadBytes > position - WriterBufferBytes)
        {
            writer.Flush();
            flushed = true;
        }

        if (!readers.TryGetValue(number, out var handle))
        {
            var path = SegmentPath(directory, number);
            if (number < 1 || number > segment || !File.Exists(path))
            {
                throw new InvalidDataException($"No log segment holds address {address}.");
            }

            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            readers[number] = handle;
        }

        // One read into a buffer kept for it holds nearly every record (order contexts and events reach about 2 KB, the
        // rest are 70–600 bytes); the rest of a larger one is read after it into a larger buffer, also kept.
        var read = RandomAccess.Read(handle, readAhead, offset);
        if (read < HeaderBytes + TrailerBytes || !TryHeader(readAhead, out kind, out length))
        {
            throw new InvalidDataException($"No log record starts at address {address}.");
        }

        var total = HeaderBytes + length + TrailerBytes;
        var buffer = readAhead.AsSpan();
        if (total > readAhead.Length)
        {
            if (number == segment && !flushed && offset + total > position - WriterBufferBytes)
            {
                writer.Flush();
            }

            buffer = Scratch(total);
            readAhead.AsSpan(0, read).CopyTo(buffer);
            while (read < total && RandomAccess.Read(handle, buffer[read..total], offset + read) is > 0 and var more)
            {
                read += more;
            }
        }

        // The checksum covers the header and the payload, which lie together here.
        if (read < total || Crc32.HashToUInt32(buffer[..(HeaderBytes + length)]) != BinaryPrimitives.ReadUInt32LittleEndian(buffer[(HeaderBytes + length)..]))
        {
            throw new InvalidDataException($"The log record at address {address} fails its checksum: the file was damaged.");
        }

        return buffer.Slice(HeaderBytes, length);
    }

    /// <summary>A buffer of at least <paramref name="length"/> bytes for a read, kept for the next (one that grew past 1 MB is not kept).</summary>
    private Span<byte> Scratch(int length)
    {
        if (scratch.Length < length)
        {
            var larger = new byte[Math.Max(length, scratch.Length * 2)];
            if (larger.Length <= 1024 * 1024)
            {
                scratch = larger;
            }

            return larger.AsSpan(0, length);
        }

        return scratch.AsSpan(0, length);
    }

    /// <summary>
    /// Every committed record from the start, in log order, commit records left out (the replay at open). A record's
    /// payload is valid until the enumeration moves on: copy what is kept.
    /// </summary>
    public IEnumerable<LogRecord> ReadCommitted() => ReadUpTo(CommittedEnd);

    /// <summary>As <see cref="ReadCommitted"/>, the open batch's records included (what the writer itself sees).</summary>
    public IEnumerable<LogRecord> ReadAll() => ReadUpTo(End);

    private IEnumerable<LogRecord> ReadUpTo(long end)
    {
        writer.Flush();
        for (var number = 1; number <= segment; number++)
        {
            var path = SegmentPath(directory, number);
            if (!File.Exists(path))
            {
                continue; // a compacted log's numbers start after those of the log it replaced
            }

            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1 << 16);
            var reader = new SegmentReader(stream);
            while (Address(number, reader.Position) < end && reader.Next() is { } record)
            {
                if (record.Kind != CommitKind)
                {
                    yield return record with { Address = Address(number, record.Address) };
                }
            }
        }
    }

    public void Dispose()
    {
        // An open batch is not committed by closing: like a crash, it is dropped at the next open.
        writer.Dispose();
        synced?.Dispose();
        foreach (var handle in readers.Values)
        {
            handle.Dispose();
        }

        readers.Clear();
    }

    /// <summary>The address of <paramref name="offset"/> in segment <paramref name="number"/>.</summary>
    public static long Address(int number, long offset) => ((long)number << PositionBits) | offset;

    /// <summary>The segment and the offset in it of <paramref name="address"/>.</summary>
    public static (int Number, long Offset) Split(long address) => ((int)(address >> PositionBits), address & PositionMask);

    public static string SegmentPath(string directory, int number) =>
        Path.Combine(directory, Prefix + number.ToString("D6", CultureInfo.InvariantCulture));

    private long Write(byte kind, ReadOnlySpan<byte> payload)
    {
        if (reading)
        {
            throw new InvalidOperationException("The state log is not appended to during a read in place: the tail it writes into may be the record being read.");
        }

        if (payload.Length > MaxPayloadBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(payload), payload.Length, $"A log record holds at most {MaxPayloadBytes:N0} bytes.");
        }

        var address = Address(segment, position);
        Span<byte> header = stackalloc byte[HeaderBytes];
        header[0] = kind;
        BinaryPrimitives.WriteInt32LittleEndian(header[1..], payload.Length);
        crc.Append(header);
        crc.Append(payload);
        Span<byte> trailer = stackalloc byte[TrailerBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, crc.GetCurrentHashAsUInt32());
        crc.Reset();
        writer.Write(header);
        writer.Write(payload);
        writer.Write(trailer);
        ToTail(position, header);
        ToTail(position + HeaderBytes, payload);
        ToTail(position + HeaderBytes + payload.Length, trailer);
        position += HeaderBytes + payload.Length + TrailerBytes;
        tailFrom = Math.Max(tailFrom, position - tail.Length);
        return address;
    }

    /// <summary>
    /// Whether the record at <paramref name="offset"/> of the current segment is wholly within the tail (its kind and
    /// length then read from there). A rollback leaves the tail valid below the new end: what the dropped records
    /// overwrote there lies below <see cref="tailFrom"/>, which only moves forward.
    /// </summary>
    private bool InTail(long address, long offset, out byte kind, out int length)
    {
        (kind, length) = (0, 0);
        if (offset < tailFrom || offset + HeaderBytes + TrailerBytes > position)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderBytes];
        FromTail(offset, header);
        if (!TryHeader(header, out kind, out length) || offset + HeaderBytes + length + TrailerBytes > position)
        {
            throw new InvalidDataException($"No log record starts at address {address}.");
        }

        return true;
    }

    private void ToTail(long at, ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var index = (int)(at % tail.Length);
            var count = Math.Min(bytes.Length, tail.Length - index);
            bytes[..count].CopyTo(tail.AsSpan(index));
            bytes = bytes[count..];
            at += count;
        }
    }

    private void FromTail(long at, Span<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var index = (int)(at % tail.Length);
            var count = Math.Min(bytes.Length, tail.Length - index);
            tail.AsSpan(index, count).CopyTo(bytes);
            bytes = bytes[count..];
            at += count;
        }
    }

    private void RollOver()
    {
        writer.Flush(flushToDisk: true);
        writer.Dispose();
        segment++;
        writer = new FileStream(SegmentPath(directory, segment), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, bufferSize: WriterBufferBytes);
        SyncDirectory(directory); // the new file's name must survive a power loss before a batch in it counts as durable
        position = 0;
        committedEnd = 0;
        tailFrom = 0;
    }

    private static bool TryHeader(ReadOnlySpan<byte> header, out byte kind, out int length)
    {
        kind = header[0];
        length = BinaryPrimitives.ReadInt32LittleEndian(header[1..]);
        return kind != 0 && length is >= 0 and <= MaxPayloadBytes;
    }

    private static bool Checks(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payloadAndTrailer)
    {
        var payload = payloadAndTrailer[..^TrailerBytes];
        var crc = new Crc32();
        crc.Append(header);
        crc.Append(payload);
        return crc.GetCurrentHashAsUInt32() == BinaryPrimitives.ReadUInt32LittleEndian(payloadAndTrailer[^TrailerBytes..]);
    }

    /// <summary>
    /// Where the valid log ends: the newest segment and the position just after its last good commit record. Only the
    /// newest segment can end in a torn or uncommitted batch (a segment rolls over after a durable commit), and only
    /// after the last durable commit (<see cref="LogSyncedEnd"/>); trouble in an older segment, or before that commit,
    /// is damage to the disk or the files, not a crash, and the log refuses to open rather than cut away committed
    /// batches after it.
    /// </summary>
    /// <param name="salvage">Cut damage wherever it is: the first damaged segment is taken for the newest.</param>
    /// <exception cref="StoreDamagedException">An older segment is damaged, or the newest before the end of what reached the disk.</exception>
    private static ScanResult Scan(string directory, bool salvage)
    {
        var segments = SegmentFiles(directory);
        var result = new ScanResult();
        for (var i = 0; i < segments.Count; i++)
        {
            var (number, path) = segments[i];
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1 << 16);
            var reader = new SegmentReader(stream);
            var records = 0;
            string? problem = null;
            result.Segment = number;
            result.End = 0;
            while (reader.Next() is { } record)
            {
                if (record.Kind != CommitKind)
                {
                    records++;
                    continue;
                }

                var payload = record.Payload.Span;
                if (payload.Length != CommitPayloadBytes
                    || BinaryPrimitives.ReadInt64LittleEndian(payload) <= result.LastBatch
                    || BinaryPrimitives.ReadInt32LittleEndian(payload[8..]) != records)
                {
                    problem = $"a commit record out of sequence at byte {record.Address}";
                    break;
                }

                result.LastBatch = BinaryPrimitives.ReadInt64LittleEndian(payload);
                result.Batches++;
                result.Records += records;
                records = 0;
                result.End = reader.Position;
            }

            problem ??= reader.Problem ?? (records > 0 ? $"{records} record(s) after the last commit" : null);
            if (problem is null)
            {
                continue;
            }

            if (salvage)
            {
                result.Problem = problem;
                return result;
            }

            if (i < segments.Count - 1)
            {
                throw new StoreDamagedException(
                    $"The state log is damaged: {problem} in {path}, which is not its newest segment, so no crash left it so. {Restore(directory)}");
            }

            result.Problem = problem;
        }

        RefuseLossOfSynced(directory, result);
        return result;
    }

    /// <summary>What to do about damage no crash explains.</summary>
    private static string Restore(string directory) =>
        $"Restore the store's folder from a backup; without one, 'ctmp store salvage --store {directory}' keeps what is before the damage " +
        "(the relay does not cut committed batches away by itself).";

    /// <summary>Refuses a newest segment whose valid part ends before what <see cref="LogSyncedEnd"/> says reached the disk.</summary>
    private static void RefuseLossOfSynced(string directory, ScanResult scan)
    {
        if (LogSyncedEnd.Read(directory) is not { } synced || Address(scan.Segment, scan.End) >= synced)
        {
            return;
        }

        var (number, offset) = Split(synced);
        var path = SegmentPath(directory, number);
        if (number > scan.Segment)
        {
            throw new StoreDamagedException($"The state log is damaged: {path} is missing, although {offset:N0} bytes of it had reached the disk. {Restore(directory)}");
        }

        throw new StoreDamagedException(scan.Problem is { } problem
            ? $"The state log is damaged: {problem} in {path}, before byte {offset}, up to which it had reached the disk, so no crash left it so. {Restore(directory)}"
            : $"The state log is damaged: {path} ends at byte {scan.End}, although {offset:N0} bytes of it had reached the disk (cut short, or an older copy). {Restore(directory)}");
    }

    /// <summary>The segment files in <paramref name="directory"/> by ascending number (a compacted log's numbers start after the log it replaced).</summary>
    internal static List<(int Number, string Path)> SegmentFiles(string directory) => [.. Directory.EnumerateFiles(directory, Prefix + "*")
        .Select(path => (Number: int.TryParse(Path.GetFileName(path).AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0, Path: path))
        .Where(s => s.Number > 0)
        .OrderBy(s => s.Number)];

    /// <summary>fsync of a directory, so a file created or deleted in it stays so across a power loss (Linux, macOS).</summary>
    internal static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return; // NTFS journals its directory changes; a directory cannot be opened for flushing this way there
        }

        var fd = NativeMethods.open(directory, 0);
        if (fd < 0)
        {
            throw new IOException($"Cannot open the directory {directory} to flush it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (NativeMethods.fsync(fd) != 0)
            {
                throw new IOException($"Cannot flush the directory {directory} to the disk (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = NativeMethods.close(fd);
        }
    }

    private sealed class ScanResult
    {
        public int Segment { get; set; }
        public long End { get; set; }
        public long LastBatch { get; set; }
        public long Batches { get; set; }
        public long Records { get; set; }
        public string? Problem { get; set; }
    }

    /// <summary>Reads a segment's records in order, stopping at the first one that is torn or fails its checks.</summary>
    /// <summary>
    /// Reads a segment's records in order, stopping at the first one that is torn or fails its checks. A record's
    /// payload lives in the reader's buffer: it is valid until the next <see cref="Next"/>.
    /// </summary>
    private sealed class SegmentReader(FileStream stream)
    {
        private readonly long length = stream.Length; // what the file held when reading began; appends after it are not read
        private byte[] buffer = new byte[64 * 1024];

        /// <summary>The end of the last valid record read.</summary>
        public long Position { get; private set; }

        /// <summary>Why reading stopped before the end of the file, if it did.</summary>
        public string? Problem { get; private set; }

        public LogRecord? Next()
        {
            var left = length - Position;
            if (left == 0)
            {
                return null;
            }

            if (left < HeaderBytes + TrailerBytes || stream.ReadAtLeast(buffer.AsSpan(0, HeaderBytes), HeaderBytes, throwOnEndOfStream: false) != HeaderBytes)
            {
                Problem = $"a torn record at byte {Position}";
                return null;
            }

            if (!TryHeader(buffer, out var kind, out var size) || HeaderBytes + (long)size + TrailerBytes > left)
            {
                Problem = kind == 0 ? $"zeroed bytes at byte {Position}" : $"a torn or damaged record at byte {Position}";
                return null;
            }

            var total = HeaderBytes + size + TrailerBytes;
            if (total > buffer.Length)
            {
                var larger = new byte[Math.Max(total, buffer.Length * 2)];
                buffer.AsSpan(0, HeaderBytes).CopyTo(larger);
                buffer = larger;
            }

            stream.ReadExactly(buffer, HeaderBytes, size + TrailerBytes);
            if (!Checks(buffer.AsSpan(0, HeaderBytes), buffer.AsSpan(HeaderBytes, size + TrailerBytes)))
            {
                Problem = $"a record failing its checksum at byte {Position}";
                return null;
            }

            var record = new LogRecord(Position, kind, buffer.AsMemory(HeaderBytes, size));
            Position += total;
            return record;
        }
    }

    private static class NativeMethods
    {
#pragma warning disable SYSLIB1054, CA2101 // plain int and a UTF-8 path: no marshalling that LibraryImport would make safer
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int close(int fd);
#pragma warning restore SYSLIB1054, CA2101
    }
}

/// <summary>What opening the log found: the committed batches and records kept, and what was cut after them.</summary>
/// <param name="CutBytes">Bytes cut from the end of the newest segment.</param>
/// <param name="Problem">Why the log ended before the end of its newest segment (a torn or damaged record, an uncommitted batch), or null.</param>
internal sealed record LogRecovery(long Batches, long Records, long CutBytes, string? Problem)
{
    public static readonly LogRecovery Clean = new(0, 0, 0, null);
}
