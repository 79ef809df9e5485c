using CtMparticle.Tracking;

namespace CtMparticle.Identity;

/// <summary>
/// The names of a user's identifier types, as identity rules, link records, logs and metrics name them (never values).
/// <see cref="Linkable"/> are the ones a customer may be linked to.
/// </summary>
internal static class IdentifierTypes
{
    public const string CustomerId = "customer_id";
    public const string Email = "email";
    public const string EmailSha256 = "email_sha256";
    public const string AnonymousId = "anonymous_id";
    public const string SessionId = "session_id";
    public const string IosIdfa = "ios_idfa";
    public const string IosIdfv = "ios_idfv";
    public const string AndroidAaid = "android_aaid";
    public const string AndroidUuid = "android_uuid";

    /// <summary>The types a link may join to a customer (an e-mail by its hash).</summary>
    public static readonly IReadOnlyList<string> Linkable = [AnonymousId, EmailSha256, IosIdfa, IosIdfv, AndroidAaid, AndroidUuid];

    /// <summary>The identifiers of a user that may link to a customer, trimmed: anonymous id, the e-mail's hash, device ids.</summary>
    public static IEnumerable<(string Type, string Value)> Of(UserIds user)
    {
        if (user.AnonymousId?.Trim() is { Length: > 0 } anonymous)
        {
            yield return (AnonymousId, anonymous);
        }

        if (Emails.Normalize(user.Email) is { } email)
        {
            yield return (EmailSha256, Emails.Sha256Hex(email));
        }

        foreach (var (type, value) in new[]
                 {
                     (IosIdfa, user.Devices?.IosAdvertisingId), (IosIdfv, user.Devices?.IosVendorId),
                     (AndroidAaid, user.Devices?.AndroidAdvertisingId), (AndroidUuid, user.Devices?.AndroidUuid),
                 })
        {
            if (value?.Trim() is { Length: > 0 } id)
            {
                yield return (type, id);
            }
        }
    }

    /// <summary>The user without the identifiers named (an e-mail by its hash's type).</summary>
    public static UserIds Without(UserIds user, IReadOnlySet<string> types)
    {
        if (types.Count == 0)
        {
            return user;
        }

        var devices = user.Devices is { } d
            ? new DeviceIds(
                types.Contains(IosIdfa) ? null : d.IosAdvertisingId, types.Contains(IosIdfv) ? null : d.IosVendorId,
                types.Contains(AndroidAaid) ? null : d.AndroidAdvertisingId, types.Contains(AndroidUuid) ? null : d.AndroidUuid)
            : null;
        return user with
        {
            AnonymousId = types.Contains(AnonymousId) ? null : user.AnonymousId,
            Email = types.Contains(EmailSha256) ? null : user.Email,
            Devices = devices is { IosAdvertisingId: null, IosVendorId: null, AndroidAdvertisingId: null, AndroidUuid: null } ? null : devices,
        };
    }
}
