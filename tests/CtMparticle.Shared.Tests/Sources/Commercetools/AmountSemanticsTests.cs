using System.Globalization;
using System.Text.Json.Nodes;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Sources.Commercetools;

/// <summary>
/// Purchases as GA4, Adobe and Meta expect them: product and shipping prices as the shopper saw them (net where
/// the store's prices exclude tax), tax separate, the total what was charged. Every expected figure below was
/// worked out by hand from the order's commercetools fields, never taken from the code under test; each test also
/// checks the identity of ADR 0002: lines + shipping (+ tax where prices are net) − the order-level discount = total.
/// </summary>
public sealed class AmountSemanticsTests
{
    private static JsonObject Money(string currency, long cents, int digits, long? precise = null, int? preciseDigits = null) => precise is { } p
        ? new JsonObject { ["type"] = "highPrecision", ["currencyCode"] = currency, ["centAmount"] = cents, ["fractionDigits"] = preciseDigits, ["preciseAmount"] = p }
        : new JsonObject { ["type"] = "centPrecision", ["currencyCode"] = currency, ["centAmount"] = cents, ["fractionDigits"] = digits };

    private static JsonObject Taxed(string currency, long net, long gross, int digits) => new()
    {
        ["totalNet"] = Money(currency, net, digits), ["totalGross"] = Money(currency, gross, digits), ["totalTax"] = Money(currency, gross - net, digits),
    };

    /// <summary>A line item; <paramref name="slices"/> are (quantity, discounted unit cents).</summary>
    private static JsonObject Line(string id, string sku, string currency, int digits, JsonObject price, long quantity, long totalCents, bool? taxIncluded,
        JsonObject? taxed = null, (long Quantity, long Cents)[]? slices = null, string mode = "Standard") => new()
    {
        ["id"] = id, ["productId"] = "p-" + sku, ["name"] = new JsonObject { ["en"] = sku }, ["variant"] = new JsonObject { ["id"] = 1, ["sku"] = sku },
        ["price"] = new JsonObject { ["id"] = "price-" + sku, ["value"] = price },
        ["quantity"] = quantity,
        ["discountedPricePerQuantity"] = new JsonArray((slices ?? []).Select(s => (JsonNode)new JsonObject
        {
            ["quantity"] = s.Quantity,
            ["discountedPrice"] = new JsonObject { ["value"] = Money(currency, s.Cents, digits), ["includedDiscounts"] = new JsonArray() },
        }).ToArray()),
        ["totalPrice"] = Money(currency, totalCents, digits),
        ["taxRate"] = taxIncluded is { } included ? new JsonObject { ["name"] = "tax", ["amount"] = 0.1, ["includedInPrice"] = included, ["country"] = "DE" } : null,
        ["taxedPrice"] = taxed,
        ["lineItemMode"] = mode,
    };

    private static OrderCompleted Purchase(string currency, int digits, JsonArray lines, long totalCents, JsonObject? taxed, JsonObject? shippingPrice,
        JsonArray? customLines = null, long? discountOnTotalCents = null)
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        var order = json["order"]!.AsObject();
        order["lineItems"] = lines;
        order["customLineItems"] = customLines ?? [];
        order["totalPrice"] = Money(currency, totalCents, digits);
        order["taxedPrice"] = taxed;
        order["taxedShippingPrice"] = null;
        order["shippingInfo"] = shippingPrice is null ? null : new JsonObject { ["shippingMethodName"] = "Standard", ["price"] = shippingPrice };
        order["discountOnTotalPrice"] = discountOnTotalCents is { } d ? new JsonObject { ["discountedAmount"] = Money(currency, d, digits) } : null;
        order["paymentInfo"] = null;
        var result = TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json)));
        return TestOptions.Single<OrderCompleted>(result);
    }

    private static void AssertIdentity(OrderCompleted purchase, bool net, decimal discountOnTotal = 0m)
    {
        var lines = purchase.Products.Sum(p => p.LineTotal!.Value);
        Assert.Equal(purchase.Total, lines + (purchase.Shipping ?? 0m) + (net ? purchase.Tax ?? 0m : 0m) - discountOnTotal);
        // And the batch carries exactly these figures.
        var action = TestOptions.Built(purchase).Batch.Events[0].Data.ProductAction!;
        Assert.Equal((purchase.Total, purchase.Tax, purchase.Shipping), (action.TotalAmount, action.TaxAmount, action.ShippingAmount));
    }

    private static string Text(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    [Fact]
    public void UsdTaxExcluded_PricesAndShippingAreNet_TaxSeparate_TotalIsWhatWasCharged()
    {
        // Shown to the shopper: 108.99 + shipping 19.99; California tax 8.25 % added at checkout: 8.99 + 1.65 = 10.64.
        var line = Line("l1", "TENT-2P", "USD", 2, Money("USD", 10899, 2), 1, 10899, taxIncluded: false, Taxed("USD", 10899, 11798, 2));
        var purchase = Purchase("USD", 2, [line], totalCents: 12898, Taxed("USD", 12898, 13962, 2), Money("USD", 1999, 2));

        var product = Assert.Single(purchase.Products);
        Assert.Equal(("108.99", "108.99", "108.99"), (Text(product.UnitPrice!.Value), Text(product.LineTotal!.Value), Text(product.ListPrice!.Value)));
        Assert.Equal(("19.99", "10.64", "139.62"), (Text(purchase.Shipping!.Value), Text(purchase.Tax!.Value), Text(purchase.Total)));
        AssertIdentity(purchase, net: true);
    }

    [Fact]
    public void EurTaxIncluded_CartDiscount_UnitPriceIsTheDiscountedUnitAndListPriceTheOriginal()
    {
        // 2 × 50.00 with a cart discount to 45.00 each = 90.00; shipping 4.95; 19 % VAT included: 94.95 − 79.79 = 15.16.
        var line = Line("l1", "JACKET", "EUR", 2, Money("EUR", 5000, 2), 2, 9000, taxIncluded: true, Taxed("EUR", 7563, 9000, 2), slices: [(2, 4500)]);
        var purchase = Purchase("EUR", 2, [line], totalCents: 9495, Taxed("EUR", 7979, 9495, 2), Money("EUR", 495, 2));

        var product = Assert.Single(purchase.Products);
        Assert.Equal(("45.00", "90.00", "50.00"), (Text(product.UnitPrice!.Value), Text(product.LineTotal!.Value), Text(product.ListPrice!.Value)));
        Assert.Equal(("4.95", "15.16", "94.95"), (Text(purchase.Shipping!.Value), Text(purchase.Tax!.Value), Text(purchase.Total)));
        AssertIdentity(purchase, net: false);
    }

    [Fact]
    public void ProductDiscountOnly_UnitPriceIsTheDiscountedPriceAndListPriceTheOriginal()
    {
        // A product discount (price.discounted) of 59.90 → 47.92 and no cart discount: 2 × 47.92 = 95.84, VAT included.
        var line = Line("l1", "BACKPACK", "EUR", 2, Money("EUR", 5990, 2), 2, 9584, taxIncluded: true);
        line["price"]!["discounted"] = new JsonObject { ["value"] = Money("EUR", 4792, 2), ["discount"] = new JsonObject { ["typeId"] = "product-discount", ["id"] = "pd-1" } };
        var purchase = Purchase("EUR", 2, [line], totalCents: 9584, taxed: null, shippingPrice: null);

        var product = Assert.Single(purchase.Products);
        Assert.Equal(("47.92", "95.84", "59.90"), (Text(product.UnitPrice!.Value), Text(product.LineTotal!.Value), Text(product.ListPrice!.Value)));
        AssertIdentity(purchase, net: false);
    }

    [Fact]
    public void JpyWithoutDecimals_AmountsKeepNoFraction()
    {
        // 3 × 1980 = 5940; shipping 500; 10 % consumption tax included: 6440 − 5855 = 585.
        var line = Line("l1", "MUG", "JPY", 0, Money("JPY", 1980, 0), 3, 5940, taxIncluded: true, Taxed("JPY", 5400, 5940, 0));
        var purchase = Purchase("JPY", 0, [line], totalCents: 6440, Taxed("JPY", 5855, 6440, 0), Money("JPY", 500, 0));

        var product = Assert.Single(purchase.Products);
        Assert.Equal(("1980", "5940"), (Text(product.UnitPrice!.Value), Text(product.LineTotal!.Value)));
        Assert.Equal(("500", "585", "6440"), (Text(purchase.Shipping!.Value), Text(purchase.Tax!.Value), Text(purchase.Total)));
        AssertIdentity(purchase, net: false);
    }

    [Fact]
    public void KwdWithThreeDecimals_Untaxed_TotalIsTheTotalPrice()
    {
        // 2 × 12.345 = 24.690; shipping 1.500; no tax calculated: 26.190.
        var line = Line("l1", "PERFUME", "KWD", 3, Money("KWD", 12345, 3), 2, 24690, taxIncluded: null);
        var purchase = Purchase("KWD", 3, [line], totalCents: 26190, taxed: null, Money("KWD", 1500, 3));

        var product = Assert.Single(purchase.Products);
        Assert.Equal(("12.345", "24.690"), (Text(product.UnitPrice!.Value), Text(product.LineTotal!.Value)));
        Assert.Null(purchase.Tax);
        Assert.Equal(("1.500", "26.190"), (Text(purchase.Shipping!.Value), Text(purchase.Total)));
        AssertIdentity(purchase, net: false);
    }

    [Fact]
    public void HighPrecisionPrice_IsSentExactlyNotRoundedToCents()
    {
        // 100 screws at 0.02745 USD each (highPrecision, 5 digits); commercetools rounds the line half-even: 2.745 → 2.74.
        var line = Line("l1", "SCREW-M3", "USD", 2, Money("USD", 3, 2, precise: 2745, preciseDigits: 5), 100, 274, taxIncluded: null);
        var purchase = Purchase("USD", 2, [line], totalCents: 274, taxed: null, shippingPrice: null);

        var product = Assert.Single(purchase.Products);
        Assert.Equal(("0.02745", "2.74"), (Text(product.UnitPrice!.Value), Text(product.LineTotal!.Value)));
        AssertIdentity(purchase, net: false);
    }

    [Fact]
    public void DiscountOnTheOrderTotal_StaysOutOfTheLines_AndIsInTheDiscountAmount()
    {
        // Line 100.00, shipping 5.00, 10.00 off the total price: charged 95.00 (VAT included: 95.00 − 79.83 = 15.17).
        var line = Line("l1", "BOOTS", "EUR", 2, Money("EUR", 10000, 2), 1, 10000, taxIncluded: true, Taxed("EUR", 8403, 10000, 2));
        var purchase = Purchase("EUR", 2, [line], totalCents: 9500, Taxed("EUR", 7983, 9500, 2), Money("EUR", 500, 2), discountOnTotalCents: 1000);

        Assert.Equal(("100.00", "95.00", "10.00"), (Text(purchase.Products[0].LineTotal!.Value), Text(purchase.Total), Text(purchase.Discount!.Value)));
        AssertIdentity(purchase, net: false, discountOnTotal: 10.00m);
    }

    [Fact]
    public void GiftLineAndFeeLine_AreProductsAtTheirShownPrice()
    {
        // A free gift (9.99 discounted to 0.00) and a gift-wrap fee (custom line item, key "gift-wrap", 3.00) beside a 20.00 line.
        var paid = Line("l1", "SCARF", "EUR", 2, Money("EUR", 2000, 2), 1, 2000, taxIncluded: true);
        var gift = Line("l2", "SOCKS", "EUR", 2, Money("EUR", 999, 2), 1, 0, taxIncluded: true, slices: [(1, 0)], mode: "GiftLineItem");
        var fee = new JsonObject
        {
            ["id"] = "c1", ["key"] = "gift-wrap", ["slug"] = "gift-wrapping", ["name"] = new JsonObject { ["en"] = "Gift wrap" },
            ["money"] = Money("EUR", 300, 2), ["totalPrice"] = Money("EUR", 300, 2), ["quantity"] = 1,
        };
        var purchase = Purchase("EUR", 2, [paid, gift], totalCents: 2300, taxed: null, shippingPrice: null, customLines: [fee]);

        Assert.Equal(["SCARF", "SOCKS", "gift-wrap"], purchase.Products.Select(p => p.Sku));
        Assert.Equal(("0.00", "0.00", "9.99"), (Text(purchase.Products[1].UnitPrice!.Value), Text(purchase.Products[1].LineTotal!.Value), Text(purchase.Products[1].ListPrice!.Value)));
        Assert.Equal(("3.00", "custom_line_item"), (Text(purchase.Products[2].UnitPrice!.Value), purchase.Products[2].Category));
        AssertIdentity(purchase, net: false);
    }
}
