using System.Collections.Frozen;

namespace CtMparticle.Tracking;

/// <summary>
/// Normalizes what commerce systems put in an address's state or region field ("California", "Calif."-free text,
/// "CA", "US-CA") to the ISO 3166-2 subdivision code the consent rules name (<c>US-CA</c>). commercetools' <c>state</c>
/// is free text, so a region built from it as it is would never match a rule and the user's opt-out would be ignored.
/// What cannot be normalized is marked, never guessed: the consent rules then take the strictest regime of the country.
/// </summary>
internal static class Subdivisions
{
    // ISO 3166-2:US: the 50 states, the District of Columbia and the outlying areas, by postal code and by name.
    private static readonly (string Code, string Name)[] UnitedStates =
    [
        ("AL", "Alabama"), ("AK", "Alaska"), ("AZ", "Arizona"), ("AR", "Arkansas"), ("CA", "California"), ("CO", "Colorado"),
        ("CT", "Connecticut"), ("DE", "Delaware"), ("FL", "Florida"), ("GA", "Georgia"), ("HI", "Hawaii"), ("ID", "Idaho"),
        ("IL", "Illinois"), ("IN", "Indiana"), ("IA", "Iowa"), ("KS", "Kansas"), ("KY", "Kentucky"), ("LA", "Louisiana"),
        ("ME", "Maine"), ("MD", "Maryland"), ("MA", "Massachusetts"), ("MI", "Michigan"), ("MN", "Minnesota"),
        ("MS", "Mississippi"), ("MO", "Missouri"), ("MT", "Montana"), ("NE", "Nebraska"), ("NV", "Nevada"),
        ("NH", "New Hampshire"), ("NJ", "New Jersey"), ("NM", "New Mexico"), ("NY", "New York"), ("NC", "North Carolina"),
        ("ND", "North Dakota"), ("OH", "Ohio"), ("OK", "Oklahoma"), ("OR", "Oregon"), ("PA", "Pennsylvania"),
        ("RI", "Rhode Island"), ("SC", "South Carolina"), ("SD", "South Dakota"), ("TN", "Tennessee"), ("TX", "Texas"),
        ("UT", "Utah"), ("VT", "Vermont"), ("VA", "Virginia"), ("WA", "Washington"), ("WV", "West Virginia"),
        ("WI", "Wisconsin"), ("WY", "Wyoming"), ("DC", "District of Columbia"), ("AS", "American Samoa"), ("GU", "Guam"),
        ("MP", "Northern Mariana Islands"), ("PR", "Puerto Rico"), ("UM", "United States Minor Outlying Islands"),
        ("VI", "Virgin Islands, U.S."),
    ];

    private static readonly FrozenDictionary<string, string> UsLookup = BuildUs();

    private static FrozenDictionary<string, string> BuildUs()
    {
        var lookup = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (code, name) in UnitedStates)
        {
            lookup[code] = code;
            lookup[Key(name)] = code;
        }

        lookup[Key("Washington DC")] = "DC";
        lookup[Key("Washington D.C.")] = "DC";
        lookup[Key("U.S. Virgin Islands")] = "VI";
        lookup[Key("US Virgin Islands")] = "VI";
        lookup[Key("Virgin Islands")] = "VI";
        return lookup.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>
    /// The region of an address: null when the country is blank; the subdivision as its ISO 3166-2 code when it can be
    /// normalized, else marked unknown (a blank subdivision is simply absent).
    /// </summary>
    public static Region? Normalize(string? country, string? subdivision)
    {
        if (string.IsNullOrWhiteSpace(country))
        {
            return null;
        }

        var iso = country.Trim().ToUpperInvariant();
        if (string.IsNullOrWhiteSpace(subdivision))
        {
            return new Region(iso);
        }

        var key = Key(subdivision);
        if (key.StartsWith(iso, StringComparison.Ordinal) && key.Length > iso.Length)
        {
            key = key[iso.Length..]; // "US-CA" and "USCA" as well as "CA"
        }

        if (iso == "US")
        {
            return UsLookup.TryGetValue(key, out var code) ? new Region(iso, code) : new Region(iso) { SubdivisionUnknown = true };
        }

        // Elsewhere a value already in code form (1–3 letters or digits) is taken as the ISO 3166-2 suffix.
        return key.Length is >= 1 and <= 3 ? new Region(iso, key) : new Region(iso) { SubdivisionUnknown = true };
    }

    /// <summary>Uppercase letters and digits only: "New York" → NEWYORK, "us-ca" → USCA, "Calif." → CALIF.</summary>
    private static string Key(string text) =>
        string.Concat(text.Normalize(System.Text.NormalizationForm.FormD).Where(char.IsAsciiLetterOrDigit)).ToUpperInvariant();
}
