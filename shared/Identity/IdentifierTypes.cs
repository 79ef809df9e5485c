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
}
