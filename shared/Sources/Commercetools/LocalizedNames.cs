namespace CtMparticle.Sources.Commercetools;

/// <summary>
/// Picks one text from a commercetools <c>LocalizedString</c>. The chain, for each of the order's locale, the store's
/// locale and the configured default in that order: the exact tag, then its language alone (<c>de</c> for
/// <c>de-DE</c>), then any tag of that language (<c>de-AT</c>) in ordinal order. Last, the ordinally first key, so
/// the choice never depends on JSON key order.
/// </summary>
internal static class LocalizedNames
{
    public static string? Pick(IReadOnlyDictionary<string, string>? names, string? orderLocale, string? storeLocale, string defaultLocale)
    {
        if (names is null || names.Count == 0)
        {
            return null;
        }

        return Match(names, orderLocale) ?? Match(names, storeLocale) ?? Match(names, defaultLocale) ?? names[names.Keys.Min(StringComparer.Ordinal)!];
    }

    private static string? Match(IReadOnlyDictionary<string, string> names, string? locale)
    {
        if (string.IsNullOrWhiteSpace(locale))
        {
            return null;
        }

        if (names.TryGetValue(locale, out var exact))
        {
            return exact;
        }

        var dash = locale.IndexOf('-', StringComparison.Ordinal);
        var language = dash > 0 ? locale[..dash] : locale;
        string? bestKey = null;
        foreach (var key in names.Keys)
        {
            if (string.Equals(key, locale, StringComparison.OrdinalIgnoreCase) || string.Equals(key, language, StringComparison.OrdinalIgnoreCase))
            {
                return names[key];
            }

            if (key.StartsWith(language + "-", StringComparison.OrdinalIgnoreCase) &&
                (bestKey is null || string.CompareOrdinal(key, bestKey) < 0))
            {
                bestKey = key;
            }
        }

        return bestKey is null ? null : names[bestKey];
    }
}
