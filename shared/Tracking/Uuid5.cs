using System.Security.Cryptography;
using System.Text;

namespace CtMparticle.Tracking;

/// <summary>RFC 9562 (formerly 4122) name-based UUIDs, version 5 (SHA-1): the same name always gives the same id.</summary>
internal static class Uuid5
{
    /// <summary>The relay's own namespace for event ids. Never change it: every id ever sent derives from it.</summary>
    public static readonly Guid RelayNamespace = new("5d3c0f8e-2b7a-4c61-9e4f-0a8b1c2d3e4f");

    public static Guid Create(Guid @namespace, string name)
    {
        var length = Encoding.UTF8.GetByteCount(name);
        var utf8 = length <= 1024 ? stackalloc byte[length] : new byte[length];
        Encoding.UTF8.GetBytes(name, utf8);
        return Create(@namespace, utf8);
    }

    /// <summary>As <see cref="Create(Guid, string)"/>, of a name already in UTF-8.</summary>
    public static Guid Create(Guid @namespace, ReadOnlySpan<byte> utf8Name)
    {
        var buffer = utf8Name.Length <= 1024 ? stackalloc byte[16 + utf8Name.Length] : new byte[16 + utf8Name.Length];
        @namespace.TryWriteBytes(buffer, bigEndian: true, out _);
        utf8Name.CopyTo(buffer[16..]);
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(buffer, hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50); // version 5
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80); // RFC variant
        return new Guid(hash[..16], bigEndian: true);
    }

    /// <summary>The id of an event with the given business key, in the relay's namespace.</summary>
    public static Guid ForEvent(string dedupeKey) => Create(RelayNamespace, dedupeKey);
}
