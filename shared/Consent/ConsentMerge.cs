using CtMparticle.Tracking;

namespace CtMparticle.Consent;

/// <summary>
/// The one rule for combining consent signals: per purpose, the state given last (by the time consent was given)
/// wins; on equal times the later signal wins. Used by the gate, the stores and the batch builder alike.
/// </summary>
internal static class ConsentMerge
{
    /// <summary>The newest state of each purpose from two snapshots (by the time consent was given).</summary>
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
            if (!gdpr.TryGetValue(purpose, out var existing) || existing.At <= state.At)
            {
                gdpr[purpose] = state;
            }
        }

        var ccpa = older.CcpaDataSaleOptOut is null || (newer.CcpaDataSaleOptOut is { } n && older.CcpaDataSaleOptOut.At <= n.At)
            ? newer.CcpaDataSaleOptOut ?? older.CcpaDataSaleOptOut
            : older.CcpaDataSaleOptOut;
        return new ConsentSnapshot(gdpr, ccpa);
    }

    /// <summary>The newest state of each purpose across snapshots, folded in order.</summary>
    public static ConsentSnapshot? Newest(IEnumerable<ConsentSnapshot?> snapshots) =>
        snapshots.Aggregate((ConsentSnapshot?)null, Newest);
}

/// <summary>A user's consent and region as the relay last learnt them.</summary>
internal sealed record UserConsent(ConsentSnapshot Consent, Region? Region, DateTimeOffset UpdatedAt);
