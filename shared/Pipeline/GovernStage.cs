using CtMparticle.Governance;
using CtMparticle.Telemetry;
using CtMparticle.Tracking;
using Microsoft.Extensions.Logging;

namespace CtMparticle.Pipeline;

/// <summary>
/// The govern stage's result: the events the plan's policy lets through (<see cref="Flagged"/>: those with violations
/// it allows, by event id), and the blocked ones' violations.
/// </summary>
internal sealed record GovernedEvents(
    IReadOnlyList<TrackingEvent> Allowed,
    IReadOnlyDictionary<Guid, GovernanceDecision> Flagged,
    IReadOnlyList<GovernanceDecision> Blocked,
    IReadOnlyList<RefusedEvent> ConsentRefused,
    int ConsentSuperseded,
    string? ConsentDetail,
    OrderContext? OrderContext);

/// <summary>
/// Govern: each event is checked against the active tracking plan; a violation the policy blocks keeps the event
/// from the store (the store quarantines it when nothing else of the input was stored), one it allows is counted.
/// </summary>
internal sealed class GovernStage(PlanGovernor governor, RelayMetrics metrics, ILogger<GovernStage> logger)
{
    public static readonly IReadOnlyDictionary<TrackingEvent, GovernanceDecision> NothingChecked =
        new Dictionary<TrackingEvent, GovernanceDecision>(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// Each mapped event's decision, ahead of the consent gate (the check is pure, so it can run outside the store's
    /// writer); <see cref="Apply"/> acts on them for the events the gate lets through.
    /// </summary>
    public IReadOnlyDictionary<TrackingEvent, GovernanceDecision> Check(Flow<MappedEvents> mapped)
    {
        if (mapped.Value is not { Events.Count: > 0 } events)
        {
            return NothingChecked;
        }

        var decisions = new Dictionary<TrackingEvent, GovernanceDecision>(events.Events.Count, ReferenceEqualityComparer.Instance);
        foreach (var trackingEvent in events.Events)
        {
            decisions[trackingEvent] = governor.Check(trackingEvent);
        }

        return decisions;
    }

    /// <param name="checkedEvents">Decisions made before (<see cref="Check"/>); an event without one is checked now.</param>
    public Flow<GovernedEvents> Apply(Flow<GatedEvents> gated, IReadOnlyDictionary<TrackingEvent, GovernanceDecision>? checkedEvents = null)
    {
        if (gated.Value is not { } events)
        {
            return gated.Halted<GovernedEvents>();
        }

        var allowed = new List<TrackingEvent>(events.Allowed.Count);
        var blocked = new List<GovernanceDecision>();
        var flagged = new Dictionary<Guid, GovernanceDecision>();
        foreach (var trackingEvent in events.Allowed)
        {
            var decision = checkedEvents?.GetValueOrDefault(trackingEvent) ?? governor.Check(trackingEvent);
            if (decision.Violations.Count > 0)
            {
                RelayLog.PlanViolation(logger, trackingEvent.Context.EventId, trackingEvent.Name, gated.Info.MessageId, decision.Blocked ? "block" : "allow", decision.Violations.Count);
                metrics.Events("violation", 1, decision.Blocked ? "blocked" : "allowed");
                if (decision.Blocked)
                {
                    blocked.Add(decision);
                    continue;
                }

                flagged[trackingEvent.Context.EventId] = decision;
            }

            allowed.Add(trackingEvent);
        }

        return Flow<GovernedEvents>.Go(gated.Info, new GovernedEvents(allowed, flagged, blocked, events.Refused, events.Superseded, events.BlockDetail, events.OrderContext));
    }
}
