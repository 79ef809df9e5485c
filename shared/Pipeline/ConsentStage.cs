using CtMparticle.Configuration;
using CtMparticle.Consent;
using CtMparticle.Identity;
using CtMparticle.Storage;
using CtMparticle.Telemetry;
using CtMparticle.Tracking;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Pipeline;

/// <summary>
/// The gate stage's result. <see cref="Allowed"/> goes on to be stored: events consent allows, and events whose
/// consent is not known yet (the push holds those for <c>Relay:ConsentWait</c>). <see cref="Refused"/> events are
/// recorded as decided and never sent. <see cref="Superseded"/> counts consent updates older than what is known.
/// </summary>
internal sealed record GatedEvents(
    IReadOnlyList<TrackingEvent> Allowed,
    IReadOnlyList<RefusedEvent> Refused,
    int Superseded,
    string? BlockDetail,
    OrderContext? OrderContext);

/// <summary>
/// An event consent refused, and the consent update standing for the choice it carried when that choice is the user's
/// newest (stored only if the refused event is new, so a replay never adds one).
/// </summary>
internal sealed record RefusedEvent(TrackingEvent Event, ConsentUpdated? Learnt);

/// <summary>
/// Gate: what each event teaches about its user's consent and region is merged into the stored state (per purpose the
/// latest by commercetools' own order, whatever the arrival order), then the consent gate decides with the newest
/// state known. A consent update that arrives after a newer one is recorded but sends nothing.
/// </summary>
internal sealed class ConsentStage(IConsentStore consent, ConsentRules rules, IOptions<MParticleOptions> routing, ILogger<ConsentStage> logger)
{
    public async Task<Flow<GatedEvents>> ApplyAsync(Flow<MappedEvents> mapped, CancellationToken cancellationToken)
    {
        if (mapped.Value is not { } events)
        {
            return mapped.Halted<GatedEvents>();
        }

        var allowed = new List<TrackingEvent>(events.Events.Count);
        var refused = new List<RefusedEvent>();
        var superseded = 0;
        string? blockDetail = null;
        foreach (var trackingEvent in events.Events)
        {
            var userKey = UserKeys.Of(trackingEvent.Context.User);
            var state = userKey is null ? null : await LearnAsync(userKey, trackingEvent, cancellationToken).ConfigureAwait(false);
            if (trackingEvent is ConsentUpdated && IsSuperseded(trackingEvent.Context.Consent, state))
            {
                superseded++;
                blockDetail = "Every purpose this consent change states was changed again later (by commercetools' order); it is recorded, and nothing is sent.";
                RelayLog.Superseded(logger, trackingEvent.Context.EventId, mapped.Info.MessageId);
                continue;
            }

            var decision = ConsentGate.Decide(trackingEvent, state, rules, routing.Value);
            if (decision.Verdict != ConsentVerdict.Refuse)
            {
                // Unknown consent is not refusal: the event waits in the outbox for the user's consent (ADR 0003).
                allowed.Add(trackingEvent);
                continue;
            }

            // A refused event may carry the user's newest choice (a checkout snapshot, a sign-up's consent fields):
            // mParticle must learn it, or its profile keeps an older "consented" that its forwarding rules act on.
            refused.Add(new RefusedEvent(trackingEvent, ConsentLearnt(trackingEvent, state)));
            blockDetail = decision.Detail;
            RelayLog.Blocked(logger, trackingEvent.Context.EventId, trackingEvent.Name, mapped.Info.MessageId, decision.Regime, decision.RegionCode, Reason.ConsentNotGiven.Code());
        }

        return Flow<GatedEvents>.Go(mapped.Info, new GatedEvents(allowed, refused, superseded, blockDetail, events.OrderContext));
    }

    /// <summary>
    /// A consent update standing for the consent a refused event stated, when that consent is what the merged state now
    /// holds (it is the newest): its own dedupe key, derived from the event's, so a redelivery stores it once.
    /// </summary>
    private static ConsentUpdated? ConsentLearnt(TrackingEvent refused, UserConsent? merged)
    {
        if (!Teaches(refused) || refused.Context.Consent is not { IsEmpty: false } stated || IsSuperseded(stated, merged))
        {
            return null;
        }

        var key = refused.Context.DedupeKey + "/consent";
        return new ConsentUpdated(refused.Context with { EventId = Uuid5.ForEvent(key), DedupeKey = key }, stated.Purposes);
    }

    /// <summary>Whether none of the purposes an update states is the one the merged state now holds.</summary>
    private static bool IsSuperseded(ConsentSnapshot? stated, UserConsent? merged)
    {
        if (stated is not { IsEmpty: false } || merged is null)
        {
            return false;
        }

        return stated.Gdpr.All(p => !ConsentMerge.Holds(merged.Consent, p.Key, p.Value))
            && (stated.CcpaDataSaleOptOut is not { } ccpa || !ConsentMerge.Holds(merged.Consent, ConsentSnapshot.CcpaPurpose, ccpa));
    }

    /// <summary>
    /// Events whose consent and region are the user's own statement at that moment (a consent change, a sign-up, a
    /// checkout); follow-ups of an order only repeat the order's.
    /// </summary>
    private static bool Teaches(TrackingEvent trackingEvent) => trackingEvent is ConsentUpdated or SignedUp or OrderCompleted;

    /// <summary>Records what an event teaches about the user's consent and region; returns the user's state.</summary>
    private async Task<UserConsent?> LearnAsync(string userKey, TrackingEvent trackingEvent, CancellationToken cancellationToken)
    {
        var carriesConsent = trackingEvent.Context.Consent is { IsEmpty: false };
        if (Teaches(trackingEvent) && (carriesConsent || trackingEvent.Context.Region is not null))
        {
            var stated = trackingEvent.Context.Region is { } region ? new StatedRegion(region, trackingEvent.Context.OccurredAt) : null;
            return await consent.MergeAsync(userKey, trackingEvent.Context.Consent, stated, cancellationToken).ConfigureAwait(false);
        }

        return await consent.GetAsync(userKey, cancellationToken).ConfigureAwait(false);
    }
}
