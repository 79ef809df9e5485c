using System.Text;
using CtMparticle.Sources.Commercetools;

namespace CtMparticle.Tests.Sources.Commercetools;

/// <summary>Inputs that must be refused with the field named, never guessed at (issue 12, "reject what cannot be right").</summary>
public sealed class InvalidDataTests
{
    private static DecodeResult Decode(string json) => DeliveryDecoder.Decode(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Decode_DuplicatedMoneyKey_IsMalformedJsonNamingTheKeyAndWhereItIs()
    {
        var json = Encoding.UTF8.GetString(Samples.Bytes(Samples.RefundTransaction))
            .Replace("\"centAmount\":", "\"centAmount\": 100, \"centAmount\":", StringComparison.Ordinal);

        var rejected = Assert.IsType<DecodeRejected>(Decode(json));

        Assert.Equal("malformed_json", rejected.Reason.Code());
        Assert.Contains("'centAmount'", rejected.Detail, StringComparison.Ordinal);
        Assert.Contains("$.transaction.amount", rejected.Detail, StringComparison.Ordinal);
        Assert.NotNull(rejected.Info.MessageId); // the envelope was readable: the quarantine record carries the ids
    }

    [Fact]
    public void Decode_DuplicatedCustomField_IsMalformedJson()
    {
        var json = Encoding.UTF8.GetString(Samples.Bytes(Samples.OrderCreatedRegistered))
            .Replace("\"channel\": \"web\"", "\"channel\": \"web\", \"channel\": \"pos\"", StringComparison.Ordinal);
        Assert.Contains("\"pos\"", json, StringComparison.Ordinal);

        var rejected = Assert.IsType<DecodeRejected>(Decode(json));

        Assert.True(rejected.Reason.Code() == "malformed_json", rejected.Detail);
        Assert.Contains("'channel'", rejected.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_DuplicatedKeyTheRelayDoesNotRead_IsIgnoredLikeTheRestOfThatMember()
    {
        // Members the relay does not model are skipped unread, so a repeat there cannot change what is sent.
        var json = Encoding.UTF8.GetString(Samples.Bytes(Samples.ReturnInfoAdded))
            .Replace("\"comment\":", "\"comment\": \"a\", \"comment\":", StringComparison.Ordinal);

        Assert.IsType<Decoded>(Decode(json));
    }

    [Fact]
    public void Map_OrderWithoutAnyLine_IsNoLineItems()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["lineItems"] = new System.Text.Json.Nodes.JsonArray();
        json["order"]!.AsObject().Remove("customLineItems");

        var invalid = Assert.IsType<MappingInvalid>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal("no_line_items", invalid.Reason.Code());
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(0)]
    public void Map_LineQuantityBelowOne_IsInvalidQuantityNamingTheLine(long quantity)
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        var line = json["order"]!["lineItems"]![0]!;
        line["quantity"] = quantity;

        var invalid = Assert.IsType<MappingInvalid>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal("invalid_quantity", invalid.Reason.Code());
        Assert.Contains($"lineItems[{(string)line["id"]!}].quantity is {quantity}", invalid.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Map_NegativeSequenceNumber_IsInvalidForAnyMessage()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json["sequenceNumber"] = -3;

        var invalid = Assert.IsType<MappingInvalid>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json)), TestOptions.Order01Context()));

        Assert.Equal("invalid_sequence_number", invalid.Reason.Code());
    }

    [Fact]
    public void Map_ReturnOfZeroUnits_IsInvalidQuantity()
    {
        var json = Samples.Json(Samples.ReturnInfoAdded);
        json["returnInfo"]!["items"]![0]!["quantity"] = 0;

        var invalid = Assert.IsType<MappingInvalid>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json)), TestOptions.Order01Context()));

        Assert.Equal("invalid_quantity", invalid.Reason.Code());
    }

    [Theory]
    [InlineData("price")]
    [InlineData("totalPrice")]
    public void Map_NegativeFractionDigitsOnALine_IsInvalidMoneyNotAnException(string field)
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        var line = json["order"]!["lineItems"]![0]!;
        (field == "price" ? line["price"]!["value"]! : line[field]!)["fractionDigits"] = -1;

        var invalid = Assert.IsType<MappingInvalid>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal("invalid_money", invalid.Reason.Code());
    }

    [Fact]
    public void Map_GrossBelowNet_IsInvalidMoney()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        var taxed = json["order"]!["taxedPrice"]!;
        taxed["totalNet"]!["centAmount"] = (long)taxed["totalGross"]!["centAmount"]! + 1;

        var invalid = Assert.IsType<MappingInvalid>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal("invalid_money", invalid.Reason.Code());
        Assert.Contains("taxedPrice", invalid.Detail, StringComparison.Ordinal);
    }
}
