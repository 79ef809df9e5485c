using System.Globalization;
using System.Text.Json;
using CtMparticle.Configuration;
using CtMparticle.Tracking;

namespace CtMparticle.Sources.Commercetools;

/// <summary>
/// Order-creating messages (<c>OrderCreated</c>, <c>OrderImported</c>, <c>OrderCreatedFromRecurringOrder</c>) to
/// <see cref="OrderCompleted"/> plus the <see cref="OrderContext"/> later messages need.
/// Amounts are as the shopper saw them (product and shipping prices in the store's tax mode, tax separate, the total
/// what was charged), in the order's currency; see docs/adr/0002-commerce-mapping.md.
/// </summary>
internal static class PurchaseMapper
{
    public static MappingResult Map(CtOrderCarryingMessage message, MappingOptions options, MParticleOptions routing)
    {
        var order = message.Order;
        var currency = order.TotalPrice.CurrencyCode;
        if (!MoneyMath.IsCurrencyCode(currency))
        {
            return new MappingInvalid(Reason.InvalidCurrency, $"Order {order.Id} has currency '{currency}'; expected an uppercase ISO 4217 code such as EUR.");
        }

        var digits = order.TotalPrice.FractionDigits;
        var money = new MoneyReader(currency, order.Id);
        var taxed = order.TaxedPrice;
        money.Read(order.TotalPrice, "totalPrice");
        var total = money.Read(taxed?.TotalGross ?? order.TotalPrice, "taxedPrice.totalGross");
        decimal? tax = taxed is null ? null
            : taxed.TotalTax is { } totalTax ? money.Read(totalTax, "taxedPrice.totalTax")
            : money.Read(taxed.TotalGross, "taxedPrice.totalGross") - money.Read(taxed.TotalNet, "taxedPrice.totalNet");
        var shipping = ReadShipping(order, money);
        var discount = ReadDiscount(order, money);

        var storeKey = order.Store?.Key;
        var store = routing.FindStore(storeKey);
        var products = new List<ProductLine>(order.LineItems.Count + (order.CustomLineItems?.Count ?? 0));
        var lines = new Dictionary<string, ProductLine>(StringComparer.Ordinal);
        foreach (var item in order.LineItems)
        {
            var line = MapLineItem(item, order.Locale, store?.Locale, options, money, digits);
            products.Add(line);
            lines[item.Id] = line;
        }

        foreach (var item in order.CustomLineItems ?? [])
        {
            var line = MapCustomLineItem(item, order.Locale, store?.Locale, options, money, digits);
            products.Add(line);
            lines[item.Id] = line;
        }

        if (money.Problem is { } problem)
        {
            return new MappingInvalid(problem.Reason, problem.Detail);
        }

        if (total < 0)
        {
            return new MappingInvalid(Reason.InvalidMoney, $"Order {order.Id} has a negative total; a purchase cannot be negative.");
        }

        var user = new UserIds(order.CustomerId, order.CustomerEmail, order.AnonymousId);
        if (user.IsEmpty)
        {
            return new MappingInvalid(Reason.NoIdentity, $"Order {order.Id} has no customer id, e-mail or anonymous id, so mParticle could not attribute it to anyone.");
        }

        var (origin, occurredAt) = message switch
        {
            OrderImportedMessage => (OrderOrigin.Imported, order.CompletedAt ?? order.CreatedAt),
            OrderCreatedFromRecurringOrderMessage => (OrderOrigin.Recurring, order.CreatedAt),
            _ => (OrderOrigin.Created, order.CreatedAt),
        };

        var region = RegionOf(order);
        var channel = ConsentReader.ReadString(order.Custom?.Fields, options.ChannelField);
        var consent = ConsentReader.FromOrderSnapshot(order.Custom?.Fields, options.Consent, order.CreatedAt);
        var dedupeKey = EventKeys.Purchase(message.ProjectKey, order.Id);
        var context = new EventContext(
            Uuid5.ForEvent(dedupeKey), dedupeKey, occurredAt, EventSource.Commercetools, message.Id,
            storeKey, region, user, consent, channel, order.Locale);

        var purchase = new OrderCompleted(
            context, order.Id, order.OrderNumber, currency,
            MoneyMath.Normalize(total, digits),
            tax is { } t ? MoneyMath.Normalize(t, digits) : null,
            shipping is { } sh ? MoneyMath.Normalize(sh, digits) : null,
            discount is { } d ? MoneyMath.Normalize(d, digits) : null,
            products, origin);

        var payments = order.PaymentInfo?.Payments?.Select(p => p.Id).OfType<string>().ToArray() ?? [];
        var orderContext = new OrderContext(
            message.ProjectKey, order.Id, order.OrderNumber, storeKey, currency, order.Locale, user, region, channel,
            payments, lines, consent, Math.Max(0, order.Version)); // a version below 1 is unknown (0) to every store
        return new Mapped([purchase], orderContext);
    }

    /// <summary>
    /// A cart's lines mapped as a purchase's are (the same unit price, line total and names), in the cart's currency:
    /// what a storefront's <c>Checkout Started</c> carries when the relay can read the cart. Null when the cart is
    /// empty or an amount is unusable.
    /// </summary>
    public static (IReadOnlyList<ProductLine> Lines, string Currency)? CartLines(CtCart cart, string? storeLocale, MappingOptions options)
    {
        var currency = cart.TotalPrice.CurrencyCode;
        if (!MoneyMath.IsCurrencyCode(currency) || (cart.LineItems.Count == 0 && cart.CustomLineItems is not { Count: > 0 }))
        {
            return null;
        }

        var money = new MoneyReader(currency, cart.Id);
        var digits = cart.TotalPrice.FractionDigits;
        var lines = cart.LineItems.Where(l => l.Quantity is >= 1 and <= MaxQuantity)
            .Select(item => MapLineItem(item, cart.Locale, storeLocale, options, money, digits))
            .Concat((cart.CustomLineItems ?? []).Where(l => l.Quantity is >= 1 and <= MaxQuantity)
                .Select(item => MapCustomLineItem(item, cart.Locale, storeLocale, options, money, digits)))
            .ToList();
        return money.Problem is null && lines.Count > 0 ? (lines, currency) : null;
    }

    /// <summary>commercetools stores quantities as 32-bit integers; anything larger did not come from commercetools.</summary>
    public const long MaxQuantity = int.MaxValue;

    /// <summary>An order that cannot be a purchase whatever the settings: no lines, a quantity below one, a negative amount.</summary>
    public static MappingInvalid? Invalid(CtOrder order)
    {
        if (order.LineItems.Count == 0 && order.CustomLineItems is not { Count: > 0 })
        {
            return new MappingInvalid(Reason.NoLineItems, $"Order {order.Id} has no line items and no custom line items; a purchase of nothing is not forwarded.");
        }

        var lines = order.LineItems.Select(l => (Field: $"lineItems[{l.Id}]", l.Quantity, l.TotalPrice))
            .Concat((order.CustomLineItems ?? []).Select(l => (Field: $"customLineItems[{l.Id}]", l.Quantity, l.TotalPrice)));
        foreach (var (field, quantity, total) in lines)
        {
            if (quantity < 1)
            {
                return new MappingInvalid(Reason.InvalidQuantity, $"Order {order.Id}: {field}.quantity is {quantity}; a line is of at least one unit.");
            }

            if (quantity > MaxQuantity)
            {
                return new MappingInvalid(Reason.InvalidQuantity,
                    $"Order {order.Id}: {field}.quantity is {quantity}; commercetools quantities are 32-bit integers (at most {MaxQuantity:N0}).");
            }

            if (total.CentAmount < 0)
            {
                return new MappingInvalid(Reason.InvalidMoney, $"Order {order.Id}: {field}.totalPrice is negative; a line cannot cost less than nothing.");
            }
        }

        if (order.TotalPrice.CentAmount < 0)
        {
            return new MappingInvalid(Reason.InvalidMoney, $"Order {order.Id}: totalPrice is negative; a purchase cannot be negative.");
        }

        return order.TaxedPrice is { } taxed && (taxed.TotalGross.CentAmount < taxed.TotalNet.CentAmount || taxed.TotalTax?.CentAmount < 0)
            ? new MappingInvalid(Reason.InvalidMoney, $"Order {order.Id}: taxedPrice has a gross total below its net total or a negative tax; the totals contradict each other.")
            : null;
    }

    // Amounts as the shopper saw them: every line amount is in the price's own tax mode (net where the store's prices
    // exclude tax, gross where they include it), exactly as commercetools computed it; tax travels separately.
    private static ProductLine MapLineItem(CtLineItem item, string? orderLocale, string? storeLocale, MappingOptions options, MoneyReader money, int digits)
    {
        var field = $"lineItems[{item.Id}]";
        var lineTotal = money.Read(item.TotalPrice, $"{field}.totalPrice");
        var listPrice = money.Read(item.Price.Value, $"{field}.price");
        var shownPrice = item.Price.Discounted?.Value ?? item.Price.Value;
        return new ProductLine(
            Sku: item.Variant.Sku ?? item.ProductKey ?? item.ProductId,
            Name: LocalizedNames.Pick(item.Name, orderLocale, storeLocale, options.DefaultLocale),
            Variant: item.Variant.Key ?? item.Variant.Id.ToString(CultureInfo.InvariantCulture),
            Brand: ReadBrand(item.Variant.Attributes, options.BrandAttribute, orderLocale, storeLocale, options.DefaultLocale),
            Category: null,
            UnitPrice: UnitPrice(item.DiscountedPricePerQuantity, shownPrice, lineTotal, item.Quantity, money, field, digits),
            Quantity: item.Quantity,
            LineTotal: MoneyMath.Normalize(lineTotal, digits),
            ListPrice: MoneyMath.Normalize(listPrice, item.Price.Value.FractionDigits),
            ProductId: item.ProductId);
    }

    // Custom line items (fees, gift cards, services) are products too, identified by their key or slug.
    private static ProductLine MapCustomLineItem(CtCustomLineItem item, string? orderLocale, string? storeLocale, MappingOptions options, MoneyReader money, int digits)
    {
        var field = $"customLineItems[{item.Id}]";
        var lineTotal = money.Read(item.TotalPrice, $"{field}.totalPrice");
        var unitMoney = money.Read(item.Money, $"{field}.money");
        return new ProductLine(
            Sku: item.Key ?? item.Slug ?? item.Id,
            Name: LocalizedNames.Pick(item.Name, orderLocale, storeLocale, options.DefaultLocale),
            Variant: null,
            Brand: null,
            Category: "custom_line_item",
            UnitPrice: UnitPrice(item.DiscountedPricePerQuantity, item.Money, lineTotal, item.Quantity, money, field, digits),
            Quantity: item.Quantity,
            LineTotal: MoneyMath.Normalize(lineTotal, digits),
            ListPrice: MoneyMath.Normalize(unitMoney, item.Money.FractionDigits),
            ProductId: item.Id);
    }

    /// <summary>
    /// The effective unit price after product and cart discounts: the one discounted unit value when every unit has
    /// the same, else the undiscounted (or product-discounted) price when no cart discount applies, both exact (a
    /// high-precision price keeps its digits); only when units differ is it the line total over the quantity,
    /// rounded half-to-even to the currency's digits.
    /// </summary>
    private static decimal UnitPrice(
        IReadOnlyList<CtDiscountedPricePerQuantity>? slices, CtMoney price, decimal lineTotal, long quantity, MoneyReader money, string field, int digits)
    {
        if (slices is not { Count: > 0 })
        {
            return MoneyMath.Normalize(money.Read(price, $"{field}.price"), price.FractionDigits);
        }

        var first = slices[0].DiscountedPrice.Value;
        var uniform = slices.All(s => s.DiscountedPrice.Value.CentAmount == first.CentAmount && s.DiscountedPrice.Value.PreciseAmount == first.PreciseAmount
            && s.DiscountedPrice.Value.FractionDigits == first.FractionDigits) && slices.Sum(s => s.Quantity) == quantity;
        return uniform
            ? MoneyMath.Normalize(money.Read(first, $"{field}.discountedPricePerQuantity"), first.FractionDigits)
            : MoneyMath.UnitPrice(MoneyMath.Normalize(lineTotal, digits), quantity, digits);
    }

    private static decimal? ReadShipping(CtOrder order, MoneyReader money)
    {
        if (string.Equals(order.ShippingMode, "Multiple", StringComparison.Ordinal))
        {
            return order.Shipping is { Count: > 0 } shipping
                ? shipping.Sum(s => ShippingAmount(s.ShippingInfo, money))
                : null;
        }

        return order.ShippingInfo is { } info ? ShippingAmount(info, money) : null;
    }

    // Shipping as the shopper saw it, in the shipping rate's tax mode: the discounted price, else the price.
    private static decimal ShippingAmount(CtShippingInfo info, MoneyReader money) =>
        money.Read(info.DiscountedPrice?.Value ?? info.Price, "shippingInfo.price");

    private static decimal? ReadDiscount(CtOrder order, MoneyReader money)
    {
        var any = false;
        var discount = 0m;
        foreach (var slice in order.LineItems.SelectMany(l => l.DiscountedPricePerQuantity ?? [])
                     .Concat((order.CustomLineItems ?? []).SelectMany(l => l.DiscountedPricePerQuantity ?? [])))
        {
            foreach (var included in slice.DiscountedPrice.IncludedDiscounts ?? [])
            {
                discount += slice.Quantity * money.Read(included.DiscountedAmount, "discountedPricePerQuantity");
                any = true;
            }
        }

        if (order.DiscountOnTotalPrice is { } onTotal)
        {
            discount += money.Read(onTotal.DiscountedAmount, "discountOnTotalPrice");
            any = true;
        }

        return any ? discount : null;
    }

    private static string? ReadBrand(IReadOnlyList<CtAttribute>? attributes, string? brandAttribute, string? orderLocale, string? storeLocale, string defaultLocale)
    {
        if (string.IsNullOrEmpty(brandAttribute) || attributes is null)
        {
            return null;
        }

        foreach (var attribute in attributes)
        {
            if (!string.Equals(attribute.Name, brandAttribute, StringComparison.Ordinal))
            {
                continue;
            }

            var value = attribute.Value;
            return value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                // Enum: {key, label}; localized enum: {key, label: {de: ...}}.
                JsonValueKind.Object when value.TryGetProperty("label", out var label) && label.ValueKind == JsonValueKind.String => label.GetString(),
                JsonValueKind.Object when value.TryGetProperty("label", out var label) && label.ValueKind == JsonValueKind.Object =>
                    LocalizedNames.Pick(label.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String)
                        .ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal), orderLocale, storeLocale, defaultLocale),
                JsonValueKind.Object when value.TryGetProperty("key", out var key) && key.ValueKind == JsonValueKind.String => key.GetString(),
                _ => null,
            };
        }

        return null;
    }

    /// <summary>
    /// The region the order itself shows: its billing (else shipping) address, else its price-selection country. The
    /// store's and the default country are fallbacks the consent gate applies after the user's stored region.
    /// </summary>
    internal static Region? RegionOf(CtOrder order)
    {
        var address = order.BillingAddress ?? order.ShippingAddress;
        return (address is null ? null : RegionOf(address)) ?? Subdivisions.Normalize(order.Country, null);
    }

    /// <summary>An address's region, its state or region normalized to ISO 3166-2; null when the country is blank.</summary>
    internal static Region? RegionOf(CtAddress address) => Subdivisions.Normalize(address.Country, address.State ?? address.Region);

    /// <summary>Reads money in one currency; remembers the first problem instead of throwing.</summary>
    private sealed class MoneyReader(string currency, string orderId)
    {
        public (Reason Reason, string Detail)? Problem { get; private set; }

        public decimal Read(CtMoney money, string what)
        {
            if (!string.Equals(money.CurrencyCode, currency, StringComparison.Ordinal))
            {
                Problem ??= (Reason.MixedCurrencies, $"Order {orderId}: {what} is in {money.CurrencyCode} but the order total is in {currency}; an mParticle event carries one currency.");
                return 0m;
            }

            if (MoneyMath.ToDecimal(money) is not { } value)
            {
                Problem ??= (Reason.InvalidMoney, $"Order {orderId}: {what} has fractionDigits {money.FractionDigits}; expected 0 to {MoneyMath.MaxFractionDigits}.");
                return 0m;
            }

            if (!MoneyMath.IsExactInDestinations(value))
            {
                Problem ??= (Reason.InvalidMoney,
                    $"Order {orderId}: {what} is {value:E3} {currency}; amounts beyond ±{MoneyMath.MaxAmount:E0} cannot be carried exactly by mParticle, GA4 or Meta (double precision).");
                return 0m;
            }

            return value;
        }
    }
}
