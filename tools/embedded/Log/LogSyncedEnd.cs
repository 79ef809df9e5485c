using System.Buffers.Binary;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// How far the state log is known to be on the disk, in a small file beside it (<see cref="FileName"/>): the address
/// just after the last durable commit, written after that commit's flush to the disk returned, and not flushed itself.
/// <para>
/// So whatever the file holds is true: the log's bytes before that address reached the disk before the file was
/// written. After a power loss it may hold an older address (a lower bound, still true); after a kill of the process it
/// holds the last one. At open, a log whose valid part ends before it is damaged, not torn by a crash: the log refuses
/// to open rather than cut committed batches away (<see cref="StateLog"/>). A missing or damaged file proves nothing,
/// and the log is read as before it existed (cut at the first bad record of its newest segment).
/// </para>
/// </summary>
internal sealed class LogSyncedEnd : IDisposable
{
    public const string FileName = "state.synced";

    private const int Bytes = 12; // the address (8, little-endian) and its CRC-32 (4)

    private readonly SafeFileHandle handle;
    private readonly byte[] buffer = new byte[Bytes];

    private LogSyncedEnd(SafeFileHandle handle) => this.handle = handle;

    /// <summary>Opens (creating when needed) the file in <paramref name="directory"/> for <see cref="Write"/>.</summary>
    public static LogSyncedEnd Open(string directory) =>
        new(File.OpenHandle(Path.Combine(directory, FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read));

    /// <summary>
    /// Keeps <paramref name="address"/> as the end of what is on the disk: call only once the log's bytes before it were
    /// flushed to the disk. One write of 12 bytes in place, which the operating system writes when it likes.
    /// </summary>
    public void Write(long address)
    {
        BinaryPrimitives.WriteInt64LittleEndian(buffer, address);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(8), Crc32.HashToUInt32(buffer.AsSpan(0, 8)));
        RandomAccess.Write(handle, buffer, 0);
    }

    /// <summary>The address the file in <paramref name="directory"/> holds, or null when it is missing, short or fails its checksum.</summary>
    public static long? Read(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }

        Span<byte> bytes = stackalloc byte[Bytes];
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (RandomAccess.Read(file, bytes, 0) != Bytes
            || Crc32.HashToUInt32(bytes[..8]) != BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]))
        {
            return null;
        }

        var address = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        return address > 0 ? address : null;
    }

    public void Dispose() => handle.Dispose();
}
