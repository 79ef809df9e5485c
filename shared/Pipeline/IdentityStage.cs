using CtMparticle.Identity;
using CtMparticle.Telemetry;
using CtMparticle.Tracking;
using Microsoft.Extensions.Logging;

namespace CtMparticle.Pipeline;

/// <summary>
/// Identity hygiene, right after the map: identifiers the identity rules block (placeholders such as "undefined",
/// an all-zero advertising id, test@test.com) are dropped from every event and from the order context later
/// messages read, so they never key consent state or travel to mParticle. An input left without any identifier is
/// quarantined as <c>no_identity</c>. Pure apart from its log line and metric (the types dropped, never the values).
/// </summary>
internal sealed class IdentityStage(IdentityRules rules, RelayMetrics metrics, ILogger<IdentityStage> logger)
{
    public Flow<MappedEvents> Apply(Flow<MappedEvents> mapped)
    {
        if (mapped.Halt is Filter { Aliases: { } alias } filter)
        {
            return Alias(mapped.Info, filter, alias) ?? mapped;
        }

        if (mapped.Value is not { } events)
        {
            return mapped;
        }

        List<TrackingEvent>? cleaned = null;
        for (var i = 0; i < events.Events.Count; i++)
        {
            var trackingEvent = events.Events[i];
            var (user, dropped) = rules.Clean(trackingEvent.Context.User);
            if (dropped.Count == 0)
            {
                continue;
            }

            foreach (var type in dropped)
            {
                RelayLog.IdentityBlocked(logger, type, trackingEvent.Context.EventId, trackingEvent.Name, mapped.Info.MessageId, rules.Version);
                metrics.Events("identity_blocked", 1, type);
            }

            if (user.IsEmpty)
            {
                return Flow<MappedEvents>.Stop(mapped.Info, new Reject("identity", Reason.NoIdentity,
                    $"Every identifier of {trackingEvent.Name} is a placeholder the identity rules (version {rules.Version}) block ({string.Join(", ", dropped)}): " +
                    "one such value shared by many shoppers would merge them into one profile in mParticle. Fix the tracker or form that sends it."));
            }

            cleaned ??= [.. events.Events];
            cleaned[i] = trackingEvent with { Context = trackingEvent.Context with { User = user } };
        }

        var order = events.OrderContext is { } context && rules.Clean(context.User) is { Dropped.Count: > 0 } cleanOrder
            ? context with { User = cleanOrder.User }
            : events.OrderContext;
        return cleaned is null && ReferenceEquals(order, events.OrderContext)
            ? mapped
            : Flow<MappedEvents>.Go(mapped.Info, events with { Events = cleaned ?? events.Events, OrderContext = order });
    }

    /// <summary>
    /// An alias call exists only to say two ids are one person. When the rules block either side (a previousId of
    /// "undefined", a userId never rendered), there is no such statement: the call is quarantined as
    /// <c>no_identity</c> saying which side, rather than answered as recorded while nothing is. A blocked device id
    /// beside them is only dropped, as from any event.
    /// </summary>
    private Flow<MappedEvents>? Alias(InputInfo info, Filter filter, EventContext alias)
    {
        var (user, dropped) = rules.Clean(alias.User);
        if (dropped.Count == 0)
        {
            return null;
        }

        foreach (var type in dropped)
        {
            RelayLog.IdentityBlocked(logger, type, alias.EventId, "alias", info.MessageId, rules.Version);
            metrics.Events("identity_blocked", 1, type);
        }

        if (user is { CustomerId: not null, AnonymousId: not null })
        {
            return Flow<MappedEvents>.Stop(info, filter with { Aliases = alias with { User = user } });
        }

        var sides = string.Join(" and ", new[] { user.CustomerId is null ? "userId" : null, user.AnonymousId is null ? "previousId" : null }.OfType<string>());
        return Flow<MappedEvents>.Stop(info, new Reject("identity", Reason.NoIdentity,
            $"An alias call says its userId and previousId are one person, but its {sides} is a placeholder the identity rules (version {rules.Version}) block: " +
            "nothing was recorded, because a link to a value many shoppers share would merge them into one profile. Fix the tracker that sends it."));
    }
}
