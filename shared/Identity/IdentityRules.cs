using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using CtMparticle.Configuration;
using CtMparticle.Tracking;

namespace CtMparticle.Identity;

/// <summary>
/// The versioned identity rules (config/identity-rules.json): the placeholder values that never travel as
/// identities, because one value shared by many shoppers makes mParticle merge them into one profile.
/// </summary>
/// <param name="BlockedValues">Compared trimmed, without regard to case, against every identifier.</param>
/// <param name="BlockedPatterns">Regular expressions matched against the whole trimmed identifier (all-zero device ids, template placeholders).</param>
/// <param name="BlockedEmails">Test and throwaway addresses, compared normalized (trimmed, lowercase).</param>
/// <param name="MaxCustomersPerIdentifier">
/// How many customers one anonymous id, device id or e-mail may be seen with before it is a shared identifier (a
/// family tablet, a call-centre browser, a recycled address): its links are then conflicted.
/// </param>
/// <param name="KeepFirstLinkOnConflict">Whether the first customer keeps a conflicted identifier (else nobody does).</param>
/// <param name="Identifiers">
/// Per identifier type, in the manner of Segment Unify's identity settings: its priority (which wins when two
/// identifiers of one event point at different customers), whether it is unique per person, how many a customer may
/// gain in a window, and how long a link of it is used. A type not listed is never used to join an event to a customer.
/// </param>
/// <param name="Pairing">Which identifiers may travel beside a customer id, by consent regime and purpose.</param>
/// <param name="LinkGuestOrdersByEmail">
/// Whether an event with only an e-mail (a guest order) is joined to the customer that e-mail is linked to. Off by
/// default: a guest types any address, and an order is not proof that the address is theirs.
/// </param>
internal sealed record IdentityRules(
    string Version,
    IReadOnlyList<string> BlockedValues,
    IReadOnlyList<string> BlockedPatterns,
    IReadOnlyList<string> BlockedEmails,
    int MaxCustomersPerIdentifier = 1,
    bool KeepFirstLinkOnConflict = false,
    IReadOnlyList<IdentifierRule>? Identifiers = null,
    IReadOnlyList<PairingRule>? Pairing = null,
    bool LinkGuestOrdersByEmail = false)
{
    private Dictionary<string, IdentifierRule>? byType;

    /// <summary>The rule of an identifier type, or null when the rules do not let that type join an event to a customer.</summary>
    public IdentifierRule? RuleFor(string type)
    {
        byType ??= (Identifiers ?? []).GroupBy(i => i.Type, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        return byType.GetValueOrDefault(type);
    }

    /// <summary>How many customers an identifier of this type may be seen with before it is shared: 1 for a unique type.</summary>
    public int MaxCustomersFor(string type) => RuleFor(type) is { Unique: true } ? 1 : MaxCustomersPerIdentifier;

    private static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);

    private HashSet<string>? values;
    private HashSet<string>? emails;
    private Regex[]? patterns;

    /// <summary>Whether an identifier is a placeholder these rules block.</summary>
    public bool IsBlocked(string value)
    {
        var trimmed = value.Trim();
        values ??= new HashSet<string>(BlockedValues.Select(v => v.Trim()), StringComparer.OrdinalIgnoreCase);
        patterns ??= [.. BlockedPatterns.Select(p => new Regex(p, RegexOptions.CultureInvariant, MatchTimeout))];
        if (values.Contains(trimmed))
        {
            return true;
        }

        foreach (var pattern in patterns)
        {
            try
            {
                if (pattern.IsMatch(trimmed))
                {
                    return true;
                }
            }
            catch (RegexMatchTimeoutException)
            {
                return true; // a value built to make a pattern slow is not an identity to trust
            }
        }

        return false;
    }

    /// <summary>Whether an e-mail is a test or throwaway address these rules block (or a blocked value).</summary>
    public bool IsBlockedEmail(string email)
    {
        emails ??= new HashSet<string>(BlockedEmails.Select(e => Emails.Normalize(e) ?? ""), StringComparer.Ordinal);
        return IsBlocked(email) || emails.Contains(Emails.Normalize(email) ?? "");
    }

    /// <summary>The user without the identifiers these rules block, and the types of those dropped (never their values).</summary>
    public (UserIds User, IReadOnlyList<string> Dropped) Clean(UserIds user)
    {
        var dropped = new List<string>();
        string? Keep(string? value, string type, bool email = false)
        {
            if (value is null || !(email ? IsBlockedEmail(value) : IsBlocked(value)))
            {
                return value;
            }

            dropped.Add(type);
            return null;
        }

        var devices = user.Devices is { } d
            ? new DeviceIds(Keep(d.IosAdvertisingId, IdentifierTypes.IosIdfa), Keep(d.IosVendorId, IdentifierTypes.IosIdfv),
                Keep(d.AndroidAdvertisingId, IdentifierTypes.AndroidAaid), Keep(d.AndroidUuid, IdentifierTypes.AndroidUuid))
            : null;
        var clean = new UserIds(
            Keep(user.CustomerId, IdentifierTypes.CustomerId),
            Keep(user.Email, IdentifierTypes.Email, email: true),
            Keep(user.AnonymousId, IdentifierTypes.AnonymousId),
            Keep(user.SessionId, IdentifierTypes.SessionId),
            devices is { IosAdvertisingId: null, IosVendorId: null, AndroidAdvertisingId: null, AndroidUuid: null } ? null : devices);
        return dropped.Count == 0 ? (user, dropped) : (clean, dropped);
    }

    /// <summary>Every problem with the rules, as sentences; empty when they are usable.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Version))
        {
            problems.Add("'version' is empty; give the rules a version so identity decisions can be traced to them.");
        }

        foreach (var pattern in BlockedPatterns)
        {
            try
            {
                _ = new Regex(pattern, RegexOptions.CultureInvariant, MatchTimeout);
            }
            catch (ArgumentException ex)
            {
                problems.Add($"blockedPatterns: '{pattern}' is not a regular expression ({ex.Message}).");
            }
        }

        if (MaxCustomersPerIdentifier is < 1 or > 100)
        {
            problems.Add($"maxCustomersPerIdentifier is {MaxCustomersPerIdentifier}; use 1 (an identifier belongs to one person) to 100.");
        }

        foreach (var email in BlockedEmails.Where(e => !e.Contains('@', StringComparison.Ordinal)))
        {
            problems.Add($"blockedEmails: '{email}' is not an e-mail address; list single values under blockedValues.");
        }

        var known = string.Join(", ", IdentifierTypes.Linkable);
        foreach (var rule in Identifiers ?? [])
        {
            if (!IdentifierTypes.Linkable.Contains(rule.Type, StringComparer.Ordinal))
            {
                problems.Add($"identifiers: '{rule.Type}' is not an identifier type a customer can be linked to; use one of {known}.");
            }

            if (rule.MaxPerCustomer is < 1 || rule.WindowDays is < 1 || rule.LifetimeDays is < 1)
            {
                problems.Add($"identifiers: '{rule.Type}' has a limit, window or lifetime below 1; leave it out for none.");
            }

            if (rule.MaxPerCustomer is not null != rule.WindowDays is not null)
            {
                problems.Add($"identifiers: '{rule.Type}' needs both maxPerCustomer and windowDays (a limit counts the links gained in a window), or neither.");
            }
        }

        foreach (var duplicate in (Identifiers ?? []).GroupBy(i => i.Type, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            problems.Add($"identifiers: '{duplicate.Key}' is listed {duplicate.Count()} times; list each type once.");
        }

        foreach (var tie in (Identifiers ?? []).GroupBy(i => i.Priority).Where(g => g.Count() > 1))
        {
            problems.Add($"identifiers: {string.Join(" and ", tie.Select(i => i.Type))} share priority {tie.Key}; give each type its own, so a conflict has one answer.");
        }

        foreach (var pairing in Pairing ?? [])
        {
            if (string.IsNullOrWhiteSpace(pairing.Name) || pairing.Regimes.Count == 0 || pairing.Types.Count == 0)
            {
                problems.Add($"pairing: '{pairing.Name}' needs a name, at least one regime (or \"*\") and at least one identifier type.");
            }

            if (pairing.RequiresPurpose is null == pairing.UnlessPurpose is null)
            {
                problems.Add($"pairing: '{pairing.Name}' needs exactly one of requiresPurpose (consent that must be given) or unlessPurpose (an opt-out that must not be).");
            }

            foreach (var type in pairing.Types.Where(t => !IdentifierTypes.Linkable.Contains(t, StringComparer.Ordinal)))
            {
                problems.Add($"pairing: '{pairing.Name}' names '{type}', which is not an identifier type; use one of {known}.");
            }
        }

        return problems;
    }

    /// <summary>Reads rules from JSON; returns the problems instead of throwing.</summary>
    public static (IdentityRules? Rules, IReadOnlyList<string> Problems) Parse(string json, string source) =>
        RulesFile.Parse(json, source, IdentityRulesJsonContext.Default.IdentityRules, rules => rules.Problems(), "identity rules");
}

/// <summary>How one identifier type may join events to customers.</summary>
/// <param name="Priority">Lower wins: when an event's identifiers point at different customers, the one of the lowest priority decides.</param>
/// <param name="Unique">One person's alone (a verified e-mail): a second customer on it is a conflict even when maxCustomersPerIdentifier allows more.</param>
/// <param name="MaxPerCustomer">At most this many new identifiers of the type per customer in <paramref name="WindowDays"/>; a link over the limit is recorded as limited and never used.</param>
/// <param name="LifetimeDays">A link last seen longer ago than this (before the event) no longer joins an event to the customer.</param>
internal sealed record IdentifierRule(string Type, int Priority, bool Unique = false, int? MaxPerCustomer = null, int? WindowDays = null, int? LifetimeDays = null);

/// <summary>
/// Under the named consent regimes (<c>*</c> for all), identifiers of <paramref name="Types"/> travel beside a customer
/// id only when <paramref name="RequiresPurpose"/> is consented, or when <paramref name="UnlessPurpose"/> (an opt-out such as
/// <c>data_sale_opt_out</c>) is not: otherwise the event goes with the customer id alone, or, without one, is not joined to one.
/// </summary>
internal sealed record PairingRule(string Name, IReadOnlyList<string> Regimes, IReadOnlyList<string> Types, string? RequiresPurpose = null, string? UnlessPurpose = null)
{
    public bool AppliesTo(string regime, string type) =>
        Types.Contains(type, StringComparer.Ordinal) && (Regimes.Contains("*", StringComparer.Ordinal) || Regimes.Contains(regime, StringComparer.Ordinal));

    /// <summary>Whether the consent lets the identifier travel beside a customer id (consent not known is not given).</summary>
    public bool Allows(ConsentSnapshot? consent) =>
        RequiresPurpose is { } required ? Stated(consent, required) == true : Stated(consent, UnlessPurpose!) != true;

    private static bool? Stated(ConsentSnapshot? consent, string purpose) =>
        purpose == ConsentSnapshot.CcpaPurpose ? consent?.CcpaDataSaleOptOut?.Consented
        : consent?.Gdpr.TryGetValue(purpose, out var state) == true ? state.Consented : null;

    /// <summary>The reason, for explanations: what the rule waits for.</summary>
    public string Condition => RequiresPurpose is { } required ? $"consent for {required} is not given" : $"the user opted out ({UnlessPurpose})";
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true)]
[JsonSerializable(typeof(IdentityRules))]
internal sealed partial class IdentityRulesJsonContext : JsonSerializerContext;
