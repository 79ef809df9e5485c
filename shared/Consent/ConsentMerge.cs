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

    /// <summary>Whether <paramref name="state"/> is what the merged snapshot holds for its purpose (it was not superseded).</summary>
    public static bool Holds(ConsentSnapshot merged, string purpose, ConsentPurpose state) =>
        (purpose == ConsentSnapshot.CcpaPurpose ? merged.CcpaDataSaleOptOut : merged.Gdpr.GetValueOrDefault(purpose)) is { } held
        && held.Consented == state.Consented && held.At == state.At && held.Sequence == state.Sequence;
}

/// <summary>A user's consent and region as the relay last learnt them.</summary>
internal sealed record UserConsent(ConsentSnapshot Consent, Region? Region, DateTimeOffset UpdatedAt);
