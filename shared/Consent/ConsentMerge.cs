using CtMparticle.Tracking;

namespace CtMparticle.Consent;

/// <summary>
/// The one rule for combining consent signals, whatever order they arrive in: per purpose, the state given last wins,
/// by the user record's own message order (commercetools' <c>sequenceNumber</c>) when both states have one, else by
/// the time consent was given; two states that tie say the more restrictive thing (fail closed). Used by the gate,
/// the stores, the reconciler and the batch builder alike.
/// </summary>
internal static class ConsentMerge
{
    /// <summary>The newest state of each purpose from two snapshots; commutative, so arrival order never matters.</summary>
    public static ConsentSnapshot? Newest(ConsentSnapshot? older, ConsentSnapshot? newer)
    {
        if (older is null || older.IsEmpty)
        {
            return newer is null || newer.IsEmpty ? older : newer;
        }

        if (newer is null || newer.IsEmpty)
        {
            return older;
        }

        var gdpr = new Dictionary<string, ConsentPurpose>(older.Gdpr, StringComparer.Ordinal);
        foreach (var (purpose, state) in newer.Gdpr)
        {
            gdpr[purpose] = gdpr.TryGetValue(purpose, out var existing) ? Later(existing, state, restrictive: false) : state;
        }

        var ccpa = (older.CcpaDataSaleOptOut, newer.CcpaDataSaleOptOut) switch
        {
            ({ } a, { } b) => Later(a, b, restrictive: true),
            var (a, b) => a ?? b,
        };
        return new ConsentSnapshot(gdpr, ccpa);
    }

    /// <summary>The newest state of each purpose across snapshots, folded in order.</summary>
    public static ConsentSnapshot? Newest(IEnumerable<ConsentSnapshot?> snapshots) =>
        snapshots.Aggregate((ConsentSnapshot?)null, Newest);

    /// <summary>
    /// The later of two states of one purpose. On a tie the state whose <c>Consented</c> equals
    /// <paramref name="restrictive"/> wins (GDPR: not consented; CCPA: opted out); two identical answers are settled
    /// by their other fields, so the result never depends on which came first. Commercetools numbers a customer's
    /// messages in the order of their times, so sequence and time never disagree on real data.
    /// </summary>
    public static ConsentPurpose Later(ConsentPurpose a, ConsentPurpose b, bool restrictive)
    {
        var order = a.Sequence is { } x && b.Sequence is { } y && x != y ? x.CompareTo(y) : a.At.CompareTo(b.At);
        if (order == 0 && a.Consented != b.Consented)
        {
            return a.Consented == restrictive ? a : b;
        }

        // Same moment, same answer: settle on one deterministically, so the stored record never depends on arrival.
        if (order == 0)
        {
            order = (a.Sequence ?? -1).CompareTo(b.Sequence ?? -1);
        }

        if (order == 0)
        {
            order = string.CompareOrdinal(a.Document, b.Document);
        }

        if (order == 0)
        {
            order = string.CompareOrdinal(a.Location, b.Location);
        }

        return order >= 0 ? a : b;
    }

    /// <summary>
    /// The later of two stated regions, by the time of the signal that stated it, so a redelivered or replayed older
    /// message never moves a user back. Two regions stated at the same moment are settled by their code (a subdivision
    /// that could not be normalized after one that could), so the stored region never depends on arrival order.
    /// </summary>
    public static StatedRegion? NewestRegion(StatedRegion? a, StatedRegion? b)
    {
        if (a is null || b is null)
        {
            return a ?? b;
        }

        var order = a.At.CompareTo(b.At);
        if (order == 0)
        {
            order = string.CompareOrdinal(a.Region.Code, b.Region.Code);
        }

        if (order == 0)
        {
            order = a.Region.SubdivisionUnknown.CompareTo(b.Region.SubdivisionUnknown);
        }

        return order >= 0 ? a : b;
    }

    /// <summary>Whether <paramref name="state"/> is what the merged snapshot holds for its purpose (it was not superseded).</summary>
    public static bool Holds(ConsentSnapshot merged, string purpose, ConsentPurpose state) =>
        (purpose == ConsentSnapshot.CcpaPurpose ? merged.CcpaDataSaleOptOut : merged.Gdpr.GetValueOrDefault(purpose)) is { } held
        && held.Consented == state.Consented && held.At == state.At && held.Sequence == state.Sequence;
}

/// <summary>
/// A user's consent and region as the relay learnt them: per purpose the newest state, and the newest region stated.
/// </summary>
internal sealed record UserConsent(ConsentSnapshot Consent, Region? Region, DateTimeOffset UpdatedAt)
{
    /// <summary>
    /// When the signal that stated <see cref="Region"/> happened; <see cref="DateTimeOffset.MinValue"/> for a region
    /// stored by a version that kept no time, which any region stated since replaces.
    /// </summary>
    public DateTimeOffset RegionAt { get; init; } = DateTimeOffset.MinValue;

    /// <summary>The stored region with its time, as <see cref="ConsentMerge.NewestRegion"/> compares it.</summary>
    public StatedRegion? StatedRegion => Region is { } region ? new StatedRegion(region, RegionAt) : null;

    /// <summary>The state after learning <paramref name="consent"/> and <paramref name="region"/> at <paramref name="now"/>: per purpose the newest, and the newest region.</summary>
    public static UserConsent Merged(UserConsent? existing, ConsentSnapshot? consent, StatedRegion? region, DateTimeOffset now)
    {
        var where = ConsentMerge.NewestRegion(existing?.StatedRegion, region);
        return new UserConsent(ConsentMerge.Newest(existing?.Consent, consent) ?? ConsentSnapshot.Empty, where?.Region, now)
        {
            RegionAt = where?.At ?? DateTimeOffset.MinValue,
        };
    }
}

/// <summary>A region as an event stated it (its address), and the event's time.</summary>
internal sealed record StatedRegion(Region Region, DateTimeOffset At);
