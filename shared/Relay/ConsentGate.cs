using CtMparticle.Tracking;

namespace CtMparticle.Relay;

/// <summary>What the gate decided, with the consent to attach and the regime behind it (for logs).</summary>
public sealed record ConsentDecision(bool Allowed, string Regime, string? RegionCode, ConsentSnapshot? Consent, string Detail);

/// <summary>
/// The consent function of the relay: may this event be forwarded, given its region and the newest consent
/// known? Pure. Consent updates themselves always pass: mParticle must learn a withdrawal.
/// </summary>
public static class ConsentGate
{
    public static ConsentDecision Decide(TrackingEvent trackingEvent, UserConsent? stored, ConsentRules rules, string? defaultCountry)
    {
        var consent = Merge(stored?.Consent, trackingEvent.Context.Consent);
        var region = trackingEvent.Context.Region ?? stored?.Region
            ?? (string.IsNullOrEmpty(defaultCountry) ? null : new Region(defaultCountry));
        var regime = rules.RegimeFor(region?.Code);
        if (trackingEvent is ConsentUpdated)
        {
            return new ConsentDecision(true, regime.Name, region?.Code, consent, "Consent updates are always forwarded.");
        }

        switch (regime.Mode)
        {
            case ConsentMode.OptIn:
                var missing = regime.RequiredPurposes.Where(p => consent?.Gdpr.TryGetValue(p, out var s) != true || !s!.Consented).ToArray();
                return missing.Length == 0
                    ? new ConsentDecision(true, regime.Name, region?.Code, consent, "Every required purpose is consented.")
                    : new ConsentDecision(false, regime.Name, region?.Code, consent,
                        $"Region {region?.Code ?? "(unknown)"} is opt-in ({regime.Name}) and consent for {string.Join(", ", missing)} is not given.");
            case ConsentMode.OptOut:
                var refused = regime.RequiredPurposes.Where(p => p == ConsentRules.CcpaPurpose
                    ? consent?.CcpaDataSaleOptOut?.Consented == true
                    : consent?.Gdpr.TryGetValue(p, out var s) == true && !s.Consented).ToArray();
                return refused.Length == 0
                    ? new ConsentDecision(true, regime.Name, region?.Code, consent, "No required purpose is refused.")
                    : new ConsentDecision(false, regime.Name, region?.Code, consent,
                        $"Region {region?.Code} is opt-out ({regime.Name}) and the user opted out of {string.Join(", ", refused)}.");
            default:
                return new ConsentDecision(true, regime.Name, region?.Code, consent, "No consent regime applies.");
        }
    }

    /// <summary>The newest state of each purpose from two snapshots (by the time consent was given).</summary>
    public static ConsentSnapshot? Merge(ConsentSnapshot? older, ConsentSnapshot? newer)
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

    /// <summary>The key consent is stored under: the customer id, else the anonymous id, else the e-mail's hash.</summary>
    public static string? UserKey(UserIds user) =>
        !string.IsNullOrWhiteSpace(user.CustomerId) ? $"customer:{user.CustomerId.Trim()}"
        : !string.IsNullOrWhiteSpace(user.AnonymousId) ? $"anonymous:{user.AnonymousId.Trim()}"
        : MParticle.BatchBuilder.NormalizeEmail(user.Email) is { } email ? $"email:{MParticle.BatchBuilder.Sha256Hex(email)}"
        : null;
}
