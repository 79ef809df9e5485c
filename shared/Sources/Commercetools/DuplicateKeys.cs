using System.Text;
using System.Text.Json;

namespace CtMparticle.Sources.Commercetools;

/// <summary>
/// Finds the first key that occurs twice in one JSON object, anywhere in a body (JSON allows it; System.Text.Json
/// would keep the last value). One forward pass with <see cref="Utf8JsonReader"/>; per open object, the keys seen so
/// far are remembered by hash and compared byte for byte on a match, so nothing is allocated per key.
/// </summary>
internal static class DuplicateKeys
{
    /// <summary>The first repeated key and a JSONPath-like location, or null. Throws <see cref="JsonException"/> for invalid JSON.</summary>
    public static (string Key, string Path)? FirstIn(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = DeliveryDecoder.MaxNestingDepth + 2 });
        // One list of (hash, start, length) per open container; arrays get an unused empty entry to keep depths aligned.
        var open = new List<List<(ulong Hash, int Start, int Length)>>();
        var names = new List<string?>();
        var depth = 0;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    if (open.Count <= depth)
                    {
                        open.Add([]);
                        names.Add(null);
                    }

                    open[depth].Clear();
                    names[depth] = null;
                    depth++;
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    depth--;
                    break;
                case JsonTokenType.PropertyName:
                    var name = reader.ValueSpan; // a span input never yields value sequences
                    var start = (int)reader.TokenStartIndex + 1; // after the opening quote
                    var hash = Fnv1a(name);
                    var seen = open[depth - 1];
                    foreach (var (h, s, l) in seen)
                    {
                        if (h == hash && json.Slice(s, l).SequenceEqual(name))
                        {
                            return (reader.GetString() ?? "", Path(names, depth - 1));
                        }
                    }

                    seen.Add((hash, start, name.Length));
                    names[depth - 1] = reader.GetString();
                    break;
            }
        }

        return null;
    }

    private static string Path(List<string?> names, int depth)
    {
        var path = new StringBuilder("$");
        for (var i = 0; i < depth; i++)
        {
            path.Append(names[i] is { } name ? "." + name : "[]");
        }

        return path.ToString();
    }

    private static ulong Fnv1a(ReadOnlySpan<byte> bytes)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in bytes)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }
}
