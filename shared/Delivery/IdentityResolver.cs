using CtMparticle.Consent;
using CtMparticle.Identity;
using CtMparticle.Storage;
using CtMparticle.Tracking;

namespace CtMparticle.Delivery;

/// <summary>What identity resolution made of one event's user: the identities to send, and every choice with its rule.</summary>
/// <param name="JoinedBy">The identifier type whose link joined an anonymous event to a customer, or null.</param>
internal sealed record ResolvedIdentity(UserIds User, IReadOnlyList<IdentityChoice> Choices, string? JoinedBy)
{
    public int Withheld => Choices.Count(c => !c.Sent);
}

/// <summary>
/// Applying identity links at push, pure: mParticle merges the profiles of identities that travel in one batch, so
/// this decides which travel together.
/// <list type="bullet">
/// <item>An event without a customer id is joined to the customer its identifiers are actively linked to, by the
/// identity rules' priority (the first batch after a sign-in carries both sides, and every later anonymous event of
/// that browser or device carries the customer id). Only a link of a type the rules list, within its lifetime, to
/// exactly one customer joins; a guest's e-mail joins only if <c>linkGuestOrdersByEmail</c> says so.</item>
/// <item>Beside a customer id, an identifier is withheld when its link to that customer is conflicted, limited or
/// revoked, when it is seen with more customers than the rules allow, or when a pairing rule's consent is missing in
/// the event's regime. The event then travels with the customer id alone.</item>
/// </list>
/// Deterministic: the same event and the same links give the same identities, so a rebuilt batch is the same batch.
/// </summary>
internal sealed class IdentityResolver(IdentityRules rules)
{
    public IdentityRules Rules => rules;

    /// <summary>
    /// The identifiers of an event whose every link (the identifier's side of the links) resolution needs, given the
    /// links of the event's own customer (<paramref name="customersOwn"/>): every identifier of an anonymous event (any
    /// may join it to a customer); beside a customer id, only those whose link to that customer does not decide alone.
    /// An active, limited or revoked link to the customer decides alone (<see cref="WithheldBeside"/> reads nothing
    /// else); a missing one leaves it to the other customers of the identifier, and a conflicted one's reason counts them.
    /// </summary>
    public static IEnumerable<(string Type, string Value)> NeedingEveryLink(UserIds user, IReadOnlyList<IdentityLink> customersOwn)
    {
        var customer = UserKeys.CustomerIdOf(user);
        return IdentifierTypes.Of(user).Where(i => customer is null
            || Own(customersOwn, customer, i.Type, i.Value) is not { State: LinkState.Active or LinkState.Limited or LinkState.Revoked });
    }

    /// <summary>
    /// What <see cref="Resolve(UserIds, ConsentDecision, Func{string, string, IReadOnlyList{IdentityLink}}, IdentityLink?, Func{string, string?}?)"/>
    /// is given as an identifier's links for an event of <paramref name="user"/>: every link where they were read
    /// (<paramref name="everyLink"/>), else the identifier's link to the event's own customer alone, which then decides
    /// alone (<see cref="NeedingEveryLink"/>).
    /// </summary>
    public static Func<string, string, IReadOnlyList<IdentityLink>> LinksFor(
        UserIds user, IReadOnlyList<IdentityLink> customersOwn, Func<string, string, IReadOnlyList<IdentityLink>?> everyLink)
    {
        var customer = UserKeys.CustomerIdOf(user);
        return (type, value) => everyLink(type, value)
            ?? (customer is not null && Own(customersOwn, customer, type, value) is { } mine ? [mine] : []);
    }

    private static IdentityLink? Own(IReadOnlyList<IdentityLink> customersOwn, string customer, string type, string value) =>
        customersOwn.FirstOrDefault(l => l.CustomerId == customer && l.Type == type && l.Value == value);

    /// <summary>The link an anonymous event would be joined by (before consent), or null: what the caller checks consent for.</summary>
    public IdentityLink? Candidate(UserIds user, DateTimeOffset at, ConsentDecision consent, Func<string, string, IReadOnlyList<IdentityLink>> linksOf) =>
        UserKeys.CustomerIdOf(user) is null ? Join([.. IdentifierTypes.Of(user)], at, consent, linksOf) : null;

    /// <param name="at">The event's time: lifetimes are measured back from it, not from the clock.</param>
    /// <param name="linksOf">Every link of an identifier (type, value), as the store returns it.</param>
    /// <param name="refusedBy">
    /// Why the customer's own consent keeps an anonymous event from being joined to them (null: it allows it); an
    /// event is joined only where both the browser's and the customer's consent let it go.
    /// </param>
    public ResolvedIdentity Resolve(
        UserIds user, DateTimeOffset at, ConsentDecision consent, Func<string, string, IReadOnlyList<IdentityLink>> linksOf, Func<string, string?>? refusedBy = null) =>
        Resolve(user, consent, linksOf, Candidate(user, at, consent, linksOf), refusedBy);

    /// <summary>As above, with the <see cref="Candidate"/> the caller already found (push reads it once per event).</summary>
    public ResolvedIdentity Resolve(
        UserIds user, ConsentDecision consent, Func<string, string, IReadOnlyList<IdentityLink>> linksOf, IdentityLink? candidate, Func<string, string?>? refusedBy)
    {
        var identifiers = IdentifierTypes.Of(user).ToArray();
        var choices = new List<IdentityChoice>(identifiers.Length + 1);
        string? joinedBy = null;
        var customer = UserKeys.CustomerIdOf(user);
        if (candidate is not null && refusedBy?.Invoke(candidate.CustomerId) is { } refused)
        {
            choices.Add(new IdentityChoice(IdentifierTypes.CustomerId, candidate.CustomerId, false, $"not joined by its {candidate.Type} link: {refused}"));
            candidate = null;
        }

        if (customer is not null)
        {
            choices.Add(new IdentityChoice(IdentifierTypes.CustomerId, customer, true, "the event's own customer id"));
        }
        else if (candidate is { } join)
        {
            customer = join.CustomerId;
            joinedBy = join.Type;
            choices.Add(new IdentityChoice(IdentifierTypes.CustomerId, customer, true,
                $"joined by its {join.Type} link, seen with this customer since {join.FirstSeen:yyyy-MM-dd} (identity rules {join.RulesVersion})"));
        }

        if (customer is null)
        {
            choices.AddRange(identifiers.Select(i => new IdentityChoice(i.Type, i.Value, true, "the event's own identifier; no customer to join it to")));
            return new ResolvedIdentity(user, choices, null);
        }

        var withheld = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (type, value) in identifiers)
        {
            var links = linksOf(type, value);
            var mine = links.FirstOrDefault(l => l.CustomerId == customer);
            var reason = WithheldBeside(customer, type, links, mine, consent);
            if (reason is not null)
            {
                withheld.Add(type);
            }

            choices.Add(new IdentityChoice(type, value, reason is null, reason
                ?? (mine is null ? "the event's own identifier, beside the customer id" : $"linked to the customer since {mine.FirstSeen:yyyy-MM-dd} (identity rules {mine.RulesVersion})")));
        }

        var resolved = IdentifierTypes.Without(user, withheld) with { CustomerId = customer };
        return new ResolvedIdentity(resolved, choices, joinedBy);
    }

    /// <summary>Why an identifier must not travel beside the customer id, or null when it may.</summary>
    private string? WithheldBeside(string customer, string type, IReadOnlyList<IdentityLink> links, IdentityLink? mine, ConsentDecision consent)
    {
        switch (mine?.State)
        {
            case LinkState.Revoked:
                return "its link to this customer was revoked (unlinked by hand, or an e-mail since changed)";
            case LinkState.Conflicted:
                var seenWith = links.Where(l => l.State != LinkState.Revoked).Select(l => l.CustomerId).Distinct(StringComparer.Ordinal).Count();
                return $"shared: seen with {seenWith} customers, so its link is conflicted";
            case LinkState.Limited:
                return $"limited: the customer had gained the most {type} identifiers the rules allow in their window";
        }

        // Not linked to this customer yet (the link stage records it once the event shows one): the other customers decide.
        var others = links.Where(l => l.State != LinkState.Revoked && l.CustomerId != customer).Select(l => l.CustomerId).Distinct(StringComparer.Ordinal).Count();
        if (mine is null && others + 1 > rules.MaxCustomersFor(type))
        {
            return $"shared: also seen with {others} other customer(s), more than the rules allow";
        }

        return Pairing(type, consent) is { } rule ? $"pairing rule {rule.Name}: {rule.Condition} ({consent.Regime})" : null;
    }

    /// <summary>The first pairing rule that keeps this identifier type away from a customer id under the event's consent.</summary>
    private PairingRule? Pairing(string type, ConsentDecision consent) =>
        (rules.Pairing ?? []).FirstOrDefault(p => p.AppliesTo(consent.Regime, type) && !p.Allows(consent.Consent));

    /// <summary>
    /// The customer an anonymous event belongs to: by the rules' priority, the first identifier with an active link to
    /// exactly one customer, last seen within its type's lifetime of the event, that may pair with a customer id here.
    /// </summary>
    private IdentityLink? Join((string Type, string Value)[] identifiers, DateTimeOffset at, ConsentDecision consent, Func<string, string, IReadOnlyList<IdentityLink>> linksOf)
    {
        foreach (var (type, value, rule) in identifiers
                     .Select(i => (i.Type, i.Value, Rule: rules.RuleFor(i.Type)))
                     .Where(i => i.Rule is not null)
                     .OrderBy(i => i.Rule!.Priority))
        {
            if ((type == IdentifierTypes.EmailSha256 && !rules.LinkGuestOrdersByEmail) || Pairing(type, consent) is not null)
            {
                continue;
            }

            var oldest = rule!.LifetimeDays is { } days ? at - TimeSpan.FromDays(days) : DateTimeOffset.MinValue;
            var active = linksOf(type, value).Where(l => l.State == LinkState.Active && l.LastSeen >= oldest).ToArray();
            if (active.Select(l => l.CustomerId).Distinct(StringComparer.Ordinal).Count() == 1)
            {
                return active[0];
            }
        }

        return null;
    }
}
