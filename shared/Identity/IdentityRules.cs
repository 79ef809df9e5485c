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
internal sealed record IdentityRules(
    string Version,
    IReadOnlyList<string> BlockedValues,
    IReadOnlyList<string> BlockedPatterns,
    IReadOnlyList<string> BlockedEmails,
    int MaxCustomersPerIdentifier = 1,
    bool KeepFirstLinkOnConflict = false)
{
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

        return problems;
    }

    /// <summary>Reads rules from JSON; returns the problems instead of throwing.</summary>
    public static (IdentityRules? Rules, IReadOnlyList<string> Problems) Parse(string json, string source) =>
        RulesFile.Parse(json, source, IdentityRulesJsonContext.Default.IdentityRules, rules => rules.Problems(), "identity rules");
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true)]
[JsonSerializable(typeof(IdentityRules))]
internal sealed partial class IdentityRulesJsonContext : JsonSerializerContext;
