using System.Text;
using System.Text.Json.Nodes;
using CtMparticle.Sources.Commercetools;

namespace CtMparticle.Tests.Sources.Commercetools;

/// <summary>Every class of bad body ends as a rejection with a reason a person can act on, never an exception.</summary>
public sealed class DeliveryDecoderBadInputTests
{
    private static DecodeRejected Rejected(byte[] body) => Assert.IsType<DecodeRejected>(DeliveryDecoder.Decode(body));

    private static DecodeRejected Rejected(string body) => Rejected(Encoding.UTF8.GetBytes(body));

    [Theory]
    [InlineData("")]
    [InlineData("   \r\n\t ")]
    public void Decode_EmptyBody_IsRejected(string body)
    {
        var result = Rejected(body);

        Assert.Equal(Reason.EmptyBody, result.Reason);
        Assert.Contains("empty", result.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.9)]
    [InlineData(0.1)]
    public void Decode_TruncatedBody_IsMalformedJsonWithPosition(double keep)
    {
        var full = Samples.Bytes(Samples.OrderCreatedRegistered);

        var result = Rejected(full[..(int)(full.Length * keep)]);

        Assert.Equal(Reason.MalformedJson, result.Reason);
        Assert.Contains("line", result.Detail, StringComparison.Ordinal);
        Assert.Contains("truncated", result.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[1,2,3]", "array")]
    [InlineData("\"OrderCreated\"", "string")]
    [InlineData("42", "number")]
    [InlineData("true", "boolean")]
    [InlineData("null", "null")]
    public void Decode_NotAnObject_IsRejectedNamingWhatItIs(string body, string what)
    {
        var result = Rejected(body);

        Assert.Equal(Reason.NotAnObject, result.Reason);
        Assert.Contains($"JSON {what}", result.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"a\":1} {\"b\":2}")]
    [InlineData("{\"a\":1} trailing")]
    [InlineData("{\"a\":1,}")]
    [InlineData("{'a':1}")]
    [InlineData("{\"a\":1 /* comment */}")]
    public void Decode_InvalidJsonSyntax_IsMalformed(string body)
    {
        Assert.Equal(Reason.MalformedJson, Rejected(body).Reason);
    }

    [Fact]
    public void Decode_InvalidUtf8_IsRejected()
    {
        var body = Samples.Bytes(Samples.OrderStateChanged);
        var broken = body.ToArray();
        var at = Array.IndexOf(broken, (byte)'C'); // inside "Complete"
        broken[at] = 0xC3;
        broken[at + 1] = 0x28; // an invalid two-byte sequence

        var result = Rejected(broken);

        Assert.Equal(Reason.NotUtf8, result.Reason);
        Assert.Contains("UTF-8", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_Utf16Body_IsRejectedWithAHint()
    {
        var body = Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes("{\"id\":\"x\"}")).ToArray();

        var result = Rejected(body);

        Assert.Equal(Reason.NotUtf8, result.Reason);
        Assert.Contains("UTF-16", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_BodyOverTheLimit_IsRejectedBeforeParsing()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json["padding"] = new string('x', DeliveryDecoder.MaxBodyBytes);

        var result = Rejected(Samples.Bytes(json));

        Assert.Equal(Reason.BodyTooLarge, result.Reason);
        Assert.Contains("262,144", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_BodyExactlyAtTheLimit_IsAccepted()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json["padding"] = "";
        var length = Samples.Bytes(json).Length;
        json["padding"] = new string('x', DeliveryDecoder.MaxBodyBytes - length);
        var body = Samples.Bytes(json);

        Assert.Equal(DeliveryDecoder.MaxBodyBytes, body.Length);
        Assert.IsType<Decoded>(DeliveryDecoder.Decode(body));
    }

    [Theory]
    [InlineData(100)]
    [InlineData(10_000)]
    public void Decode_DeepNesting_IsRejected(int depth)
    {
        var body = "{\"id\":\"x\",\"deep\":" + new string('[', depth) + new string(']', depth) + "}";

        var result = Rejected(body);

        Assert.Equal(Reason.TooDeep, result.Reason);
        Assert.Contains(DeliveryDecoder.MaxNestingDepth.ToString(System.Globalization.CultureInfo.InvariantCulture), result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_DeepNestingAtTheRoot_IsRejected()
    {
        var result = Rejected(new string('[', 5000));

        Assert.Contains(result.Reason, new[] { Reason.TooDeep, Reason.NotAnObject, Reason.MalformedJson });
    }

    [Fact]
    public void Decode_MissingId_IsRejectedNamingTheField()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json.Remove("id");

        var result = Rejected(Samples.Bytes(json));

        Assert.Equal(Reason.MissingField, result.Reason);
        Assert.Contains("'id'", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_MissingType_IsRejectedNamingTheField()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json.Remove("type");

        var result = Rejected(Samples.Bytes(json));

        Assert.Equal(Reason.MissingField, result.Reason);
        Assert.Contains("'type'", result.Detail, StringComparison.Ordinal);
        Assert.Equal("5e8b3d1f-9a2c-4f67-8d04-2b7e6c1a9f35", result.Info.MessageId);
    }

    [Fact]
    public void Decode_MissingResource_IsRejected()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json.Remove("resource");

        Assert.Equal(Reason.MissingField, Rejected(Samples.Bytes(json)).Reason);
    }

    [Fact]
    public void Decode_EmptyObject_IsRejectedForMissingId()
    {
        var result = Rejected("{}");

        Assert.Equal(Reason.MissingField, result.Reason);
    }

    [Fact]
    public void Decode_IdOfWrongType_IsRejected()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json["id"] = 12345;

        var result = Rejected(Samples.Bytes(json));

        Assert.Equal(Reason.WrongType, result.Reason);
        Assert.Contains("'id' must be a string", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_CentAmountAsString_IsRejectedWithThePath()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["totalPrice"]!["centAmount"] = "9042";

        var result = Rejected(Samples.Bytes(json));

        Assert.Equal(Reason.WrongType, result.Reason);
        Assert.Contains("$.order.totalPrice.centAmount", result.Detail, StringComparison.Ordinal);
        Assert.Equal("OrderCreated", result.Info.MessageType);
    }

    [Fact]
    public void Decode_CentAmountWithFraction_IsRejected()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["totalPrice"]!["centAmount"] = 90.42m;

        Assert.Equal(Reason.WrongType, Rejected(Samples.Bytes(json)).Reason);
    }

    [Fact]
    public void Decode_OrderWithoutLineItems_IsRejectedAsMissingField()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!.AsObject().Remove("lineItems");

        var result = Rejected(Samples.Bytes(json));

        Assert.Equal(Reason.MissingField, result.Reason);
        Assert.Contains("lineItems", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_OrderIsNull_IsRejectedAsMissingField()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"] = null;

        Assert.Equal(Reason.MissingField, Rejected(Samples.Bytes(json)).Reason);
    }

    [Fact]
    public void Decode_ResourceAsString_IsRejected()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json["resource"] = "order/123";

        Assert.Equal(Reason.WrongType, Rejected(Samples.Bytes(json)).Reason);
    }

    [Fact]
    public void Decode_MessageTypeOnTheWrongResource_IsRejected()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json["resource"]!["typeId"] = "customer";

        var result = Rejected(Samples.Bytes(json));

        Assert.Equal(Reason.WrongType, result.Reason);
        Assert.Contains("belongs to resource type 'order'", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_CloudEventsWithoutData_IsRejected()
    {
        var json = Samples.Json(Samples.CloudEventsConsent);
        json.Remove("data");

        Assert.Equal(Reason.MissingField, Rejected(Samples.Bytes(json)).Reason);
    }

    [Fact]
    public void Decode_CloudEventsDataNotAnObject_IsRejected()
    {
        var json = Samples.Json(Samples.CloudEventsConsent);
        json["data"] = "{\"id\":\"x\"}";

        Assert.Equal(Reason.WrongType, Rejected(Samples.Bytes(json)).Reason);
    }

    [Fact]
    public void Decode_CloudEventsDataBase64_IsUnsupported()
    {
        var json = Samples.Json(Samples.CloudEventsConsent);
        json.Remove("data");
        json["data_base64"] = "e30=";

        Assert.Equal(Reason.UnsupportedFormat, Rejected(Samples.Bytes(json)).Reason);
    }

    [Fact]
    public void Decode_ForeignCloudEvent_IsUnsupported()
    {
        var json = Samples.Json(Samples.CloudEventsConsent);
        json["type"] = "com.example.order.created";

        var result = Rejected(Samples.Bytes(json));

        Assert.Equal(Reason.UnsupportedFormat, result.Reason);
        Assert.Contains("com.example.order.created", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_CloudEventInsideCloudEvent_IsUnsupported()
    {
        var outer = Samples.Json(Samples.CloudEventsConsent);
        outer["data"] = Samples.Json(Samples.CloudEventsConsent);

        Assert.Equal(Reason.UnsupportedFormat, Rejected(Samples.Bytes(outer)).Reason);
    }

    [Fact]
    public void Decode_MalformedCloudEventsData_IsRejectedWithCloudEventsFormat()
    {
        var json = Samples.Json(Samples.CloudEventsConsent);
        json["data"]!.AsObject().Remove("id");

        var result = Rejected(Samples.Bytes(json));

        Assert.Equal(Reason.MissingField, result.Reason);
        Assert.Equal(DeliveryFormat.CloudEvents, result.Info.Format);
    }

    [Fact]
    public void Decode_RandomBytes_NeverThrow()
    {
        var random = new Random(20261129);
        var sample = Samples.Bytes(Samples.OrderCreatedRegistered);
        for (var i = 0; i < 2_000; i++)
        {
            var body = sample.ToArray();
            for (var flips = 0; flips < 1 + (i % 8); flips++)
            {
                body[random.Next(body.Length)] = (byte)random.Next(256);
            }

            var result = DeliveryDecoder.Decode(body);

            Assert.NotNull(result);
            if (result is DecodeRejected rejected)
            {
                Assert.False(string.IsNullOrWhiteSpace(rejected.Detail));
            }
        }
    }

    [Fact]
    public void Decode_StructurallyMutatedJson_NeverThrows()
    {
        var original = Samples.Json(Samples.OrderCreatedRegistered);
        JsonNode[] replacements = [JsonValue.Create(1)!, JsonValue.Create("x")!, new JsonArray(), new JsonObject(), JsonValue.Create(true)!];
        var paths = new[] { "id", "type", "resource", "order", "createdAt", "sequenceNumber", "projectKey" };
        foreach (var path in paths)
        {
            foreach (var replacement in replacements)
            {
                var json = original.DeepClone().AsObject();
                json[path] = replacement.DeepClone();
                var result = DeliveryDecoder.Decode(Samples.Bytes(json));
                Assert.True(result is Decoded or DecodeRejected or DecodeFiltered, $"{path} = {replacement.ToJsonString()} gave {result.GetType().Name}");
            }

            var removed = original.DeepClone().AsObject();
            removed.Remove(path);
            Assert.NotNull(DeliveryDecoder.Decode(Samples.Bytes(removed)));
        }
    }
}
