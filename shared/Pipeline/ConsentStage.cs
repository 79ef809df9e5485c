using CtMparticle.Configuration;
using CtMparticle.Consent;
using CtMparticle.Identity;
using CtMparticle.Storage;
using CtMparticle.Telemetry;
using CtMparticle.Tracking;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Pipeline;

/// <summary>The gate stage's result: the events consent allows, and how many it blocked.</summary>
internal sealed record GatedEvents(IReadOnlyList<TrackingEvent> Allowed, int Blocked, string? BlockDetail, OrderContext? OrderContext);

/// <summary>
/// Gate: what each event teaches about its user's consent and region is recorded, then the consent gate decides
/// with the newest state known. Blocked events go no further; they are counted, logged and never stored.
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
        int blocked = 0;
        string? blockDetail = null;
        foreach (var trackingEvent in events.Events)
        {
            var userKey = UserKeys.Of(trackingEvent.Context.User);
            var state = userKey is null ? null : await LearnAsync(userKey, trackingEvent, cancellationToken).ConfigureAwait(false);
            var decision = ConsentGate.Decide(trackingEvent, state, rules, routing.Value.DefaultCountry);
            if (decision.Allowed)
            {
                allowed.Add(trackingEvent);
                continue;
            }

            blocked++;
            blockDetail = decision.Detail;
            RelayLog.Blocked(logger, trackingEvent.Context.EventId, trackingEvent.Name, mapped.Info.MessageId, decision.Regime, decision.RegionCode, Reason.ConsentNotGiven.Code());
        }

        return Flow<GatedEvents>.Go(mapped.Info, new GatedEvents(allowed, blocked, blockDetail, events.OrderContext));
    }

    /// <summary>Records what an event teaches about the user's consent and region; returns the user's state.</summary>
    private async Task<UserConsent?> LearnAsync(string userKey, TrackingEvent trackingEvent, CancellationToken cancellationToken)
    {
        var teaches = trackingEvent is ConsentUpdated or SignedUp or OrderCompleted;
        var carriesConsent = trackingEvent.Context.Consent is { IsEmpty: false };
        if (teaches && (carriesConsent || trackingEvent.Context.Region is not null))
        {
            return await consent.MergeAsync(userKey, trackingEvent.Context.Consent, trackingEvent.Context.Region, cancellationToken).ConfigureAwait(false);
        }

        return await consent.GetAsync(userKey, cancellationToken).ConfigureAwait(false);
    }
}
