using CtMparticle.Consent;
using CtMparticle.Tracking;

namespace CtMparticle.Storage;

/// <summary>Each user's consent and region: the newest the relay learnt of each.</summary>
internal interface IConsentStore
{
    Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken);

    /// <summary>
    /// Merges consent into the stored state, per purpose by time, and the region by the time it was stated (an older
    /// signal never overwrites a newer one, so out-of-order and replayed messages are harmless). Returns the new state.
    /// </summary>
    Task<UserConsent> MergeAsync(string userKey, ConsentSnapshot? consent, StatedRegion? region, CancellationToken cancellationToken);

    /// <summary>
    /// Forgets the states last updated before <paramref name="cutoff"/> that <paramref name="keep"/> does not keep
    /// (retention); returns how many.
    /// </summary>
    Task<int> PurgeConsentOlderThanAsync(DateTimeOffset cutoff, Func<UserConsent, bool> keep, CancellationToken cancellationToken);
}

/// <summary>How a region is kept in a country and a state column: an unknown subdivision is stored as <c>?</c>, so it is never read back as "no subdivision".</summary>
internal static class RegionColumns
{
    private const string Unknown = "?";

    public static string? State(Region? region) => region is { SubdivisionUnknown: true } ? Unknown : region?.State;

    public static Region Read(string country, string? state) =>
        state == Unknown ? new Region(country) { SubdivisionUnknown = true } : new Region(country, state);
}
