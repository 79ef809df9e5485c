using CtMparticle.Configuration;
using CtMparticle.Tracking;

namespace CtMparticle.Consent;

internal enum ConsentVerdict
{
    /// <summary>Forward it.</summary>
    Allow,
    /// <summary>A required purpose is refused: never forward it.</summary>
    Refuse,
    /// <summary>Opt-in and a required purpose is not known yet: hold it for <c>Relay:ConsentWait</c>, then refuse.</summary>
    Unknown,
}

/// <summary>What the gate decided, with the consent to attach and the regime behind it (for logs).</summary>
internal sealed record ConsentDecision(ConsentVerdict Verdict, string Regime, string? RegionCode, ConsentSnapshot? Consent, string Detail)
{
    public bool Allowed => Verdict == ConsentVerdict.Allow;
}

/// <summary>
/// The consent function of the relay: may this event be forwarded, given its region and the newest consent
/// known? Pure. Consent updates themselves always pass: mParticle must learn a withdrawal.
/// </summary>
internal static class ConsentGate
{
    /// <param name="routing">For the region's fallbacks: the stores' countries and <c>MParticle:DefaultCountry</c>.</param>
    public static ConsentDecision Decide(TrackingEvent trackingEvent, UserConsent? stored, ConsentRules rules, MParticleOptions routing)
    {
        var consent = ConsentMerge.Newest(stored?.Consent, trackingEvent.Context.Consent);
        var region = RegionOf(trackingEvent, stored, routing);
        var regime = rules.RegimeFor(region);
        if (trackingEvent is ConsentUpdated)
        {
            return new ConsentDecision(ConsentVerdict.Allow, regime.Name, region?.Code, consent, "Consent updates are always forwarded.");
        }

        switch (regime.Mode)
        {
            case ConsentMode.OptIn:
                var refusedIn = regime.RequiredPurposes.Where(p => consent?.Gdpr.TryGetValue(p, out var s) == true && !s.Consented).ToArray();
                var unknown = regime.RequiredPurposes.Where(p => consent?.Gdpr.ContainsKey(p) != true).ToArray();
                return (refusedIn.Length, unknown.Length) switch
                {
                    (0, 0) => new ConsentDecision(ConsentVerdict.Allow, regime.Name, region?.Code, consent, "Every required purpose is consented."),
                    ( > 0, _) => new ConsentDecision(ConsentVerdict.Refuse, regime.Name, region?.Code, consent,
                        $"Region {region?.Code ?? "(unknown)"} is opt-in ({regime.Name}) and consent for {string.Join(", ", refusedIn)} is refused."),
                    _ => new ConsentDecision(ConsentVerdict.Unknown, regime.Name, region?.Code, consent,
                        $"Region {region?.Code ?? "(unknown)"} is opt-in ({regime.Name}) and consent for {string.Join(", ", unknown)} is not known yet."),
                };
            case ConsentMode.OptOut:
                var refused = regime.RequiredPurposes.Where(p => p == ConsentSnapshot.CcpaPurpose
                    ? consent?.CcpaDataSaleOptOut?.Consented == true
                    : consent?.Gdpr.TryGetValue(p, out var s) == true && !s.Consented).ToArray();
                return refused.Length == 0
                    ? new ConsentDecision(ConsentVerdict.Allow, regime.Name, region?.Code, consent, "No required purpose is refused.")
                    : new ConsentDecision(ConsentVerdict.Refuse, regime.Name, region?.Code, consent,
                        $"Region {region?.Code} is opt-out ({regime.Name}) and the user opted out of {string.Join(", ", refused)}.");
            default:
                return new ConsentDecision(ConsentVerdict.Allow, regime.Name, region?.Code, consent, "No consent regime applies.");
        }
    }

    /// <summary>
    /// Where the user is, by ADR 0003's precedence: the event's own address, then the region stored for the user, then
    /// the event's store's country, then <c>MParticle:DefaultCountry</c>. Blank values are absent at every step.
    /// </summary>
    public static Region? RegionOf(TrackingEvent trackingEvent, UserConsent? stored, MParticleOptions routing) =>
        trackingEvent.Context.Region
        ?? stored?.Region
        ?? Subdivisions.Normalize(routing.FindStore(trackingEvent.Context.StoreKey)?.DefaultCountry, null)
        ?? Subdivisions.Normalize(routing.DefaultCountry, null);
}
