using System.Text;
using System.Text.Json.Nodes;

namespace CtMparticle.Tests.Support;

/// <summary>
/// Structural mutations of real commercetools deliveries, as a broken producer or an attacker would send them: null in
/// any array, a wrong JSON type at any path, deleted fields, extreme and negative numbers, huge strings, control
/// characters and lone surrogates, duplicated keys, deep nesting, truncation. Deterministic for a seed, so a failing
/// case is reproduced from the seed the property test prints.
/// </summary>
internal static class HostileInputs
{
    public const int MutationKinds = 10;

    /// <summary>A marker the serializer writes as is, replaced by the escape <c>\ud800</c> in the text.</summary>
    private const string LoneSurrogate = "zzloneSurrogatezz";

    private static readonly JsonNode?[] Extremes =
    [
        JsonValue.Create(long.MaxValue), JsonValue.Create(long.MinValue), JsonValue.Create(-1), JsonValue.Create(0),
        JsonValue.Create(1e300), JsonValue.Create(-1e-300), JsonValue.Create(9007199254740993L), JsonValue.Create(2.5m),
        JsonValue.Create(79228162514264337593543950335m), JsonValue.Create(int.MaxValue),
    ];

    /// <summary>A mutated copy of <paramref name="original"/>: <paramref name="mutations"/> mutations drawn from <paramref name="seed"/>.</summary>
    public static byte[] Mutate(byte[] original, int mutations, int seed)
    {
        var random = new Random(seed);
        var root = JsonNode.Parse(original)!;
        var duplicates = new List<(string Marker, string Name)>();
        var truncate = false;
        for (var i = 0; i < mutations; i++)
        {
            switch (random.Next(MutationKinds))
            {
                case 0:
                    NullInArray(root, random);
                    break;
                case 1:
                    Replace(root, random, _ => WrongType(random));
                    break;
                case 2:
                    DeleteProperty(root, random);
                    break;
                case 3:
                    Replace(root, random, n => n is JsonValue ? Extremes[random.Next(Extremes.Length)]?.DeepClone() : null, leavesOnly: true);
                    break;
                case 4:
                    Replace(root, random, n => n is JsonValue v && v.TryGetValue<string>(out _) ? JsonValue.Create(new string('x', random.Next(1_000, 300_000))) : null, leavesOnly: true);
                    break;
                case 5:
                    // Control characters, a bidi override, and (textually, below) half a surrogate pair: JSON allows the escape, Unicode does not.
                    Replace(root, random, n => n is JsonValue v && v.TryGetValue<string>(out var s) ? JsonValue.Create(s + "\u0000\u0007\u001b\u202e" + LoneSurrogate) : null, leavesOnly: true);
                    break;
                case 6:
                    if (Objects(root).Where(o => o.Count > 0).ToList() is { Count: > 0 } objects)
                    {
                        var target = objects[random.Next(objects.Count)];
                        var name = target.ElementAt(random.Next(target.Count)).Key;
                        var marker = $"zzdup{i}zz";
                        target[marker] = WrongType(random);
                        duplicates.Add((marker, name));
                    }

                    break;
                case 7:
                    Replace(root, random, n =>
                    {
                        JsonNode? nested = n?.DeepClone();
                        for (var d = 0; d < 50; d++)
                        {
                            nested = new JsonArray(nested);
                        }

                        return nested;
                    });
                    break;
                case 8:
                    truncate = true;
                    break;
                default:
                    // A number where commercetools sends a string or an object, and the reverse.
                    Replace(root, random, n => n is JsonValue v && v.TryGetValue<string>(out _) ? JsonValue.Create(random.Next(-5, 5)) : JsonValue.Create("12"), leavesOnly: true);
                    break;
            }
        }

        var text = root.ToJsonString().Replace(LoneSurrogate, "\\ud800", StringComparison.Ordinal);
        foreach (var (marker, name) in duplicates)
        {
            text = text.Replace($"\"{marker}\"", JsonValue.Create(name)!.ToJsonString(), StringComparison.Ordinal);
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        return truncate ? bytes[..random.Next(bytes.Length)] : bytes;
    }

    private static JsonNode? WrongType(Random random) => random.Next(6) switch
    {
        0 => null,
        1 => JsonValue.Create(true),
        2 => JsonValue.Create(-42),
        3 => JsonValue.Create("not what was expected"),
        4 => new JsonArray(JsonValue.Create(1), null),
        _ => new JsonObject { ["unexpected"] = null },
    };

    private static void NullInArray(JsonNode root, Random random)
    {
        var arrays = Nodes(root).OfType<JsonArray>().ToList();
        if (arrays.Count == 0)
        {
            return;
        }

        var array = arrays[random.Next(arrays.Count)];
        array.Insert(random.Next(array.Count + 1), null);
    }

    private static void DeleteProperty(JsonNode root, Random random)
    {
        var objects = Objects(root).Where(o => o.Count > 0).ToList();
        if (objects.Count == 0)
        {
            return;
        }

        var target = objects[random.Next(objects.Count)];
        target.Remove(target.ElementAt(random.Next(target.Count)).Key);
    }

    /// <summary>Replaces a random node below the root (a leaf when asked) with what <paramref name="make"/> gives; null from it means "leave this one".</summary>
    private static void Replace(JsonNode root, Random random, Func<JsonNode?, JsonNode?> make, bool leavesOnly = false)
    {
        var slots = Slots(root).Where(s => !leavesOnly || s.Node is JsonValue).ToList();
        if (slots.Count == 0)
        {
            return;
        }

        var (parent, key, node) = slots[random.Next(slots.Count)];
        var replacement = make(node);
        if (replacement is null && leavesOnly)
        {
            return;
        }

        switch (parent)
        {
            case JsonObject o:
                o[(string)key] = replacement;
                break;
            case JsonArray a:
                a[(int)key] = replacement;
                break;
        }
    }

    private static IEnumerable<JsonObject> Objects(JsonNode root) => Nodes(root).OfType<JsonObject>();

    private static IEnumerable<JsonNode> Nodes(JsonNode? node)
    {
        if (node is null)
        {
            yield break;
        }

        yield return node;
        IEnumerable<JsonNode?> children = node switch
        {
            JsonObject o => o.Select(p => p.Value),
            JsonArray a => a,
            _ => [],
        };
        foreach (var child in children.ToList())
        {
            foreach (var inner in Nodes(child))
            {
                yield return inner;
            }
        }
    }

    private static IEnumerable<(JsonNode Parent, object Key, JsonNode? Node)> Slots(JsonNode root)
    {
        foreach (var node in Nodes(root))
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var (name, value) in o.ToList())
                    {
                        yield return (o, name, value);
                    }

                    break;
                case JsonArray a:
                    for (var i = 0; i < a.Count; i++)
                    {
                        yield return (a, i, a[i]);
                    }

                    break;
            }
        }
    }
}
