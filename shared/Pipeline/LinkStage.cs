using CtMparticle.Identity;
using CtMparticle.Storage;
using CtMparticle.Telemetry;
using CtMparticle.Tracking;
using Microsoft.Extensions.Logging;

namespace CtMparticle.Pipeline;

/// <summary>
/// Link capture, after the store: the moments a known customer shows another of their identifiers (signing in or up,
/// a profile update, an order carrying both a customer and an anonymous id, an order assigned to a customer, an
/// <c>alias</c> call) become identity links, for the events consent and the plan let through. The identity rules
/// decide each link's state:
/// <list type="bullet">
/// <item>an identifier seen with more customers than allowed is shared: its links turn conflicted (the first customer
/// keeps it only if the rules say so);</item>
/// <item>a customer who gains more identifiers of a type in a window than the rules allow gets the extra links as
/// limited (a script or a shared login, not a person);</item>
/// <item>a changed e-mail ends the link of the old one (revoked).</item>
/// </list>
/// E-mails are linked by their SHA-256. A commercetools <c>CustomerDeleted</c> forgets every link of the customer.
/// Idempotent: a redelivered message records nothing new.
/// </summary>
internal sealed class LinkStage(IIdentityLinkStore links, IdentityRules rules, RelayMetrics metrics, ILogger<LinkStage> logger)
{
    public async Task RecordAsync(Flow<GovernedEvents> governed, CancellationToken cancellationToken)
    {
        if (governed.Halt is Filter { Reason: Reason.CustomerDeletion } && governed.Info is { ResourceTypeId: "customer", ResourceId: { Length: > 0 } deleted })
        {
            // The person is gone from commercetools: every link of theirs is forgotten, so none of their former
            // identifiers is ever joined to them again (later events of those identifiers travel alone).
            var forgotten = await links.ForgetCustomerAsync(deleted, cancellationToken).ConfigureAwait(false);
            RelayLog.IdentityForgotten(logger, deleted, forgotten, governed.Info.MessageId);
            metrics.Events("identity_forgotten", forgotten);
            return;
        }

        if (governed.Halt is Filter { Aliases: { } alias })
        {
            var (user, _) = rules.Clean(alias.User);
            if (UserKeys.CustomerIdOf(user) is { } customer && user.AnonymousId?.Trim() is { Length: > 0 })
            {
                RelayLog.IdentityAliased(logger, governed.Info.MessageId, customer, IdentifierTypes.AnonymousId);
                await LinkAsync(alias with { User = user }, customer, cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        foreach (var trackingEvent in governed.Value?.Allowed ?? [])
        {
            if (ShowsALink(trackingEvent) && UserKeys.CustomerIdOf(trackingEvent.Context.User) is { } customer)
            {
                if (await links.WasWithheldAsync(customer, trackingEvent.Context.EventId, cancellationToken).ConfigureAwait(false))
                {
                    // A copy of an event consent refused when it was first decided (a redelivery, a replay, a rerun
                    // after a kill), which the consent learnt since would let through: consent is decided once per
                    // event, and so is what it links. Checked whether or not the store has told this copy apart yet
                    // (on Azure a write-behind batch takes an event it does not know as new until its flush).
                    RelayLog.IdentityCopyOfWithheld(logger, customer, trackingEvent.Context.EventId);
                    continue;
                }

                await LinkAsync(trackingEvent.Context, customer, cancellationToken).ConfigureAwait(false);
                if (trackingEvent is ProfileUpdated profile && profile.ChangedFields.Contains("email", StringComparer.Ordinal))
                {
                    await EndOldEmailsAsync(trackingEvent.Context, customer, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>
    /// Remembers, beside the customer's links, the events that would have shown a link but consent refused: a copy of
    /// one decided later on newer consent records nothing (<see cref="RecordAsync"/>), as an uninterrupted run would not.
    /// Only where the refusal was the event's first decision (<paramref name="decided"/>, from the store): a refused copy
    /// of an event that went (a redelivery after an opt-out, a rerun reading its inputs again) marks nothing, or its
    /// later copies would stop moving its links' last sighting, which an uninterrupted run moves.
    /// </summary>
    public async Task RecordWithheldAsync(Flow<GovernedEvents> governed, IReadOnlyCollection<Guid> decided, CancellationToken cancellationToken)
    {
        foreach (var refused in governed.Value?.ConsentRefused ?? [])
        {
            if (ShowsALink(refused.Event) && decided.Contains(refused.Event.Context.EventId) && UserKeys.CustomerIdOf(refused.Event.Context.User) is { } customer)
            {
                await links.RecordWithheldAsync(customer, refused.Event.Context.EventId, refused.Event.Context.OccurredAt, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Events that are a customer's own statement of who they are, as the identity rules count them.</summary>
    public static bool ShowsALink(TrackingEvent trackingEvent) =>
        trackingEvent is SignedIn or SignedUp or ProfileUpdated or OrderCompleted or OrderCustomerLinked;

    private async Task LinkAsync(EventContext context, string customer, CancellationToken cancellationToken)
    {
        var known = await links.ByCustomerAsync(customer, cancellationToken).ConfigureAwait(false);
        var at = context.OccurredAt;
        foreach (var (type, value) in IdentifierTypes.Of(context.User))
        {
            if (known.FirstOrDefault(l => l.Type == type && l.Value == value) is { } existing)
            {
                // Seen before: only its last sighting moves. A link recorded or decided under these rules was checked for
                // sharing then, and this sighting adds no customer to the identifier; under other rules it is checked again.
                if (at > existing.LastSeen)
                {
                    await links.SeenAgainAsync(existing, at, cancellationToken).ConfigureAwait(false);
                }

                if (existing.RulesVersion != rules.Version)
                {
                    await CheckSharedAsync(type, value, cancellationToken).ConfigureAwait(false);
                }

                continue;
            }

            var state = OverLimit(known, type, at) is not null ? LinkState.Limited : LinkState.Active;
            var link = await links.RecordNewAsync(new IdentityLink(customer, type, value, context.EventId, at, at, state, rules.Version), cancellationToken).ConfigureAwait(false);
            if (link.SourceEventId == context.EventId)
            {
                known = [.. known, link];
                if (state == LinkState.Limited)
                {
                    var rule = rules.RuleFor(type)!;
                    RelayLog.IdentityLimited(logger, customer, type, rule.MaxPerCustomer!.Value, rule.WindowDays!.Value, rules.Version);
                    metrics.Events("identity_limited", 1, type);
                }
                else
                {
                    RelayLog.IdentityLinked(logger, customer, type, context.EventId, rules.Version);
                    metrics.Events("identity_linked", 1, type);
                }
            }

            await CheckSharedAsync(type, value, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The type's limit when the customer already gained that many identifiers of it in the rule's window before <paramref name="at"/>.</summary>
    private int? OverLimit(IReadOnlyList<IdentityLink> known, string type, DateTimeOffset at)
    {
        if (rules.RuleFor(type) is not { MaxPerCustomer: { } max, WindowDays: { } days })
        {
            return null;
        }

        var since = at - TimeSpan.FromDays(days);
        var gained = known.Count(l => l.Type == type && l.State != LinkState.Revoked && l.FirstSeen > since && l.FirstSeen <= at);
        return gained >= max ? max : null;
    }

    /// <summary>The customer's e-mail changed: the links of their other e-mails end, so the old address no longer joins anyone to them.</summary>
    private async Task EndOldEmailsAsync(EventContext context, string customer, CancellationToken cancellationToken)
    {
        if (Emails.Normalize(context.User.Email) is not { } email)
        {
            return;
        }

        var current = Emails.Sha256Hex(email);
        foreach (var old in (await links.ByCustomerAsync(customer, cancellationToken).ConfigureAwait(false))
                 .Where(l => l.Type == IdentifierTypes.EmailSha256 && l.Value != current && l.State != LinkState.Revoked && l.LastSeen <= context.OccurredAt))
        {
            await links.SetStateAsync(old, LinkState.Revoked, rules.Version, cancellationToken).ConfigureAwait(false);
            RelayLog.IdentityRevoked(logger, customer, old.Type, "the customer's e-mail changed", rules.Version);
            metrics.Events("identity_revoked", 1, old.Type);
        }
    }

    /// <summary>More customers on one identifier than the rules allow: every link of it conflicted (but the first, if the rules keep it).</summary>
    private async Task CheckSharedAsync(string type, string value, CancellationToken cancellationToken)
    {
        var all = await links.ByIdentifierAsync(type, value, cancellationToken).ConfigureAwait(false);
        var customers = all.Where(l => l.State != LinkState.Revoked).ToList();
        if (customers.Count <= rules.MaxCustomersFor(type))
        {
            return;
        }

        var keep = rules.KeepFirstLinkOnConflict ? customers[0] : null;
        foreach (var link in customers.Where(l => l.State == LinkState.Active && !ReferenceEquals(l, keep)))
        {
            await links.SetStateAsync(link, LinkState.Conflicted, rules.Version, cancellationToken).ConfigureAwait(false);
            RelayLog.IdentityConflicted(logger, type, link.CustomerId, customers.Count, rules.Version);
            metrics.Events("identity_conflict", 1, type);
        }
    }
}
