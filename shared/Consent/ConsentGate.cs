using CtMparticle.Tracking;

namespace CtMparticle.Consent;

/// <summary>What the gate decided, with the consent to attach and the regime behind it (for logs).</summary>
internal sealed record ConsentDecision(bool Allowed, string Regime, string? RegionCode, ConsentSnapshot? Consent, string Detail);

/// <summary>
/// The consent function of the relay: may this event be forwarded, given its region and the newest consent
/// known? Pure. Consent updates themselves always pass: mParticle must learn a withdrawal.
/// </summary>
internal static class ConsentGate
{
    public static ConsentDecision Decide(TrackingEvent trackingEvent, UserConsent? stored, ConsentRules rules, string? defaultCountry)
    {
        var consent = ConsentMerge.Newest(stored?.Consent, trackingEvent.Context.Consent);
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
                var refused = regime.RequiredPurposes.Where(p => p == ConsentSnapshot.CcpaPurpose
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

}
