using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.Unicode;

namespace CtMparticle.Sources.Commercetools;

/// <summary>
/// Turns the raw bytes of a Service Bus body into a typed commercetools delivery or a typed outcome with a reason.
/// Pure and allocation-light: one forward pass over the envelope (no DOM), then one typed deserialization of the
/// message. It never throws for any input.
/// </summary>
internal static class DeliveryDecoder
{
    /// <summary>Service Bus Standard's message size; commercetools sends <c>payloadNotIncluded</c> above it.</summary>
    public const int MaxBodyBytes = 256 * 1024;

    /// <summary>
    /// The deepest nesting accepted. The deepest real commercetools path (an order's line item discount slices,
    /// inside a CloudEvents envelope) is about 12 levels; 40 leaves room for nested custom-field values.
    /// </summary>
    public const int MaxNestingDepth = 40;

    private const string CloudEventsTypePrefix = "com.commercetools.";

    private delegate CtMessage? MessageReader(ReadOnlySpan<byte> utf8);

    /// <summary>A message type: its resource, the generated context's reader and the plain-case reader in front of it.</summary>
    private sealed record MessageKind(string ResourceTypeId, MessageReader Read, MessageReader Plain);

    private static MessageKind Kind<T>(string resourceTypeId, JsonTypeInfo<T> typeInfo, MessageReader plain)
        where T : CtMessage =>
        new(resourceTypeId, utf8 => JsonSerializer.Deserialize(utf8, typeInfo), plain);

    private static readonly FrozenDictionary<string, MessageKind> Kinds = BuildKinds();

    private static FrozenDictionary<string, MessageKind> BuildKinds()
    {
        var c = CommercetoolsJsonContext.Default;
        return new Dictionary<string, MessageKind>(StringComparer.Ordinal)
        {
            ["OrderCreated"] = Kind("order", c.OrderCreatedMessage, PlainMessageReader.OrderCreated),
            ["OrderImported"] = Kind("order", c.OrderImportedMessage, PlainMessageReader.OrderImported),
            ["OrderCreatedFromRecurringOrder"] = Kind("order", c.OrderCreatedFromRecurringOrderMessage, PlainMessageReader.OrderCreatedFromRecurringOrder),
            ["OrderStateChanged"] = Kind("order", c.OrderStateChangedMessage, PlainMessageReader.OrderStateChanged),
            ["OrderShipmentStateChanged"] = Kind("order", c.OrderShipmentStateChangedMessage, PlainMessageReader.OrderShipmentStateChanged),
            ["OrderPaymentStateChanged"] = Kind("order", c.OrderPaymentStateChangedMessage, PlainMessageReader.OrderPaymentStateChanged),
            ["OrderCustomerSet"] = Kind("order", c.OrderCustomerSetMessage, PlainMessageReader.OrderCustomerSet),
            ["ReturnInfoAdded"] = Kind("order", c.ReturnInfoAddedMessage, PlainMessageReader.ReturnInfoAdded),
            ["ReturnInfoSet"] = Kind("order", c.ReturnInfoSetMessage, PlainMessageReader.ReturnInfoSet),
            ["PaymentTransactionAdded"] = Kind("payment", c.PaymentTransactionAddedMessage, PlainMessageReader.PaymentTransactionAdded),
            ["PaymentTransactionStateChanged"] = Kind("payment", c.PaymentTransactionStateChangedMessage, PlainMessageReader.PaymentTransactionStateChanged),
            ["CustomerCreated"] = Kind("customer", c.CustomerCreatedMessage, PlainMessageReader.CustomerCreated),
            ["CustomerEmailChanged"] = Kind("customer", c.CustomerEmailChangedMessage, PlainMessageReader.CustomerEmailChanged),
            ["CustomerEmailVerified"] = Kind("customer", c.CustomerEmailVerifiedMessage, PlainMessageReader.CustomerEmailVerified),
            ["CustomerDeleted"] = Kind("customer", c.CustomerDeletedMessage, PlainMessageReader.CustomerDeleted),
            ["CustomerGroupSet"] = Kind("customer", c.CustomerGroupSetMessage, PlainMessageReader.CustomerGroupSet),
            ["CustomerFirstNameSet"] = Kind("customer", c.CustomerFirstNameSetMessage, PlainMessageReader.CustomerFirstNameSet),
            ["CustomerLastNameSet"] = Kind("customer", c.CustomerLastNameSetMessage, PlainMessageReader.CustomerLastNameSet),
            ["CustomerCustomFieldAdded"] = Kind("customer", c.CustomerCustomFieldAddedMessage, PlainMessageReader.CustomerCustomFieldAdded),
            ["CustomerCustomFieldChanged"] = Kind("customer", c.CustomerCustomFieldChangedMessage, PlainMessageReader.CustomerCustomFieldChanged),
            ["CustomerCustomFieldRemoved"] = Kind("customer", c.CustomerCustomFieldRemovedMessage, PlainMessageReader.CustomerCustomFieldRemoved),
            ["CustomerCustomTypeSet"] = Kind("customer", c.CustomerCustomTypeSetMessage, PlainMessageReader.CustomerCustomTypeSet),
            ["CustomerCustomTypeRemoved"] = Kind("customer", c.CustomerCustomTypeRemovedMessage, PlainMessageReader.CustomerCustomTypeRemoved),
        }.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The commercetools message types the relay decodes (the subscription should ask for exactly these).</summary>
    public static IReadOnlyCollection<string> SupportedMessageTypes => Kinds.Keys;

    /// <summary>The resource type a supported message type belongs to, or null when it is not supported.</summary>
    public static string? ResourceTypeOf(string messageType) =>
        Kinds.TryGetValue(messageType, out var kind) ? kind.ResourceTypeId : null;

    public static DecodeResult Decode(ReadOnlySpan<byte> body) => Decode(body, fastPaths: true);

    /// <summary>
    /// <paramref name="fastPaths"/> false decodes as before the fast paths, which must not change any result (the
    /// tests compare the two): the envelope's checks token by token on every body (<see cref="Envelope.Read"/>), and
    /// every message through the generated context (no <see cref="PlainMessageReader"/>).
    /// </summary>
    internal static DecodeResult Decode(ReadOnlySpan<byte> body, bool fastPaths)
    {
        if (body.Length > MaxBodyBytes)
        {
            return Reject(Reason.BodyTooLarge,
                $"The body is {body.Length:N0} bytes; the limit is {MaxBodyBytes:N0}. commercetools sends payloadNotIncluded above the destination's limit, so this did not come from a commercetools subscription as sent.");
        }

        // A UTF-8 byte order mark is legal in front of JSON; anything else must be UTF-8.
        if (body.StartsWith("\uFEFF"u8))
        {
            body = body[3..];
        }

        if (!Utf8.IsValid(body))
        {
            var hint = body.Length >= 2 && ((body[0] == 0xFF && body[1] == 0xFE) || (body[0] == 0xFE && body[1] == 0xFF))
                ? " It starts with a UTF-16 byte order mark; send the JSON as UTF-8."
                : " Check the producer's encoding (commercetools always sends UTF-8).";
            return Reject(Reason.NotUtf8, "The body is not valid UTF-8." + hint);
        }

        if (body.Trim(" \t\r\n"u8).IsEmpty)
        {
            return Reject(Reason.EmptyBody, "The body is empty; expected a commercetools delivery as a JSON object.");
        }

        try
        {
            return DecodeEnvelope(body, DeliveryFormat.Platform, fastPaths);
        }
        catch (JsonException ex)
        {
            // Syntax errors from the forward pass: the reader reports line and byte position.
            return Reject(Reason.MalformedJson, $"The body is not valid JSON ({Describe(ex)}). It may be truncated or hand-edited.");
        }
    }

    private static DecodeResult DecodeEnvelope(ReadOnlySpan<byte> json, DeliveryFormat format, bool fastPaths)
    {
        var envelope = Envelope.Read(json, fastPaths);
        if (envelope.Problem is { } problem)
        {
            return new DecodeRejected(problem.Reason, problem.Detail, envelope.Info(format));
        }

        if (envelope.SpecVersion is not null)
        {
            return format == DeliveryFormat.CloudEvents
                ? new DecodeRejected(Reason.UnsupportedFormat, "A CloudEvents envelope is nested inside another one.", envelope.Info(format))
                : DecodeCloudEvent(json, envelope, fastPaths);
        }

        var info = envelope.Info(format);
        if (envelope.ResourceTypeId == "subscription")
        {
            return new DecodeFiltered(Reason.SubscriptionTestNotification,
                "commercetools sends this test notification when a subscription is created or its destination changes; nothing to forward.", info);
        }

        var notificationType = envelope.NotificationType ?? "Message";
        return notificationType switch
        {
            "Message" => DecodeMessage(json, envelope, info, fastPaths),
            "ResourceCreated" or "ResourceUpdated" or "ResourceDeleted" => DecodeChange(json, envelope, info),
            _ => new DecodeFiltered(Reason.UnsupportedNotificationType,
                $"notificationType '{notificationType}' is not handled; the relay takes Message and ResourceCreated/Updated/Deleted.", info),
        };
    }

    private static DecodeResult DecodeCloudEvent(ReadOnlySpan<byte> json, Envelope envelope, bool fastPaths)
    {
        var info = new DeliveryInfo(DeliveryFormat.CloudEvents, null, envelope.Id, envelope.Type, null, null);
        if (envelope.SpecVersion != "1.0")
        {
            return new DecodeRejected(Reason.UnsupportedFormat, $"CloudEvents specversion '{envelope.SpecVersion}' is not supported; commercetools sends 1.0.", info);
        }

        if (envelope.Type is null || !envelope.Type.StartsWith(CloudEventsTypePrefix, StringComparison.Ordinal))
        {
            return new DecodeRejected(Reason.UnsupportedFormat,
                $"CloudEvents type '{envelope.Type ?? "(missing)"}' is not a commercetools event (expected '{CloudEventsTypePrefix}<resource>.<message|change>.<Type>').", info);
        }

        if (envelope.HasDataBase64)
        {
            return new DecodeRejected(Reason.UnsupportedFormat, "CloudEvents data_base64 is not supported; commercetools sends the payload as JSON in 'data'.", info);
        }

        if (envelope.DataLength == 0)
        {
            return new DecodeRejected(Reason.MissingField, "The CloudEvents envelope has no 'data' object holding the commercetools payload.", info);
        }

        if (!envelope.DataIsObject)
        {
            return new DecodeRejected(Reason.WrongType, "CloudEvents 'data' must be a JSON object holding the commercetools payload.", info);
        }

        return DecodeEnvelope(json.Slice(envelope.DataStart, envelope.DataLength), DeliveryFormat.CloudEvents, fastPaths);
    }

    private static DecodeResult DecodeMessage(ReadOnlySpan<byte> json, Envelope envelope, DeliveryInfo info, bool fastPaths)
    {
        if (envelope.Id is null)
        {
            return new DecodeRejected(Reason.MissingField, "The message has no 'id'; commercetools always sends one, so this body is incomplete.", info);
        }

        if (envelope.ResourceTypeId is null || envelope.ResourceId is null)
        {
            return new DecodeRejected(Reason.MissingField, "The message has no 'resource' {typeId, id}.", info);
        }

        var messageType = envelope.PayloadNotIncludedType ?? envelope.Type;
        if (messageType is null)
        {
            return new DecodeRejected(Reason.MissingField, "The message has no 'type' (and no payloadNotIncluded.payloadType).", info);
        }

        info = info with { MessageType = messageType };
        if (!Kinds.TryGetValue(messageType, out var kind))
        {
            return new DecodeFiltered(Reason.UnsupportedMessageType,
                $"Message type '{messageType}' on resource '{envelope.ResourceTypeId}' is not tracked by the relay; remove it from the subscription if it is not needed.", info);
        }

        if (kind.ResourceTypeId != envelope.ResourceTypeId)
        {
            return new DecodeRejected(Reason.WrongType,
                $"Message type '{messageType}' belongs to resource type '{kind.ResourceTypeId}', but resource.typeId is '{envelope.ResourceTypeId}'.", info);
        }

        if (envelope.HasPayloadNotIncluded)
        {
            return new FetchRequired(envelope.Id, envelope.ResourceTypeId, envelope.ResourceId, messageType,
                envelope.PayloadNotIncludedReason ?? "no reason given", info, envelope.ProjectKey);
        }

        try
        {
            // The plain case by hand; anything else (and every refusal, worded by the context) as the context reads it.
            var message = (fastPaths ? kind.Plain(json) : null) ?? kind.Read(json);
            return message is null
                ? new DecodeRejected(Reason.WrongType, "The message is JSON null.", info)
                : new Decoded(message, info);
        }
        catch (JsonException ex)
        {
            return ShapeProblem(messageType, ex, info);
        }
    }

    private static DecodeResult DecodeChange(ReadOnlySpan<byte> json, Envelope envelope, DeliveryInfo info)
    {
        if (envelope.ResourceTypeId is null || envelope.ResourceId is null)
        {
            return new DecodeRejected(Reason.MissingField, "The change notification has no 'resource' {typeId, id}.", info);
        }

        try
        {
            var change = JsonSerializer.Deserialize(json, CommercetoolsJsonContext.Default.CtChangeNotification);
            return change is null
                ? new DecodeRejected(Reason.WrongType, "The change notification is JSON null.", info)
                : new Decoded(change, info);
        }
        catch (JsonException ex)
        {
            return ShapeProblem(envelope.NotificationType ?? "change notification", ex, info);
        }
    }

    private static DecodeRejected ShapeProblem(string what, JsonException ex, DeliveryInfo info)
    {
        // A key repeated in one object (the JSON context refuses duplicates; JSON itself allows them and the last
        // value would win silently): ambiguous data, such as two centAmounts, is refused rather than guessed.
        if (ex.Message.StartsWith("Duplicate propert", StringComparison.Ordinal))
        {
            // The serializer names the key in quotes for a typed member, and only in the path for a dictionary.
            var key = ex.Message.Split('\'') is [_, var name, ..] ? name : ex.Path?[(ex.Path.LastIndexOf('.') + 1)..] ?? "?";
            return new DecodeRejected(Reason.MalformedJson,
                $"The {what} repeats the key '{key}' in one object (at {ex.Path ?? "$"}); which value is meant is ambiguous, so nothing is guessed.", info);
        }

        // System.Text.Json words a missing required member "missing required properties" and a null one
        // "doesn't allow ... null"; everything else is a value of the wrong JSON type.
        var missing = ex.Message.Contains("missing required properties", StringComparison.Ordinal)
            || ex.Message.Contains("null", StringComparison.OrdinalIgnoreCase);
        var reason = missing ? Reason.MissingField : Reason.WrongType;
        var verb = missing ? "lacks a required field" : "has a field of the wrong type";
        return new DecodeRejected(reason, $"The {what} message {verb} at {ex.Path ?? "$"}: {FirstSentence(ex.Message)}", info);
    }

    private static string Describe(JsonException ex) =>
        ex.LineNumber is { } line
            ? $"line {line + 1}, byte {(ex.BytePositionInLine ?? 0) + 1}: {FirstSentence(ex.Message)}"
            : FirstSentence(ex.Message);

    private static string FirstSentence(string message)
    {
        // System.Text.Json appends "Path: ... | LineNumber: ..." to its messages; the reason keeps the first part.
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).Trim();
    }

    private static DecodeRejected Reject(Reason reason, string detail) => new(reason, detail, DeliveryInfo.Unknown);

    /// <summary>The envelope fields of one JSON object level, read in one forward pass.</summary>
    private sealed class Envelope
    {
        public string? NotificationType { get; private set; }
        public string? Type { get; private set; }
        public string? Id { get; private set; }
        public string? SpecVersion { get; private set; }
        public string? ProjectKey { get; private set; }
        public string? ResourceTypeId { get; private set; }
        public string? ResourceId { get; private set; }
        public bool HasPayloadNotIncluded { get; private set; }
        public string? PayloadNotIncludedType { get; private set; }
        public string? PayloadNotIncludedReason { get; private set; }
        public bool HasDataBase64 { get; private set; }
        public int DataStart { get; private set; }
        public int DataLength { get; private set; }
        public bool DataIsObject { get; private set; }
        public (Reason Reason, string Detail)? Problem { get; private set; }

        public DeliveryInfo Info(DeliveryFormat format) =>
            new(format, NotificationType, Id, PayloadNotIncludedType ?? Type, ResourceTypeId, ResourceId);

        /// <summary>
        /// Reads the envelope and checks the whole body. The checks made token by token (the depth bound, escapes that
        /// are half a surrogate pair, null in an array) can find nothing in a body with no <c>null</c> and no
        /// <c>\ud</c> escape in it: with <paramref name="fastPaths"/>, such a body is skipped through by the reader alone,
        /// within a stricter depth, and read again with the checks if the reader throws (so that a body too deep, or
        /// not JSON, is reported exactly as before).
        /// </summary>
        public static Envelope Read(ReadOnlySpan<byte> json, bool fastPaths)
        {
            if (fastPaths && json.IndexOf("null"u8) < 0 && !MaySurrogateEscape(json))
            {
                try
                {
                    return ReadPass(json, quick: true);
                }
                catch (JsonException)
                {
                    // not JSON, or deeper than the quick pass goes: the checked pass reports it
                }
            }

            return ReadPass(json, quick: false);
        }

        /// <summary>
        /// Whether <c>\ud</c> or <c>\uD</c> occurs in the bytes (an escape that may be half a surrogate pair), in one scan
        /// for <c>\u</c>, which few bodies hold at all.
        /// </summary>
        private static bool MaySurrogateEscape(ReadOnlySpan<byte> json)
        {
            for (var at = json.IndexOf("\\u"u8); at >= 0; at = json.IndexOf("\\u"u8))
            {
                if (at + 2 < json.Length && (json[at + 2] | 0x20) == 'd')
                {
                    return true;
                }

                json = json[(at + 2)..];
            }

            return false;
        }

        private static Envelope ReadPass(ReadOnlySpan<byte> json, bool quick)
        {
            var envelope = new Envelope { quick = quick };
            var depth = quick ? MaxNestingDepth - 2 : MaxNestingDepth + 2;
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = depth });
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                envelope.Problem = (Reason.NotAnObject, $"The body is a JSON {Describe(reader.TokenType)}; a commercetools delivery is a JSON object.");
                envelope.Skip(ref reader);
                if (envelope.Problem is not { Reason: Reason.TooDeep })
                {
                    SkipRest(ref reader);
                }

                return envelope;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var property = reader.ValueSpan;
                var escaped = reader.ValueIsEscaped;
                if (escaped)
                {
                    _ = envelope.CheckEscapes(ref reader);
                }

                reader.Read();
                if (escaped)
                {
                    // Escaped property names never occur in commercetools payloads; treat them as unknown.
                    envelope.Skip(ref reader);
                }
                else if (property.SequenceEqual("notificationType"u8))
                {
                    envelope.NotificationType = envelope.String(ref reader, "notificationType");
                }
                else if (property.SequenceEqual("type"u8))
                {
                    envelope.Type = envelope.String(ref reader, "type");
                }
                else if (property.SequenceEqual("id"u8))
                {
                    envelope.Id = envelope.String(ref reader, "id");
                }
                else if (property.SequenceEqual("projectKey"u8))
                {
                    envelope.ProjectKey = envelope.String(ref reader, "projectKey");
                }
                else if (property.SequenceEqual("specversion"u8))
                {
                    envelope.SpecVersion = envelope.String(ref reader, "specversion");
                }
                else if (property.SequenceEqual("resource"u8))
                {
                    envelope.ReadResource(ref reader);
                }
                else if (property.SequenceEqual("payloadNotIncluded"u8))
                {
                    envelope.ReadPayloadNotIncluded(ref reader);
                }
                else if (property.SequenceEqual("data"u8))
                {
                    envelope.DataStart = (int)reader.TokenStartIndex;
                    envelope.DataIsObject = reader.TokenType == JsonTokenType.StartObject;
                    envelope.Skip(ref reader);
                    envelope.DataLength = (int)reader.BytesConsumed - envelope.DataStart;
                }
                else if (property.SequenceEqual("data_base64"u8))
                {
                    envelope.HasDataBase64 = true;
                    envelope.Skip(ref reader);
                }
                else
                {
                    envelope.Skip(ref reader);
                }

                if (envelope.Problem is { Reason: Reason.TooDeep })
                {
                    return envelope;
                }
            }

            // Anything after the root object (a second document, garbage) makes the reader throw here.
            SkipRest(ref reader);
            return envelope;
        }

        private static void SkipRest(ref Utf8JsonReader reader)
        {
            while (reader.Read())
            {
            }
        }

        private string? String(ref Utf8JsonReader reader, string name)
        {
            if (reader.TokenType == JsonTokenType.String)
            {
                return reader.ValueIsEscaped && !CheckEscapes(ref reader) ? null : reader.GetString();
            }

            if (reader.TokenType != JsonTokenType.Null)
            {
                Problem ??= (Reason.WrongType, $"'{name}' must be a string but is a JSON {Describe(reader.TokenType)}.");
            }

            Skip(ref reader);
            return null;
        }

        private void ReadResource(ref Utf8JsonReader reader)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                Problem ??= (Reason.WrongType, $"'resource' must be an object {{typeId, id}} but is a JSON {Describe(reader.TokenType)}.");
                Skip(ref reader);
                return;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.ValueSpan;
                reader.Read();
                if (name.SequenceEqual("typeId"u8))
                {
                    ResourceTypeId = String(ref reader, "resource.typeId");
                }
                else if (name.SequenceEqual("id"u8))
                {
                    ResourceId = String(ref reader, "resource.id");
                }
                else
                {
                    Skip(ref reader);
                }
            }
        }

        private void ReadPayloadNotIncluded(ref Utf8JsonReader reader)
        {
            if (reader.TokenType == JsonTokenType.Null)
            {
                return;
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                Problem ??= (Reason.WrongType, "'payloadNotIncluded' must be an object {reason, payloadType}.");
                Skip(ref reader);
                return;
            }

            HasPayloadNotIncluded = true;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.ValueSpan;
                reader.Read();
                if (name.SequenceEqual("payloadType"u8))
                {
                    PayloadNotIncludedType = String(ref reader, "payloadNotIncluded.payloadType");
                }
                else if (name.SequenceEqual("reason"u8))
                {
                    PayloadNotIncludedReason = String(ref reader, "payloadNotIncluded.reason");
                }
                else
                {
                    Skip(ref reader);
                }
            }
        }

        /// <summary>Whether this body has nothing for the token-by-token checks to find (<see cref="Read(ReadOnlySpan{byte}, bool)"/>).</summary>
        private bool quick;

        /// <summary>Skips the current value, enforcing <see cref="MaxNestingDepth"/> on the way.</summary>
        private void Skip(ref Utf8JsonReader reader)
        {
            if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
            {
                return;
            }

            if (quick)
            {
                reader.Skip(); // the reader's own depth bound is stricter than MaxNestingDepth here
                return;
            }

            // Bit d is set while the container at depth d is an array (depth stays below 64: MaxNestingDepth).
            var depth = reader.CurrentDepth;
            var arrays = reader.TokenType == JsonTokenType.StartArray ? 1UL << depth : 0UL;
            while (reader.Read() && reader.CurrentDepth > depth)
            {
                if (reader.CurrentDepth >= MaxNestingDepth)
                {
                    Problem = (Reason.TooDeep, $"The JSON nests deeper than {MaxNestingDepth} levels; commercetools payloads never do. Refusing it protects the relay.");
                    return;
                }

                if (reader.ValueIsEscaped && reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName)
                {
                    _ = CheckEscapes(ref reader);
                }

                switch (reader.TokenType)
                {
                    case JsonTokenType.StartArray:
                        arrays |= 1UL << reader.CurrentDepth;
                        break;
                    case JsonTokenType.StartObject:
                        arrays &= ~(1UL << reader.CurrentDepth);
                        break;
                    case JsonTokenType.Null when (arrays & (1UL << (reader.CurrentDepth - 1))) != 0:
                        // commercetools never puts null in an array (line items, attributes, discounts, addresses).
                        Problem ??= (Reason.WrongType,
                            $"An array holds a null element (at byte {reader.TokenStartIndex:N0}); commercetools arrays hold objects or values, never null, so the body is not as commercetools sent it.");
                        break;
                }
            }
        }

        /// <summary>
        /// An escaped string must decode to valid UTF-16: JSON's grammar allows <c>\ud800</c> alone, Unicode does not,
        /// and reading such a value later would fail deep in the mapping. Refused here, with the position.
        /// </summary>
        private bool CheckEscapes(ref Utf8JsonReader reader)
        {
            try
            {
                _ = reader.GetString();
                return true;
            }
            catch (InvalidOperationException)
            {
                Problem ??= (Reason.MalformedJson,
                    $"A string holds a \\u escape that is half a surrogate pair (at byte {reader.TokenStartIndex:N0}); that is not Unicode text, so the body is not as commercetools sent it.");
                return false;
            }
        }

        private static string Describe(JsonTokenType token) => token switch
        {
            JsonTokenType.StartArray => "array",
            JsonTokenType.StartObject => "object",
            JsonTokenType.String => "string",
            JsonTokenType.Number => "number",
            JsonTokenType.True or JsonTokenType.False => "boolean",
            JsonTokenType.Null => "null",
            _ => token.ToString(),
        };
    }
}
