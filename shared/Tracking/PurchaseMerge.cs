namespace CtMparticle.Tracking;

/// <summary>
/// One purchase per order across sources. A storefront's <c>Order Completed</c> and commercetools' order message share
/// the purchase's event id (<see cref="EventKeys.Purchase"/>); whichever is stored second meets the first in the outbox
/// and the two become one event: commercetools' amounts, lines, order number and consent, with the identifiers only the
/// client knew (anonymous id, session, device ids, e-mail) added where commercetools has none.
/// </summary>
internal static class PurchaseMerge
{
    /// <summary>
    /// The event that replaces <paramref name="stored"/> (still pending) now that <paramref name="incoming"/> arrived
    /// for the same order, or null when nothing changes: both from the same kind of source, or nothing to add.
    /// </summary>
    public static TrackingEvent? Combine(TrackingEvent stored, TrackingEvent incoming)
    {
        if (stored is not OrderCompleted first || incoming is not OrderCompleted second)
        {
            return null;
        }

        var (server, client) = (first.Origin == OrderOrigin.Storefront, second.Origin == OrderOrigin.Storefront) switch
        {
            (true, false) => (second, first),
            (false, true) => (first, second),
            _ => ((OrderCompleted?)null, (OrderCompleted?)null),
        };
        if (server is null || client is null)
        {
            return null;
        }

        var s = server.Context.User;
        var c = client.Context.User;
        var user = s with
        {
            CustomerId = s.CustomerId ?? c.CustomerId,
            Email = s.Email ?? c.Email,
            AnonymousId = s.AnonymousId ?? c.AnonymousId,
            SessionId = s.SessionId ?? c.SessionId,
            Devices = s.Devices ?? c.Devices,
        };
        var merged = server with { Context = server.Context with { User = user, Consent = server.Context.Consent ?? client.Context.Consent } };
        return merged == stored ? null : merged;
    }
}
