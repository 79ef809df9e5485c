using System.Security.Cryptography;
using System.Text;
using CtMparticle.Tracking;

namespace CtMparticle.Identity;

/// <summary>
/// The one home of a user's keys: the key state is stored under (consent, and later identity links), e-mail
/// normalizing and hashing. Every place that needs "who is this" asks here, so the rules cannot drift apart.
/// </summary>
internal static class UserKeys
{
    /// <summary>The key per-user state is stored under: the customer id, else the anonymous id, else the e-mail's hash.</summary>
    public static string? Of(UserIds user) =>
        !string.IsNullOrWhiteSpace(user.CustomerId) ? Customer(user.CustomerId)
        : !string.IsNullOrWhiteSpace(user.AnonymousId) ? AnonymousPrefix + user.AnonymousId.Trim()
        : Emails.Normalize(user.Email) is { } email ? EmailPrefix + Emails.Sha256Hex(email)
        : null;

    private const string CustomerPrefix = "customer:", AnonymousPrefix = "anonymous:", EmailPrefix = "email:";

    /// <summary>The key of a known customer.</summary>
    public static string Customer(string customerId) => CustomerPrefix + customerId.Trim();

    /// <summary>The customer id a user key (<see cref="Of"/>) was made from, or null when it is not a customer's key.</summary>
    public static string? CustomerIdOfKey(string userKey) => After(userKey, CustomerPrefix);

    /// <summary>
    /// The identifier (type and value, as identity links name it) a user key of an anonymous user or an e-mail was made
    /// from, or null for a customer's key.
    /// </summary>
    public static (string Type, string Value)? IdentifierOfKey(string userKey) =>
        After(userKey, AnonymousPrefix) is { } anonymous ? (IdentifierTypes.AnonymousId, anonymous)
        : After(userKey, EmailPrefix) is { } hash ? (IdentifierTypes.EmailSha256, hash)
        : null;

    /// <summary>The user key made from an identifier (<see cref="IdentifierOfKey"/>'s inverse), or null for a type no user key is made from.</summary>
    public static string? KeyOfIdentifier(string type, string value) => type switch
    {
        IdentifierTypes.AnonymousId => AnonymousPrefix + value,
        IdentifierTypes.EmailSha256 => EmailPrefix + value,
        _ => null,
    };

    private static string? After(string userKey, string prefix) =>
        userKey.StartsWith(prefix, StringComparison.Ordinal) && userKey.Length > prefix.Length ? userKey[prefix.Length..] : null;

    /// <summary>The user's customer id as links are recorded and looked up under it (trimmed), or null for an anonymous user.</summary>
    public static string? CustomerIdOf(UserIds user) => user.CustomerId?.Trim() is { Length: > 0 } customer ? customer : null;
}

/// <summary>E-mail addresses as identities: trimmed and lowercased, and their SHA-256 (lowercase hex) where hashed.</summary>
internal static class Emails
{
    public static string? Normalize(string? email)
    {
        var trimmed = email?.Trim();
        return string.IsNullOrEmpty(trimmed) ? null : trimmed.ToLowerInvariant();
    }

    /// <summary>The lower-case hex SHA-256 of <paramref name="value"/>'s UTF-8 (hashed on the stack: one string made, the result).</summary>
    public static string Sha256Hex(string value)
    {
        var length = Encoding.UTF8.GetMaxByteCount(value.Length);
        var utf8 = length <= 1024 ? stackalloc byte[length] : new byte[length];
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8[..Encoding.UTF8.GetBytes(value, utf8)], hash);
        return Convert.ToHexStringLower(hash);
    }
}
