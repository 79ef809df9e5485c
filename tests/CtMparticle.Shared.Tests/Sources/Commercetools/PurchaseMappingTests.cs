using System.Text.Json.Nodes;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Sources.Commercetools;

/// <summary>
/// Order-creating messages as mParticle purchase batches. Expected figures are read off the samples by hand
/// (see the comments); event ids were computed independently with Python's uuid.uuid5.
/// </summary>
public sealed class PurchaseMappingTests
{
    private static JsonObject Wire(string sample) => Wire(Samples.Bytes(sample));

    private static JsonObject Wire(byte[] body)
    {
        var message = Samples.Decode<CtOrderCarryingMessage>(body);
        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(message));
        var built = TestOptions.Built(purchase);
        Assert.Empty(EventsApiRules.Check(built.Batch, built.Json.Length));
        return JsonNode.Parse(built.Json)!.AsObject();
    }

    [Fact]
    public void Map_RegisteredOrderWithDiscount_IsAPurchaseWithExactTotals()
    {
        var batch = Wire(Samples.OrderCreatedRegistered);

        Assert.Equal("production", (string?)batch["environment"]);
        var evt = Assert.Single(batch["events"]!.AsArray())!;
        Assert.Equal("commerce_event", (string?)evt["event_type"]);
        var data = evt["data"]!;
        Assert.Equal(1741945287512, (long)data["timestamp_unixtime_ms"]!); // order.createdAt 2025-03-14T09:41:27.512Z
        Assert.Equal("f34de537-8370-59c1-86b4-95bd3324b55b", (string?)data["source_message_id"]);
        Assert.Equal("EUR", (string?)data["currency_code"]);

        var action = data["product_action"]!;
        Assert.Equal("purchase", (string?)action["action"]);
        Assert.Equal("DE-100234", (string?)action["transaction_id"]);
        Assert.Equal(90.42m, (decimal)action["total_amount"]!);   // taxedPrice.totalGross 9042
        Assert.Equal(14.43m, (decimal)action["tax_amount"]!);     // taxedPrice.totalTax 1443
        Assert.Equal(4.95m, (decimal)action["shipping_amount"]!); // shippingInfo.taxedPrice.totalGross 495
        Assert.Equal("90.42", action["total_amount"]!.ToJsonString());

        var products = action["products"]!.AsArray();
        Assert.Equal(2, products.Count);
        var tee = products[0]!;
        Assert.Equal("MTS-NAVY-M", (string?)tee["id"]);
        Assert.Equal("Merino T-Shirt", (string?)tee["name"]); // order locale de-DE
        Assert.Equal("mts-navy-m", (string?)tee["variant"]);
        Assert.Equal("Acme Outdoor", (string?)tee["brand"]);
        Assert.Equal(35.99m, (decimal)tee["price"]!);          // 71.98 / 2 after the 4.00 cart discount
        Assert.Equal(2m, (decimal)tee["quantity"]!);
        Assert.Equal(71.98m, (decimal)tee["total_product_amount"]!);
        Assert.Equal("39.99", (string?)tee["custom_attributes"]!["list_price"]);
        var socks = products[1]!;
        Assert.Equal("TS3-GRY-42", (string?)socks["id"]);
        Assert.Equal("Trail-Socken 3er-Pack", (string?)socks["name"]);
        Assert.Equal(13.49m, (decimal)socks["price"]!);
        Assert.Equal(1m, (decimal)socks["quantity"]!);
        Assert.Equal(13.49m, (decimal)socks["total_product_amount"]!);

        // Lines plus shipping add up to the total.
        Assert.Equal(90.42m, products.Sum(p => (decimal)p!["total_product_amount"]!) + 4.95m);

        var attributes = data["custom_attributes"]!;
        Assert.Equal("b5f3c2a8-6d1e-4f0b-9a7c-2e8d4c1f9a30", (string?)attributes["order_id"]);
        Assert.Equal("acme-de", (string?)attributes["store_key"]);
        Assert.Equal("web", (string?)attributes["channel"]);
        Assert.Equal("created", (string?)attributes["order_origin"]);
        Assert.Equal("9.50", (string?)attributes["discount_amount"]); // 2 × 4.00 + 1 × 1.50
    }

    [Fact]
    public void Map_RegisteredOrder_CarriesCustomerIdentitiesConsentAndPlan()
    {
        var batch = Wire(Samples.OrderCreatedRegistered);

        var identities = batch["user_identities"]!.AsObject();
        Assert.Equal(2, identities.Count);
        Assert.Equal("7d2a9c41-5e8b-4f13-a6d0-3c9e1b7f2a58", (string?)identities["customer_id"]);
        Assert.Equal("anna.schmidt@example.com", (string?)identities["email"]);

        var gdpr = batch["consent_state"]!["gdpr"]!.AsObject();
        Assert.True((bool)gdpr["analytics"]!["consented"]!);
        Assert.True((bool)gdpr["marketing_email"]!["consented"]!);
        Assert.Equal(1741945287512, (long)gdpr["analytics"]!["timestamp_unixtime_ms"]!);
        Assert.Null(batch["consent_state"]!["ccpa"]);

        Assert.Equal("ctmparticle_commerce", (string?)batch["context"]!["data_plan"]!["plan_id"]);
        Assert.Equal(3, (int)batch["context"]!["data_plan"]!["plan_version"]!);
        Assert.False(string.IsNullOrEmpty((string?)batch["source_request_id"]));
        Assert.Null(batch["timestamp_unixtime_ms"]); // never set the batch timestamp
    }

    [Fact]
    public void Map_GuestOrder_UsesEmailAndAnonymousIdWithoutCustomerId()
    {
        var batch = Wire(Samples.OrderCreatedGuest);

        var identities = batch["user_identities"]!.AsObject();
        Assert.Null(identities["customer_id"]);
        Assert.Equal("tom.baker@example.co.uk", (string?)identities["email"]);
        Assert.Equal("c0f7e3a1-5b9d-4c82-8e46-2a1d9f7b3c58", (string?)identities["other"]);

        var data = batch["events"]![0]!["data"]!;
        Assert.Equal(1742069274891, (long)data["timestamp_unixtime_ms"]!);
        Assert.Equal("GBP", (string?)data["currency_code"]);
        var action = data["product_action"]!;
        Assert.Equal("UK-200871", (string?)action["transaction_id"]);
        Assert.Equal(89.00m, (decimal)action["total_amount"]!);
        Assert.Equal("89.00", action["total_amount"]!.ToJsonString());
        Assert.Equal(14.83m, (decimal)action["tax_amount"]!);
        Assert.Equal(0m, (decimal)action["shipping_amount"]!);
        var product = Assert.Single(action["products"]!.AsArray())!;
        Assert.Equal("RJ-OLV-L", (string?)product["id"]);
        Assert.Equal("Packable rain jacket", (string?)product["name"]); // order locale en-GB
        Assert.Equal(89.00m, (decimal)product["price"]!);
        Assert.Null(data["custom_attributes"]!["discount_amount"]); // no discount at all
        Assert.Equal("acme-uk", (string?)data["custom_attributes"]!["store_key"]);
        Assert.Null(batch["consent_state"]); // no snapshot on this order
    }

    [Fact]
    public void Map_OrderCreated_LeavesTheContextLaterMessagesNeed()
    {
        var context = TestOptions.Order01Context();

        Assert.Equal("b5f3c2a8-6d1e-4f0b-9a7c-2e8d4c1f9a30", context.OrderId);
        Assert.Equal("DE-100234", context.OrderNumber);
        Assert.Equal("acme-de", context.StoreKey);
        Assert.Equal("EUR", context.Currency);
        Assert.Equal("de-DE", context.Locale);
        Assert.Equal(new UserIds("7d2a9c41-5e8b-4f13-a6d0-3c9e1b7f2a58", "anna.schmidt@example.com", null), context.User);
        Assert.Equal(new Region("DE"), context.Region);
        Assert.Equal(["e41b7c9d-2f6a-4d85-b3e0-9a1c5d7f8b62"], context.PaymentIds);
        Assert.Equal("MTS-NAVY-M", context.Lines["3e9a7c15-8d2b-4f60-a4e1-7c5b9d3f0a82"].Sku);
        Assert.Equal(35.99m, context.Lines["3e9a7c15-8d2b-4f60-a4e1-7c5b9d3f0a82"].UnitPrice);
    }

    [Fact]
    public void Map_OrderImportedAfterOrderCreated_HasTheSameEventId()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["id"] = "11111111-2222-4333-8444-555555555555";
        json["type"] = "OrderImported";
        json["order"]!["completedAt"] = "2025-03-13T08:00:00.000Z";

        var created = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.OrderCreatedRegistered)));
        var imported = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(created.Context.EventId, imported.Context.EventId);
        Assert.Equal(OrderOrigin.Imported, imported.Origin);
        Assert.Equal(new DateTimeOffset(2025, 3, 13, 8, 0, 0, TimeSpan.Zero), imported.Context.OccurredAt); // completedAt
    }

    [Fact]
    public void Map_Redelivery_GivesIdenticalBatchBytes()
    {
        var first = TestOptions.Built(TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.OrderCreatedRegistered))));
        var second = TestOptions.Built(TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.OrderCreatedRegistered))));

        Assert.Equal(first.Json, second.Json);
    }

    [Theory]
    [InlineData("JPY", 0, "9042")]       // 9042 yen
    [InlineData("KWD", 3, "9.042")]      // 9.042 dinar
    [InlineData("EUR", 2, "90.42")]
    public void Map_CurrenciesWithDifferentFractionDigits_ScaleExactly(string currency, int digits, string expectedTotal)
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        Samples.SetCurrency(json, currency, digits);

        var batch = Wire(Samples.Bytes(json));

        var data = batch["events"]![0]!["data"]!;
        Assert.Equal(currency, (string?)data["currency_code"]);
        Assert.Equal(expectedTotal, data["product_action"]!["total_amount"]!.ToJsonString());
    }

    [Fact]
    public void Map_JapaneseYenOrder_UnitPricesHaveNoDecimals()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        Samples.SetCurrency(json, "JPY", 0);

        var product = Wire(Samples.Bytes(json))["events"]![0]!["data"]!["product_action"]!["products"]![0]!;

        Assert.Equal("3599", product["price"]!.ToJsonString()); // 7198 / 2
        Assert.Equal("7198", product["total_product_amount"]!.ToJsonString());
    }

    [Fact]
    public void Map_LineTotalNotDivisibleByQuantity_RoundsUnitPriceHalfEvenAndKeepsExactLineTotal()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        var line = json["order"]!["lineItems"]![0]!;
        line["quantity"] = 3;
        line["totalPrice"]!["centAmount"] = 1000; // 10.00 / 3
        line["taxedPrice"]!["totalGross"]!["centAmount"] = 1000;

        var product = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json)))).Products[0];

        Assert.Equal(3.33m, product.UnitPrice);
        Assert.Equal(10.00m, product.LineTotal);
    }

    [Fact]
    public void Map_HighPrecisionListPrice_UsesPreciseAmount()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["lineItems"]![0]!["price"]!["value"] = new JsonObject
        {
            ["type"] = "highPrecision", ["currencyCode"] = "EUR", ["centAmount"] = 3999, ["fractionDigits"] = 5, ["preciseAmount"] = 3998765,
        };

        var product = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json)))).Products[0];

        Assert.Equal(39.98765m, product.ListPrice);
    }

    [Fact]
    public void Map_TaxExcludedPrices_TotalIsTheGrossTotal()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["totalPrice"]!["centAmount"] = 7599; // net, as commercetools reports it when tax is not included

        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(90.42m, purchase.Total); // taxedPrice.totalGross
    }

    [Fact]
    public void Map_OrderWithoutTaxedPrice_UsesTotalPriceAndSendsNoTax()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!.AsObject().Remove("taxedPrice");

        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(90.42m, purchase.Total);
        Assert.Null(purchase.Tax);
    }

    [Fact]
    public void Map_MultipleShippingMode_SumsEveryShipping()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        var order = json["order"]!.AsObject();
        order["shippingMode"] = "Multiple";
        var info = order["shippingInfo"]!.DeepClone();
        order.Remove("shippingInfo");
        order["shipping"] = new JsonArray(
            new JsonObject { ["shippingKey"] = "a", ["shippingInfo"] = info.DeepClone() },
            new JsonObject { ["shippingKey"] = "b", ["shippingInfo"] = info.DeepClone() });

        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(9.90m, purchase.Shipping);
    }

    [Fact]
    public void Map_CustomLineItem_IsAProductLine()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["customLineItems"] = new JsonArray(new JsonObject
        {
            ["id"] = "cli-1", ["key"] = "gift-wrap", ["name"] = new JsonObject { ["en"] = "Gift wrap", ["de"] = "Geschenkverpackung" },
            ["money"] = Money("EUR", 250, 2), ["totalPrice"] = Money("EUR", 500, 2), ["slug"] = "gift-wrap", ["quantity"] = 2,
        });

        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        var wrap = purchase.Products[^1];
        Assert.Equal("gift-wrap", wrap.Sku);
        Assert.Equal("Geschenkverpackung", wrap.Name); // de-DE → de
        Assert.Equal(2.50m, wrap.UnitPrice);
        Assert.Equal(5.00m, wrap.LineTotal);
        Assert.Equal("custom_line_item", wrap.Category);
    }

    [Fact]
    public void Map_MixedCurrencies_IsInvalidWithTheField()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["lineItems"]![1]!["totalPrice"]!["currencyCode"] = "USD";

        var result = Assert.IsType<MappingInvalid>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(Reason.MixedCurrencies, result.Reason);
        Assert.Contains("USD", result.Detail, StringComparison.Ordinal);
        Assert.Contains("EUR", result.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("eur")]
    [InlineData("EURO")]
    [InlineData("")]
    public void Map_InvalidCurrencyCode_IsInvalid(string currency)
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        Samples.SetCurrency(json, currency, 2);

        var result = Assert.IsType<MappingInvalid>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(Reason.InvalidCurrency, result.Reason);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(29)]
    public void Map_ImpossibleFractionDigits_IsInvalidMoney(int digits)
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["taxedPrice"]!["totalGross"]!["fractionDigits"] = digits;

        var result = Assert.IsType<MappingInvalid>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(Reason.InvalidMoney, result.Reason);
    }

    [Fact]
    public void Map_OrderWithoutAnyIdentity_IsInvalid()
    {
        var json = Samples.Json(Samples.OrderCreatedGuest);
        var order = json["order"]!.AsObject();
        order.Remove("customerEmail");
        order.Remove("anonymousId");

        var result = Assert.IsType<MappingInvalid>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(Reason.NoIdentity, result.Reason);
    }

    [Fact]
    public void Map_OrderWithoutLocale_FallsBackToTheStoreLocale()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!.AsObject().Remove("locale");
        json["order"]!["store"]!["key"] = "acme-uk"; // store locale en-GB

        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal("Merino T-shirt", purchase.Products[0].Name);
    }

    [Fact]
    public void Map_OrderWithoutLocaleOrKnownStore_FallsBackToFirstKeyInOrdinalOrder()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!.AsObject().Remove("locale");
        json["order"]!.AsObject().Remove("store");

        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        // Default locale "en" matches en-GB by language.
        Assert.Equal("Merino T-shirt", purchase.Products[0].Name);
        Assert.Null(purchase.Context.StoreKey);
    }

    [Fact]
    public void Map_NameWithoutAnyMatchingLocale_TakesTheOrdinallyFirstKey()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["locale"] = "fr-FR";
        json["order"]!["lineItems"]![0]!["name"] = new JsonObject { ["nl"] = "Merino shirt (nl)", ["it"] = "Maglietta" };
        json["order"]!.AsObject().Remove("store");

        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal("Maglietta", purchase.Products[0].Name);
    }

    [Fact]
    public void Map_LineItemWithoutSku_UsesProductKeyThenProductId()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["lineItems"]![0]!["variant"]!.AsObject().Remove("sku");
        json["order"]!["lineItems"]![1]!["variant"]!.AsObject().Remove("sku");
        json["order"]!["lineItems"]![1]!.AsObject().Remove("productKey");

        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal("merino-tee", purchase.Products[0].Sku);
        Assert.Equal("5c2e9a7f-1d4b-4f86-a3c0-6b8e2d9f1a75", purchase.Products[1].Sku);
    }

    [Fact]
    public void Map_OrderWithoutNumber_UsesTheOrderIdAsTransactionId()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!.AsObject().Remove("orderNumber");

        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal("b5f3c2a8-6d1e-4f0b-9a7c-2e8d4c1f9a30", purchase.TransactionId);
    }

    [Fact]
    public void Map_UsStateAddress_GivesACountryAndStateRegion()
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["order"]!["billingAddress"]!["country"] = "US";
        json["order"]!["billingAddress"]!["state"] = "ca";

        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal("US-CA", purchase.Context.Region!.Code);
    }

    [Fact]
    public void Map_OrderWithoutAddresses_LeavesTheRegionToTheGate()
    {
        var json = Samples.Json(Samples.OrderCreatedGuest);
        var order = json["order"]!.AsObject();
        order.Remove("billingAddress");
        order.Remove("shippingAddress");
        order.Remove("country");

        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        // The store's country is a fallback the gate applies after the user's stored region (ADR 0003), not the event's own.
        Assert.Null(purchase.Context.Region);
        Assert.Equal("acme-uk", purchase.Context.StoreKey);
    }

    [Theory]
    [InlineData("California", "US-CA")]
    [InlineData("CA", "US-CA")]
    [InlineData("", "US")]
    public void Map_UsAddressState_IsNormalizedToIso31662(string state, string code)
    {
        var json = Samples.Json(Samples.OrderCreatedGuest);
        json["order"]!["billingAddress"]!["country"] = "US";
        json["order"]!["billingAddress"]!["state"] = state;

        var purchase = TestOptions.Single<OrderCompleted>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(code, purchase.Context.Region!.Code);
    }

    private static JsonObject Money(string currency, long cents, int digits) =>
        new() { ["type"] = "centPrecision", ["currencyCode"] = currency, ["centAmount"] = cents, ["fractionDigits"] = digits };
}
