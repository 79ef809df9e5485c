using CtMparticle.Configuration;
using CtMparticle.Tracking;

namespace CtMparticle.Identity;

/// <summary>
/// The mParticle identities a user becomes, by configuration: customer id, e-mail (normalized, plain or SHA-256 in
/// an <c>other_id_N</c>), anonymous id. Pure. Events whose users map to equal identities belong in one batch.
/// </summary>
internal sealed class IdentityMapper(IdentityOptions options)
{
    public SortedDictionary<string, string> For(UserIds user)
    {
        var identities = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (!string.IsNullOrWhiteSpace(user.CustomerId))
        {
            identities[options.CustomerIdIdentity] = user.CustomerId.Trim();
        }

        if (Emails.Normalize(user.Email) is { } email)
        {
            switch (options.EmailMode)
            {
                case EmailIdentityMode.Plain:
                    identities["email"] = email;
                    break;
                case EmailIdentityMode.Sha256:
                    identities[options.EmailHashIdentity] = Emails.Sha256Hex(email);
                    break;
                case EmailIdentityMode.Omit:
                    break;
            }
        }

        if (!string.IsNullOrEmpty(options.AnonymousIdIdentity) && !string.IsNullOrWhiteSpace(user.AnonymousId))
        {
            identities[options.AnonymousIdIdentity] = user.AnonymousId.Trim();
        }

        return identities;
    }
}
