using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace CtMparticle.Configuration;

/// <summary>The versioned rules files (consent, identity): read from JSON, checked, and the problems returned as sentences instead of thrown.</summary>
internal static class RulesFile
{
    /// <param name="kind">What the file holds, for the message when it is not JSON of that shape ("consent rules").</param>
    public static (T? Rules, IReadOnlyList<string> Problems) Parse<T>(string json, string source, JsonTypeInfo<T> type, Func<T, IReadOnlyList<string>> check, string kind)
        where T : class
    {
        try
        {
            if (JsonSerializer.Deserialize(json, type) is not { } rules)
            {
                return (null, [$"{source} is empty."]);
            }

            var problems = check(rules);
            return (problems.Count == 0 ? rules : null, problems.Select(p => $"{source}: {p}").ToArray());
        }
        catch (JsonException ex)
        {
            return (null, [$"{source} is not valid {kind}: {ex.Message}"]);
        }
    }
}
