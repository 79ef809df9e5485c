using CtMparticle.Identity;
using CtMparticle.Storage;
using CtMparticle.Telemetry;
using CtMparticle.Tracking;
using Microsoft.Extensions.Logging;

namespace CtMparticle.Pipeline;

/// <summary>
/// Link capture, after the store: the moments a known customer shows another of their identifiers (signing in or up,
/// a profile update, an order carrying both a customer and an anonymous id, an order assigned to a customer) become
/// identity links, for the events consent and the plan let through. An identifier seen with more customers than the
/// identity rules allow is shared: its links turn conflicted (the first customer keeps it only if the rules say so).
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

        foreach (var trackingEvent in governed.Value?.Allowed ?? [])
        {
            if (!ShowsALink(trackingEvent) || trackingEvent.Context.User.CustomerId?.Trim() is not { Length: > 0 } customer)
            {
                continue;
            }

            foreach (var (type, value) in Identifiers(trackingEvent.Context.User))
            {
                var at = trackingEvent.Context.OccurredAt;
                var link = await links.RecordAsync(
                    new IdentityLink(customer, type, value, trackingEvent.Context.EventId, at, at, LinkState.Active, rules.Version), cancellationToken).ConfigureAwait(false);
                if (link.FirstSeen == at && link.SourceEventId == trackingEvent.Context.EventId)
                {
                    RelayLog.IdentityLinked(logger, customer, type, value, trackingEvent.Context.EventId, rules.Version);
                    metrics.Events("identity_linked", 1, type);
                }

                await CheckSharedAsync(type, value, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Events that are a customer's own statement of who they are, as the identity rules count them.</summary>
    public static bool ShowsALink(TrackingEvent trackingEvent) =>
        trackingEvent is SignedIn or SignedUp or ProfileUpdated or OrderCompleted or OrderCustomerLinked;

    /// <summary>The identifiers of a user that may link to a customer: anonymous id, the e-mail's hash, device ids.</summary>
    public static IEnumerable<(string Type, string Value)> Identifiers(UserIds user)
    {
        if (user.AnonymousId?.Trim() is { Length: > 0 } anonymous)
        {
            yield return (IdentifierTypes.AnonymousId, anonymous);
        }

        if (Emails.Normalize(user.Email) is { } email)
        {
            yield return (IdentifierTypes.EmailSha256, Emails.Sha256Hex(email));
        }

        foreach (var (type, value) in new[]
                 {
                     (IdentifierTypes.IosIdfa, user.Devices?.IosAdvertisingId), (IdentifierTypes.IosIdfv, user.Devices?.IosVendorId),
                     (IdentifierTypes.AndroidAaid, user.Devices?.AndroidAdvertisingId), (IdentifierTypes.AndroidUuid, user.Devices?.AndroidUuid),
                 })
        {
            if (value?.Trim() is { Length: > 0 } id)
            {
                yield return (type, id);
            }
        }
    }

    /// <summary>More customers on one identifier than the rules allow: every link of it conflicted (but the first, if the rules keep it).</summary>
    private async Task CheckSharedAsync(string type, string value, CancellationToken cancellationToken)
    {
        var all = await links.ByIdentifierAsync(type, value, cancellationToken).ConfigureAwait(false);
        var customers = all.Where(l => l.State != LinkState.Revoked).ToList();
        if (customers.Count <= rules.MaxCustomersPerIdentifier)
        {
            return;
        }

        var keep = rules.KeepFirstLinkOnConflict ? customers[0] : null;
        foreach (var link in customers.Where(l => l.State == LinkState.Active && !ReferenceEquals(l, keep)))
        {
            await links.SetStateAsync(link, LinkState.Conflicted, rules.Version, cancellationToken).ConfigureAwait(false);
            RelayLog.IdentityConflicted(logger, type, value, link.CustomerId, customers.Count, rules.Version);
            metrics.Events("identity_conflict", 1, type);
        }
    }
}
