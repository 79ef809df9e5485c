using System.Collections;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Tests.Support;

namespace CtMparticle.Tests.Sources.Commercetools;

/// <summary>
/// The hand-written reader of plain messages against the generated context it stands in front of: the same decode
/// result for every input, whether the reader takes it or gives it up. The context is the oracle; nothing here is
/// an expected value the reader produced.
/// </summary>
public sealed class PlainMessageReaderTests
{
    private static readonly string[] MessageSamples =
    [
        Samples.OrderCreatedRegistered, Samples.OrderCreatedGuest, Samples.ReturnInfoAdded, Samples.RefundTransaction,
        Samples.CustomerCreated, Samples.CustomerEmailChanged, Samples.OrderStateChanged,
    ];

    [Fact]
    public void EverySample_DecodesAsTheContextDecodesIt_AndTheMessagesAreReadByHand()
    {
        foreach (var name in Samples.All)
        {
            var body = Samples.Bytes(name);
            AssertSameResult(DeliveryDecoder.Decode(body, fastPaths: false), DeliveryDecoder.Decode(body, fastPaths: true), name);
        }

        foreach (var name in MessageSamples)
        {
            var type = Samples.Json(name)["type"]!.GetValue<string>();
            Assert.True(ReadByHand(type, Samples.Bytes(name)) is not null, $"{name}: the plain reader gave up on a sample commercetools sends");
        }
    }

    [Fact]
    public void EveryMemberOfEveryModel_FilledAtRandom_IsReadByHandAsTheContextReadsIt()
    {
        // Every settable member of every message type and of the resources inside it, filled with random values
        // (null where the model allows it, now and then), written by the context and read back both ways. A member
        // added to a model but not to the plain reader would be skipped as unknown and fail here.
        var random = new Random(17);
        var types = DeliveryDecoder.SupportedMessageTypes.Order(StringComparer.Ordinal).ToList();
        for (var i = 0; i < 3_000; i++)
        {
            var type = types[i % types.Count];
            var clrType = typeof(CtMessage).Assembly.GetType($"CtMparticle.Sources.Commercetools.{type}Message", throwOnError: true)!;
            var message = (CtMessage)Fill(clrType, random, depth: 0)!;
            message.Type = type;
            message.Resource.TypeId = DeliveryDecoder.ResourceTypeOf(type)!;
            message.Resource.Id ??= "r-1";
            var body = JsonSerializer.SerializeToUtf8Bytes(message, clrType, CommercetoolsJsonContext.Default);

            var byHand = ReadByHand(type, body);
            Assert.True(byHand is not null, $"case {i} ({type}): the plain reader gave up on what the context writes: {Encoding.UTF8.GetString(body)}");
            var byContext = (CtMessage)JsonSerializer.Deserialize(body, clrType, CommercetoolsJsonContext.Default)!;
            AssertDeepEqual(byContext, byHand, $"case {i} ({type})");
            AssertSameResult(DeliveryDecoder.Decode(body, fastPaths: false), DeliveryDecoder.Decode(body, fastPaths: true), $"case {i} ({type})");

            // The same model with one member, at any depth, left out or null: what is required and what may be null
            // in every model, held to what the context's metadata says (samples do not hold every model's members).
            var root = JsonNode.Parse(body)!;
            var members = Members(root).ToList();
            var (parent, name) = members[random.Next(members.Count)];
            if (i % 2 == 0)
            {
                parent.Remove(name);
            }
            else
            {
                parent[name] = null;
            }

            var changed = Encoding.UTF8.GetBytes(root.ToJsonString());
            AssertSameResult(DeliveryDecoder.Decode(changed, fastPaths: false), DeliveryDecoder.Decode(changed, fastPaths: true), $"case {i} ({type}) without or with null {name}");
        }
    }

    [Fact]
    public void MutatedDeliveries_DecodeAlikeWithAndWithoutTheFastPaths()
    {
        // Hostile mutations (nulls in arrays, wrong types, deleted and repeated keys, extremes, huge strings, lone
        // surrogates, deep nesting, truncation) and the cases the plain reader must give up on (escaped or repeated
        // names, null where the model refuses it, dates and numbers the context may read otherwise): with the fast
        // paths (the envelope's quick pass, the plain reader) or without, the result is the same.
        var originals = Samples.All.Select(Samples.Bytes).ToArray();
        var accepted = 0;
        var decodedByContext = 0;
        for (var seed = 0; seed < 6_000; seed++)
        {
            var random = new Random(seed);
            var original = originals[random.Next(originals.Length)];
            var body = seed % 2 == 0 ? HostileInputs.Mutate(original, 1 + random.Next(3), seed) : PlainCaseMutation(original, random);

            var byContext = DeliveryDecoder.Decode(body, fastPaths: false);
            AssertSameResult(byContext, DeliveryDecoder.Decode(body, fastPaths: true), $"seed {seed}: {Encoding.UTF8.GetString(body[..Math.Min(body.Length, 2_000)])}");
            if (byContext is Decoded { Delivery: CtMessage message })
            {
                decodedByContext++;
                accepted += ReadByHand(message.Type, Unwrapped(body)) is not null ? 1 : 0;
            }
        }

        // The test means something only if both paths ran often: messages the reader took, and inputs it left to the context.
        Assert.True(decodedByContext > 1_500, $"only {decodedByContext} mutated deliveries decoded (the plain reader took {accepted})");
        Assert.True(accepted > 1_000 && accepted < decodedByContext, $"the plain reader took {accepted} of {decodedByContext} decoded messages");
    }

    [Theory]
    [InlineData("\"id\":\"x\",\"id\":\"y\"")] // a member twice: the context refuses it
    [InlineData("\"\\u0069d\":\"x\"")] // an escaped name the context unescapes
    [InlineData("\"createdAt\":\"2025-01-01\"")] // a date without a time
    [InlineData("\"createdAt\":\"2025-01-01T10:00:00\"")] // no offset
    [InlineData("\"sequenceNumber\":1.0")] // a fraction for an integer
    [InlineData("\"sequenceNumber\":-0")]
    [InlineData("\"sequenceNumber\":\"1\"")] // a string for a number
    [InlineData("\"sequenceNumber\":null")] // null for a value type
    [InlineData("\"lastModifiedAt\":null")] // null where the model allows it
    [InlineData("\"resource\":null")] // null for a required object
    [InlineData("\"unknown\":1,\"unknown\":2")] // an unknown member twice: the context skips both
    [InlineData("\"resourceUserProvidedIdentifiers\":{\"orderNumber\":\"a\",\"orderNumber\":\"b\"}")]
    [InlineData("\"resourceUserProvidedIdentifiers\":{\"orderNumber\":null}")]
    public void EdgeCasesOfTheMessageEnvelope_DecodeAlike(string member)
    {
        var body = Encoding.UTF8.GetBytes(
            $$"""{"notificationType":"Message","id":"m-1","resource":{"typeId":"order","id":"o-1"},"type":"OrderStateChanged","orderState":"Complete","createdAt":"2025-01-01T00:00:00.000Z",{{member}}}""");

        AssertSameResult(DeliveryDecoder.Decode(body, fastPaths: false), DeliveryDecoder.Decode(body, fastPaths: true), member);
    }

    /// <summary>
    /// The envelope's quick pass (a body with no <c>null</c> and no surrogate escape is skipped through by the reader,
    /// within a stricter depth) must report what the checked pass does around the nesting bound: nothing below it,
    /// <c>too_deep</c> at it and above, in an unknown member, in the message itself, in a CloudEvents <c>data</c> and at
    /// the root; and garbage after the object, truncation and a lone surrogate alike.
    /// </summary>
    [Fact]
    public void BodiesAroundTheNestingBound_DecodeAlikeWithAndWithoutTheQuickEnvelopePass()
    {
        var order = Samples.Json(Samples.OrderStateChanged);
        var bodies = new List<(string What, byte[] Body)>();
        for (var depth = DeliveryDecoder.MaxNestingDepth - 6; depth <= DeliveryDecoder.MaxNestingDepth + 6; depth++)
        {
            var nested = new string('[', depth) + "1" + new string(']', depth);
            var nestedObjects = string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth);
            var text = order.ToJsonString();
            bodies.Add(($"an unknown member {depth} arrays deep", Encoding.UTF8.GetBytes(text[..^1] + ",\"deep\":" + nested + "}")));
            bodies.Add(($"an unknown member {depth} objects deep", Encoding.UTF8.GetBytes(text[..^1] + ",\"deep\":" + nestedObjects + "}")));
            bodies.Add(($"a custom field value {depth} deep", Encoding.UTF8.GetBytes(
                $$"""{"id":"m-1","resource":{"typeId":"customer","id":"c-1"},"type":"CustomerCustomFieldAdded","name":"x","value":{{nestedObjects}},"createdAt":"2025-01-01T00:00:00Z"}""")));
            bodies.Add(($"CloudEvents data {depth} deep", Encoding.UTF8.GetBytes(
                """{"specversion":"1.0","id":"e-1","type":"com.commercetools.order.message.OrderStateChanged","data":""" + text[..^1] + ",\"deep\":" + nested + "}}")));
            bodies.Add(($"the root {depth} deep", Encoding.UTF8.GetBytes(nested)));
        }

        var plain = order.ToJsonString();
        bodies.Add(("garbage after the object", Encoding.UTF8.GetBytes(plain + " {}")));
        bodies.Add(("truncated", Encoding.UTF8.GetBytes(plain[..^5])));
        bodies.Add(("a lone surrogate", Encoding.UTF8.GetBytes(plain[..^1] + ",\"x\":\"\\ud800\"}")));
        bodies.Add(("a lone surrogate inside an object", Encoding.UTF8.GetBytes(plain[..^1] + ",\"x\":{\"y\":\"\\ud800\"}}")));
        bodies.Add(("a lone surrogate in capitals", Encoding.UTF8.GetBytes(plain[..^1] + ",\"x\":{\"y\":\"\\uDC00\"}}")));
        bodies.Add(("a lone surrogate after other escapes", Encoding.UTF8.GetBytes(plain[..^1] + ",\"x\":[\"\\u00e9\\u0041\\uDBFF\"]}")));
        bodies.Add(("a null in an array", Encoding.UTF8.GetBytes(plain[..^1] + ",\"x\":[1,null]}")));
        foreach (var (what, body) in bodies)
        {
            AssertSameResult(DeliveryDecoder.Decode(body, fastPaths: false), DeliveryDecoder.Decode(body, fastPaths: true), what);
        }

        // Both sides of the bound occur: the comparison covers accepted bodies and too_deep ones; and refused escapes.
        Assert.Contains(bodies, b => DeliveryDecoder.Decode(b.Body) is DecodeRejected { Reason: Reason.TooDeep });
        Assert.Contains(bodies, b => DeliveryDecoder.Decode(b.Body) is Decoded);
        Assert.All(bodies.Where(b => b.What.StartsWith("a lone surrogate ", StringComparison.Ordinal)),
            b => Assert.Equal(Reason.MalformedJson, Assert.IsType<DecodeRejected>(DeliveryDecoder.Decode(b.Body)).Reason));
    }

    /// <summary>The message itself: the delivery, or the <c>data</c> of a CloudEvents envelope.</summary>
    private static byte[] Unwrapped(byte[] body)
    {
        if (body.AsSpan().IndexOf("\"specversion\""u8) < 0)
        {
            return body;
        }

        var reader = new Utf8JsonReader(body);
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("data"u8))
            {
                reader.Read();
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                return body[start..(int)reader.BytesConsumed];
            }
        }

        return body;
    }

    private static CtMessage? ReadByHand(string type, byte[] json)
    {
        var method = typeof(PlainMessageReader).GetMethod(type, BindingFlags.Public | BindingFlags.Static)
            ?? throw new InvalidOperationException($"PlainMessageReader has no reader for {type}");
        var reader = method.CreateDelegate<Reader>();
        return reader(json);
    }

    private delegate CtMessage? Reader(ReadOnlySpan<byte> json);

    /// <summary>One change the plain reader must notice: an escaped or repeated name, a null, a date or number in another spelling.</summary>
    private static byte[] PlainCaseMutation(byte[] original, Random random)
    {
        var root = JsonNode.Parse(original)!;
        var members = Members(root).ToList();
        var (parent, name) = members[random.Next(members.Count)];
        var text = root.ToJsonString();
        string Replace(string marker) => text.Replace($"\"{marker}\"", $"\"{name}\"", StringComparison.Ordinal);
        switch (random.Next(7))
        {
            case 0:
                {
                    // The same name escaped (\u0069d for id): JSON allows it, the context unescapes it.
                    var value = parent[name]?.DeepClone();
                    parent.Remove(name);
                    parent["zzescapedzz"] = value;
                    var escaped = string.Concat(name.Select((c, i) => i == 0 ? $"\\u{(int)c:x4}" : c.ToString()));
                    return Encoding.UTF8.GetBytes(root.ToJsonString().Replace("\"zzescapedzz\":", $"\"{escaped}\":", StringComparison.Ordinal));
                }

            case 1:
                parent[name] = null;
                return Encoding.UTF8.GetBytes(root.ToJsonString());
            case 2:
                {
                    // The same member twice with the same value.
                    var value = parent[name]?.DeepClone();
                    parent["zzagainzz"] = value;
                    text = root.ToJsonString();
                    return Encoding.UTF8.GetBytes(Replace("zzagainzz"));
                }

            case 3:
                {
                    string[] dates = ["2025-01-01", "2025-01-01T10:00:00", "2025-01-01T10:00Z", "2025-01-01T10:00:00.123456789+05:30", "2025-13-01T00:00:00Z", "", "1/1/2025"];
                    parent[name] = dates[random.Next(dates.Length)];
                    return Encoding.UTF8.GetBytes(root.ToJsonString());
                }

            case 4:
                {
                    string[] numbers = ["1.0", "-0", "1e2", "2147483648", "9223372036854775808", "\"7\"", "0.5", "-1"];
                    parent["zznumberzz"] = 0;
                    parent.Remove(name);
                    text = root.ToJsonString().Replace("\"zznumberzz\":0", $"\"{name}\":{numbers[random.Next(numbers.Length)]}", StringComparison.Ordinal);
                    return Encoding.UTF8.GetBytes(text);
                }

            case 5:
                // A member the model does not have, twice.
                parent["zzunknownzz"] = 1;
                text = root.ToJsonString().Replace("\"zzunknownzz\":1", "\"unmodelled\":1,\"unmodelled\":{\"a\":[1]}", StringComparison.Ordinal);
                return Encoding.UTF8.GetBytes(text);
            default:
                parent.Remove(name);
                return Encoding.UTF8.GetBytes(root.ToJsonString());
        }
    }

    private static IEnumerable<(JsonObject Parent, string Name)> Members(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, value) in o.ToList())
                {
                    yield return (o, name);
                    foreach (var inner in Members(value))
                    {
                        yield return inner;
                    }
                }

                break;
            case JsonArray a:
                foreach (var item in a)
                {
                    foreach (var inner in Members(item))
                    {
                        yield return inner;
                    }
                }

                break;
        }
    }

    private static void AssertSameResult(DecodeResult expected, DecodeResult actual, string what)
    {
        Assert.True(expected.GetType() == actual.GetType(), $"{what}: {expected} by the context, {actual} with the plain reader");
        if (expected is Decoded e && actual is Decoded a)
        {
            Assert.Equal(e.Info, a.Info);
            AssertDeepEqual(e.Delivery, a.Delivery, what);
        }
        else
        {
            Assert.Equal(expected, actual);
        }
    }

    /// <summary>Member by member, down to the JSON text of every <see cref="JsonElement"/> and the offset of every date.</summary>
    private static void AssertDeepEqual(object? expected, object? actual, string path)
    {
        switch (expected)
        {
            case null:
                Assert.True(actual is null, $"{path}: expected null, got {actual}");
                return;
            case string or long or int or bool or decimal:
                Assert.True(expected.Equals(actual), $"{path}: expected {expected}, got {actual ?? "null"}");
                return;
            case DateTimeOffset date:
                Assert.True(actual is DateTimeOffset other && date.EqualsExact(other), $"{path}: expected {date:O}, got {actual}");
                return;
            case JsonElement element:
                var got = Assert.IsType<JsonElement>(actual);
                Assert.Equal(element.ValueKind, got.ValueKind);
                if (element.ValueKind != JsonValueKind.Undefined)
                {
                    Assert.Equal(element.GetRawText(), got.GetRawText());
                }

                return;
            case IDictionary dictionary:
                var otherDictionary = Assert.IsAssignableFrom<IDictionary>(actual);
                Assert.True(dictionary.Count == otherDictionary.Count, $"{path}: {dictionary.Count} entries expected, {otherDictionary.Count} read");
                foreach (DictionaryEntry entry in dictionary)
                {
                    Assert.True(otherDictionary.Contains(entry.Key), $"{path}: no entry {entry.Key}");
                    AssertDeepEqual(entry.Value, otherDictionary[entry.Key], $"{path}[{entry.Key}]");
                }

                return;
            case IList list:
                var otherList = Assert.IsAssignableFrom<IList>(actual);
                Assert.True(list.Count == otherList.Count, $"{path}: {list.Count} items expected, {otherList.Count} read");
                for (var i = 0; i < list.Count; i++)
                {
                    AssertDeepEqual(list[i], otherList[i], $"{path}[{i}]");
                }

                return;
        }

        Assert.True(actual is not null && expected.GetType() == actual.GetType(), $"{path}: a {expected.GetType().Name} expected, got {actual?.GetType().Name ?? "null"}");
        foreach (var property in Settable(expected.GetType()))
        {
            AssertDeepEqual(property.GetValue(expected), property.GetValue(actual), $"{path}.{property.Name}");
        }
    }

    private static IEnumerable<PropertyInfo> Settable(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite && p.GetIndexParameters().Length == 0);

    private static readonly NullabilityInfoContext Nullability = new();

    /// <summary>A random value of <paramref name="type"/>: every settable member of a model filled, nullable ones null now and then.</summary>
    private static object? Fill(Type type, Random random, int depth)
    {
        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            return random.Next(4) == 0 ? null : Fill(underlying, random, depth);
        }

        if (type == typeof(string))
        {
            return RandomText(random);
        }

        if (type == typeof(long))
        {
            return random.Next(3) == 0 ? random.NextInt64(long.MinValue, long.MaxValue) : random.Next(-5, 100_000);
        }

        if (type == typeof(int))
        {
            return random.Next(3) == 0 ? random.Next(int.MinValue, int.MaxValue) : random.Next(0, 10);
        }

        if (type == typeof(bool))
        {
            return random.Next(2) == 0;
        }

        if (type == typeof(DateTimeOffset))
        {
            var ticks = random.NextInt64(DateTimeOffset.UnixEpoch.Ticks, new DateTimeOffset(2100, 1, 1, 0, 0, 0, TimeSpan.Zero).Ticks);
            return new DateTimeOffset(ticks, TimeSpan.FromMinutes(random.Next(-14 * 4, 14 * 4 + 1) * 15));
        }

        if (type == typeof(JsonElement))
        {
            string[] values = ["true", "false", "null", "0", "-12.5e3", "\"text \\u00e9\"", "{\"a\":[1,{\"b\":null}]}", "[]", "{}"];
            return JsonDocument.Parse(values[random.Next(values.Length)]).RootElement.Clone();
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyList<>))
        {
            var item = type.GetGenericArguments()[0];
            var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(item))!;
            for (var i = random.Next(depth > 3 ? 1 : 4); i > 0; i--)
            {
                list.Add(Fill(item, random, depth + 1));
            }

            return list;
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>))
        {
            var value = type.GetGenericArguments()[1];
            var dictionary = (IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(typeof(string), value))!;
            for (var i = random.Next(4); i > 0; i--)
            {
                dictionary[$"{RandomText(random)}{i}"] = Fill(value, random, depth + 1);
            }

            return dictionary;
        }

        var instance = Activator.CreateInstance(type)!;
        foreach (var property in Settable(type))
        {
            var nullable = property.PropertyType.IsClass && Nullability.Create(property).WriteState == NullabilityState.Nullable;
            property.SetValue(instance, nullable && random.Next(4) == 0 ? null : Fill(property.PropertyType, random, depth + 1));
        }

        return instance;
    }

    private static string RandomText(Random random)
    {
        string[] parts = ["a", "Ä", "€", "😀", "\"", "\\", "/", "\n", "\u0001", " ", "de-DE", "x"];
        var builder = new StringBuilder();
        for (var i = random.Next(12); i > 0; i--)
        {
            builder.Append(parts[random.Next(parts.Length)]);
        }

        return builder.ToString();
    }
}
