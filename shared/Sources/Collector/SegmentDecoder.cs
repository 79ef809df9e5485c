using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CtMparticle.Sources.Collector;

/// <summary>A Segment call the decoder refused, with the reason and a sentence naming the field.</summary>
internal sealed record SegmentRefusal(Reason Reason, string Detail);

/// <summary>
/// One Segment call (as the collector stored it: the client's JSON with <c>type</c>, <c>messageId</c> and
/// <c>receivedAt</c> settled and <c>writeKey</c> removed) → <see cref="SegmentCall"/>. Pure; never throws for bad input.
/// </summary>
internal static class SegmentDecoder
{
    public const int MaxNestingDepth = 32;

    private static readonly JsonNodeOptions NodeOptions = new() { PropertyNameCaseInsensitive = false };

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = MaxNestingDepth, AllowDuplicateProperties = false };

    /// <summary>Parses a call's bytes into an object, or says why not (not UTF-8, not JSON, not an object, too deep, a duplicated key).</summary>
    public static (JsonObject? Call, SegmentRefusal? Refusal) Parse(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty)
        {
            return (null, new SegmentRefusal(Reason.EmptyBody, "The call is empty."));
        }

        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            return (null, new SegmentRefusal(Reason.NotUtf8, "The call is not UTF-8 text."));
        }

        try
        {
            if (HalfSurrogate(body) is { } at)
            {
                return (null, new SegmentRefusal(Reason.MalformedJson,
                    $"A string holds a \\u escape that is half a surrogate pair (at byte {at:N0}); that is not Unicode text."));
            }

            var node = JsonNode.Parse(body, NodeOptions, DocumentOptions);
            return node is JsonObject call
                ? (call, null)
                : (null, new SegmentRefusal(Reason.NotAnObject, "The call is JSON but not an object."));
        }
        // The reader's depth limit ("...maximum configured depth..."); a body cut off mid-object also speaks of depth
        // ("Expected depth to be zero...") and is malformed, not too deep.
        catch (JsonException ex) when (ex.Message.Contains("maximum", StringComparison.OrdinalIgnoreCase) && ex.Message.Contains("depth", StringComparison.OrdinalIgnoreCase))
        {
            return (null, new SegmentRefusal(Reason.TooDeep, $"The call nests deeper than {MaxNestingDepth} levels."));
        }
        catch (JsonException ex)
        {
            // The reader's message names the position and, for a duplicated key, the key; it never quotes values.
            return (null, new SegmentRefusal(Reason.MalformedJson, $"The call is not valid JSON: {ex.Message}"));
        }
    }

    /// <summary>
    /// Where an escaped string decodes to half a surrogate pair (JSON's grammar allows <c>\ud800</c> alone, Unicode does
    /// not, and reading it later would fail), or null. Only bodies with a <c>\u</c> escape are read twice.
    /// </summary>
    private static long? HalfSurrogate(ReadOnlySpan<byte> body)
    {
        if (body.IndexOf("\\u"u8) < 0)
        {
            return null;
        }

        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = MaxNestingDepth + 2 });
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped)
            {
                try
                {
                    _ = reader.GetString();
                }
                catch (InvalidOperationException)
                {
                    return reader.TokenStartIndex;
                }
            }
        }

        return null;
    }

    /// <summary>A parsed call (see <see cref="Parse"/>) to a typed one, or the field that is missing or of the wrong type.</summary>
    public static (SegmentCall? Call, SegmentRefusal? Refusal) Decode(JsonObject call, string source)
    {
        var problem = (SegmentRefusal?)null;
        string? Text(JsonObject? obj, string name, string path)
        {
            var value = obj?[name];
            if (value is null)
            {
                return null;
            }

            if (value.GetValueKind() is JsonValueKind.String)
            {
                var text = value.GetValue<string>();
                return string.IsNullOrWhiteSpace(text) ? null : text.Trim();
            }

            if (value.GetValueKind() is JsonValueKind.Number && name is "userId" or "anonymousId")
            {
                return value.ToJsonString(); // trackers send numeric ids; Segment accepts them as strings
            }

            problem ??= new SegmentRefusal(Reason.WrongType, $"{path} must be a string.");
            return null;
        }

        JsonObject? Object(JsonObject? obj, string name, string path)
        {
            var value = obj?[name];
            if (value is null or JsonObject)
            {
                return value as JsonObject;
            }

            problem ??= new SegmentRefusal(Reason.WrongType, $"{path} must be an object.");
            return null;
        }

        DateTimeOffset? Time(string name)
        {
            var text = Text(call, name, name);
            if (text is null)
            {
                return null;
            }

            if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
            {
                return at;
            }

            problem ??= new SegmentRefusal(Reason.WrongType, $"{name} must be an ISO 8601 date and time.");
            return null;
        }

        var type = Text(call, "type", "type")?.ToLowerInvariant();
        var messageId = Text(call, "messageId", "messageId");
        var userId = Text(call, "userId", "userId");
        var anonymousId = Text(call, "anonymousId", "anonymousId");
        var previousId = Text(call, "previousId", "previousId");
        var eventName = Text(call, "event", "event");
        var name = Text(call, "name", "name");
        var properties = Object(call, "properties", "properties") ?? [];
        var traits = Object(call, "traits", "traits");
        var context = Object(call, "context", "context");
        var receivedAt = Time("receivedAt");
        var timestamp = Time("timestamp") ?? Time("originalTimestamp");
        var sentAt = Time("sentAt");
        var contextTraits = Object(context, "traits", "context.traits");
        var device = Object(context, "device", "context.device");
        var os = Object(context, "os", "context.os");
        var location = Object(context, "location", "context.location");
        var consent = Object(Object(context, "consent", "context.consent"), "categoryPreferences", "context.consent.categoryPreferences");
        var sessionId = Text(context, "sessionId", "context.sessionId") ?? Text(properties, "session_id", "properties.session_id");
        var ip = Text(context, "ip", "context.ip");
        var userAgent = Text(context, "userAgent", "context.userAgent");
        var locale = Text(context, "locale", "context.locale");
        var country = Text(location, "country", "context.location.country");
        var region = Text(location, "region", "context.location.region");
        var osName = Text(os, "name", "context.os.name");
        var deviceId = Text(device, "id", "context.device.id");
        var advertisingId = Text(device, "advertisingId", "context.device.advertisingId");
        var isApp = context?["app"] is JsonObject;
        if (problem is not null)
        {
            return (null, problem);
        }

        if (type is null)
        {
            return (null, new SegmentRefusal(Reason.MissingField, "type is missing: one of track, identify, page, screen, alias."));
        }

        if (!SegmentTypes.Endpoints.Contains(type))
        {
            return (null, new SegmentRefusal(Reason.UnsupportedMessageType, $"type '{Safe(type)}' is not a call the collector knows (track, identify, page, screen, alias, group)."));
        }

        if (messageId is null || receivedAt is null)
        {
            return (null, new SegmentRefusal(Reason.MissingField, "messageId or receivedAt is missing; the collector sets both when it receives a call."));
        }

        if (userId is null && anonymousId is null)
        {
            return (null, new SegmentRefusal(Reason.MissingField, "userId or anonymousId is required."));
        }

        if (type == SegmentTypes.Track && eventName is null)
        {
            return (null, new SegmentRefusal(Reason.MissingField, "event is required on a track call."));
        }

        var categories = new Dictionary<string, bool>(StringComparer.OrdinalIgnoreCase);
        foreach (var (category, choice) in consent ?? [])
        {
            if (choice?.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
            {
                categories[category] = choice.GetValue<bool>();
            }
            else
            {
                return (null, new SegmentRefusal(Reason.WrongType, "context.consent.categoryPreferences values must be true or false."));
            }
        }

        // Segment's clock-skew correction: the client's clock may be wrong, the offset between its two stamps is not.
        var occurredAt = timestamp is { } t && sentAt is { } s ? receivedAt.Value - (s - t) : timestamp ?? receivedAt.Value;
        var mergedTraits = traits ?? contextTraits ?? [];
        return (new SegmentCall(source, type, messageId, occurredAt, userId, anonymousId, eventName, name, properties, mergedTraits,
            new SegmentContext(ip, userAgent, locale, country, region, sessionId, osName, deviceId, advertisingId, isApp, categories))
        {
            PreviousId = previousId,
        }, null);
    }

    /// <summary>A client-sent word for a detail: short, and only letters, digits and a few separators (details reach logs).</summary>
    public static string Safe(string text) =>
        new(text.Take(40).Select(c => char.IsAsciiLetterOrDigit(c) || c is ' ' or '_' or '-' or '.' ? c : '?').ToArray());
}
