using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace CtMparticle.Tool;

/// <summary>
/// <c>ctmp generate</c>: a large synthetic corpus of commercetools deliveries (NDJSON), realistic enough to load the
/// relay: orders in five currencies (0, 2 and 3 fraction digits) with consistent gross totals and taxes, guest and
/// registered customers, follow-ups (status changes, returns, refunds) of recent orders, sign-ups, profile and
/// consent changes, exact redeliveries, change notifications, untracked types and malformed bodies. Deterministic
/// for a seed; streams, so memory stays flat whatever the count.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var count = new Option<int>("--count") { Description = "How many deliveries.", DefaultValueFactory = _ => 100_000 };
        var output = new Option<FileInfo>("--out") { Description = "The NDJSON file to write.", Required = true };
        var seed = new Option<int>("--seed") { Description = "Random seed (same seed, same corpus).", DefaultValueFactory = _ => 20261127 };
        var disorder = new Option<int>("--disorder")
        {
            Description = "Deliver out of order, as a broker may: each delivery is emitted at a random point among the next N (0: in order).",
            DefaultValueFactory = _ => 0,
        };
        var command = new Command("generate", "Write a synthetic corpus of commercetools deliveries as NDJSON (for load tests).") { count, output, seed, disorder };
        command.SetAction(parse =>
        {
            var n = parse.GetValue(count);
            if (n < 1)
            {
                return Commands.Fail(ExitCodes.Usage, ["--count must be at least 1."]);
            }

            var window = parse.GetValue(disorder);
            if (window is < 0 or > 100_000)
            {
                return Commands.Fail(ExitCodes.Usage, ["--disorder must be between 0 and 100000."]);
            }

            var file = parse.GetRequiredValue(output);
            file.Directory?.Create();
            using var stream = new BufferedStream(file.Create(), 1 << 20);
            var mix = new CorpusGenerator(parse.GetValue(seed)).Write(stream, n, window);
            Console.WriteLine($"ctmp generate: {n:N0} deliveries written to {file.FullName}");
            foreach (var (kind, k) in mix.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                Console.WriteLine($"  {kind,-32} {k,10:N0}");
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}

internal sealed class CorpusGenerator(int seed)
{
    /// <param name="PricesIncludeTax">False for a US-style store: prices and totals are net and tax is added on top.</param>
    private sealed record Store(string Key, string Currency, int Digits, string Locale, string Country, string? State, decimal TaxRate, long PriceFactor, bool PricesIncludeTax = true);

    private sealed record Product(string Sku, string Key, string En, string De, string Ja, long EuroCents, string Brand);

    private sealed record RecentOrder(string Id, string Number, string PaymentId, string LineItemId, string Currency, int Digits, long LineTotal, int Sequence);

    private static readonly Store[] Stores =
    [
        new("acme-de", "EUR", 2, "de-DE", "DE", null, 0.19m, 1),
        new("acme-uk", "GBP", 2, "en-GB", "GB", null, 0.20m, 1),
        new("acme-us", "USD", 2, "en-US", "US", "CA", 0.0725m, 1, PricesIncludeTax: false),
        new("acme-jp", "JPY", 0, "ja-JP", "JP", null, 0.10m, 1),
        new("acme-kw", "KWD", 3, "ar-KW", "KW", null, 0m, 3),
    ];

    private readonly Random random = new(seed);
    private readonly Product[] products = BuildCatalog();
    private readonly RecentOrder?[] orders = new RecentOrder?[2048];
    private readonly string?[] customers = new string?[2048];
    private readonly string?[] lines = new string?[256];
    private readonly Dictionary<string, long> mix = new(StringComparer.Ordinal);
    private DateTimeOffset clock = new(2026, 11, 27, 0, 0, 0, TimeSpan.Zero);
    private int orderCount;
    private int customerCount;
    private readonly Dictionary<string, int> sequences = new(StringComparer.Ordinal);

    private static Product[] BuildCatalog()
    {
        string[] nouns = ["T-shirt", "Hoodie", "Rain jacket", "Trail socks", "Beanie", "Backpack", "Water bottle", "Fleece", "Cap", "Gloves"];
        string[] german = ["T-Shirt", "Kapuzenpulli", "Regenjacke", "Trail-Socken", "Mütze", "Rucksack", "Trinkflasche", "Fleecejacke", "Kappe", "Handschuhe"];
        string[] colours = ["Navy", "Olive", "Grey", "Red", "Black"];
        var catalog = new List<Product>();
        for (var n = 0; n < nouns.Length; n++)
        {
            for (var c = 0; c < colours.Length; c++)
            {
                var cents = 990 + (n * 1_350) + (c * 200);
                catalog.Add(new Product($"{nouns[n][..3].ToUpperInvariant()}-{colours[c][..3].ToUpperInvariant()}-{n}{c}", $"{nouns[n].ToLowerInvariant().Replace(' ', '-')}-{c}",
                    $"{colours[c]} {nouns[n]}", $"{german[n]} {colours[c]}", $"{nouns[n]}（{colours[c]}）", cents, c % 2 == 0 ? "Acme Outdoor" : "Acme Trail"));
            }
        }

        return [.. catalog];
    }

    /// <param name="disorder">0 for creation order; else each delivery leaves at a random point of a window this wide.</param>
    public Dictionary<string, long> Write(Stream output, int count, int disorder = 0)
    {
        var newline = "\n"u8.ToArray();
        var delay = new List<string>(disorder + 1);
        var shuffle = new Random(seed ^ 0x5EED);
        void Emit(string line)
        {
            output.Write(Encoding.UTF8.GetBytes(line));
            output.Write(newline);
        }

        for (var i = 0; i < count; i++)
        {
            clock = clock.AddMilliseconds(40 + random.Next(40));
            var line = Next();
            lines[i % lines.Length] = line;
            delay.Add(line);
            if (delay.Count > disorder)
            {
                var pick = shuffle.Next(delay.Count);
                Emit(delay[pick]);
                delay[pick] = delay[^1];
                delay.RemoveAt(delay.Count - 1);
            }
        }

        while (delay.Count > 0)
        {
            var pick = shuffle.Next(delay.Count);
            Emit(delay[pick]);
            delay[pick] = delay[^1];
            delay.RemoveAt(delay.Count - 1);
        }

        output.Flush();
        return mix;
    }

    /// <summary>The next sequenceNumber of a customer's messages (commercetools numbers each resource's messages from 1, +1 each).</summary>
    private int NextSequence(string customer) => sequences[customer] = sequences.GetValueOrDefault(customer) + 1;

    private string Next()
    {
        var roll = random.Next(1000);
        return roll switch
        {
            < 300 => Count("OrderCreated", OrderCreated()),
            < 380 => Follow("OrderStateChanged", StateChanged),
            < 420 => Follow("OrderShipmentStateChanged", ShipmentChanged),
            < 470 => Follow("ReturnInfoAdded", ReturnAdded),
            < 520 => Follow("PaymentTransactionAdded", RefundAdded),
            < 640 => Count("CustomerCreated", CustomerCreated()),
            < 700 => FollowCustomer("CustomerEmailChanged", EmailChanged),
            < 730 => FollowCustomer("CustomerFirstNameSet", FirstNameSet),
            < 830 => FollowCustomer("CustomerCustomFieldChanged", ConsentChanged),
            < 870 => Count("redelivery", lines[random.Next(lines.Length)] ?? OrderCreated()),
            < 890 => Count("ResourceUpdated (cart)", CartChange()),
            < 910 => Count("ProductPublished (untracked)", Untracked()),
            < 915 => Count("payloadNotIncluded", PayloadNotIncluded()),
            < 925 => Count("malformed", Malformed()),
            < 927 => Count("subscription test", TestNotification()),
            _ => Count("OrderCreated", OrderCreated()),
        };
    }

    private string Count(string kind, string line)
    {
        mix[kind] = mix.GetValueOrDefault(kind) + 1;
        return line;
    }

    private string Follow(string kind, Func<RecentOrder, string> make) =>
        orderCount == 0 ? Count("OrderCreated", OrderCreated()) : Count(kind, make(orders[random.Next(Math.Min(orderCount, orders.Length))]!));

    private string FollowCustomer(string kind, Func<string, string> make) =>
        customerCount == 0 ? Count("CustomerCreated", CustomerCreated()) : Count(kind, make(customers[random.Next(Math.Min(customerCount, customers.Length))]!));

    private string Id() => new Guid(random.GetItems<byte>(Enumerable.Range(0, 256).Select(b => (byte)b).ToArray(), 16)).ToString("D");

    private string Now => clock.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static void Money(Utf8JsonWriter w, string name, string currency, long cents, int digits)
    {
        w.WriteStartObject(name);
        w.WriteString("type", "centPrecision");
        w.WriteString("currencyCode", currency);
        w.WriteNumber("centAmount", cents);
        w.WriteNumber("fractionDigits", digits);
        w.WriteEndObject();
    }

    private static void Taxed(Utf8JsonWriter w, string name, string currency, long gross, long tax, int digits)
    {
        w.WriteStartObject(name);
        Money(w, "totalNet", currency, gross - tax, digits);
        Money(w, "totalGross", currency, gross, digits);
        Money(w, "totalTax", currency, tax, digits);
        w.WriteEndObject();
    }

    private static long TaxOf(long gross, decimal rate) =>
        rate == 0 ? 0 : (long)Math.Round(gross * rate / (1 + rate), MidpointRounding.ToEven);

    /// <summary>The tax on an amount as the store shows it: contained in a gross amount, or added to a net one.</summary>
    private static long TaxOn(long shown, Store store) =>
        store.PricesIncludeTax ? TaxOf(shown, store.TaxRate) : (long)Math.Round(shown * store.TaxRate, MidpointRounding.ToEven);

    /// <summary>The taxed price of an amount as the store shows it (net where its prices exclude tax).</summary>
    private static void TaxedShown(Utf8JsonWriter w, string name, Store store, long shown, long tax) =>
        Taxed(w, name, store.Currency, store.PricesIncludeTax ? shown : shown + tax, tax, store.Digits);

    private string Envelope(string type, string resourceType, string resourceId, int sequence, Action<Utf8JsonWriter> body, string? id = null)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("notificationType", "Message");
            w.WriteString("projectKey", "acme-commerce-prod");
            w.WriteString("id", id ?? Id());
            w.WriteNumber("version", 1);
            w.WriteNumber("sequenceNumber", sequence);
            w.WriteStartObject("resource");
            w.WriteString("typeId", resourceType);
            w.WriteString("id", resourceId);
            w.WriteEndObject();
            w.WriteNumber("resourceVersion", sequence);
            w.WriteString("type", type);
            body(w);
            w.WriteString("createdAt", Now);
            w.WriteString("lastModifiedAt", Now);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private string OrderCreated()
    {
        var store = Stores[random.Next(Stores.Length)];
        var orderId = Id();
        var number = $"{store.Key[5..].ToUpperInvariant()}-{300000 + orderCount}";
        var paymentId = Id();
        var registered = random.Next(10) < 7;
        var customerId = registered && customerCount > 0 ? customers[random.Next(Math.Min(customerCount, customers.Length))] : registered ? Id() : null;
        var lineCount = 1 + random.Next(4);
        var chosen = Enumerable.Range(0, lineCount).Select(_ => products[random.Next(products.Length)]).ToArray();
        var lineIds = chosen.Select(_ => Id()).ToArray();
        var scale = store.Digits switch { 0 => 1m, 3 => 10m, _ => 1m };
        var unitPrices = chosen.Select(p => (long)(p.EuroCents * store.PriceFactor * scale * (store.Digits == 0 ? 1.6m : 1m))).ToArray();
        var quantities = chosen.Select(_ => 1L + random.Next(3)).ToArray();
        var discountPercent = random.Next(5) == 0 ? 10 : 0;
        var lineTotals = unitPrices.Select((u, i) => (u * quantities[i]) - ((u * quantities[i]) * discountPercent / 100)).ToArray();
        var shipping = random.Next(3) == 0 ? 0 : store.Digits switch { 0 => 800L, 3 => 1_500L, _ => 495L };
        var total = lineTotals.Sum() + shipping;
        var consentGiven = random.Next(100) < 85;

        var line = Envelope("OrderCreated", "order", orderId, 1, w =>
        {
            w.WriteStartObject("order");
            w.WriteString("id", orderId);
            w.WriteNumber("version", 1);
            w.WriteString("orderNumber", number);
            if (customerId is not null)
            {
                w.WriteString("customerId", customerId);
            }
            else
            {
                w.WriteString("anonymousId", Id());
            }

            w.WriteString("customerEmail", $"shopper{random.Next(1_000_000)}@example.com");
            w.WriteStartObject("store");
            w.WriteString("typeId", "store");
            w.WriteString("key", store.Key);
            w.WriteEndObject();
            w.WriteStartArray("lineItems");
            for (var i = 0; i < chosen.Length; i++)
            {
                var p = chosen[i];
                w.WriteStartObject();
                w.WriteString("id", lineIds[i]);
                w.WriteString("productId", Id());
                w.WriteString("productKey", p.Key);
                w.WriteStartObject("name");
                w.WriteString("en", p.En);
                w.WriteString("de-DE", p.De);
                w.WriteString("ja-JP", p.Ja);
                w.WriteEndObject();
                w.WriteStartObject("variant");
                w.WriteNumber("id", 1);
                w.WriteString("sku", p.Sku);
                w.WriteString("key", p.Key + "-v1");
                w.WriteStartArray("attributes");
                w.WriteStartObject();
                w.WriteString("name", "brand");
                w.WriteString("value", p.Brand);
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteStartObject("price");
                w.WriteString("id", Id());
                Money(w, "value", store.Currency, unitPrices[i], store.Digits);
                w.WriteEndObject();
                w.WriteNumber("quantity", quantities[i]);
                Money(w, "totalPrice", store.Currency, lineTotals[i], store.Digits);
                TaxedShown(w, "taxedPrice", store, lineTotals[i], TaxOn(lineTotals[i], store));
                w.WriteStartObject("taxRate");
                w.WriteBoolean("includedInPrice", store.PricesIncludeTax);
                w.WriteNumber("amount", store.TaxRate);
                w.WriteEndObject();
                w.WriteString("lineItemMode", "Standard");
                w.WriteEndObject();
            }

            w.WriteEndArray();
            Money(w, "totalPrice", store.Currency, total, store.Digits);
            TaxedShown(w, "taxedPrice", store, total, lineTotals.Sum(t => TaxOn(t, store)) + TaxOn(shipping, store));
            w.WriteString("shippingMode", "Single");
            w.WriteStartObject("shippingInfo");
            w.WriteString("shippingMethodName", "Standard");
            Money(w, "price", store.Currency, shipping, store.Digits);
            TaxedShown(w, "taxedPrice", store, shipping, TaxOn(shipping, store));
            w.WriteEndObject();
            foreach (var address in new[] { "billingAddress", "shippingAddress" })
            {
                w.WriteStartObject(address);
                w.WriteString("country", store.Country);
                if (store.State is not null)
                {
                    w.WriteString("state", store.State);
                }

                w.WriteEndObject();
            }

            w.WriteString("locale", store.Locale);
            w.WriteString("origin", "Customer");
            w.WriteString("orderState", "Open");
            w.WriteStartObject("paymentInfo");
            w.WriteStartArray("payments");
            w.WriteStartObject();
            w.WriteString("typeId", "payment");
            w.WriteString("id", paymentId);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("custom");
            w.WriteStartObject("type");
            w.WriteString("typeId", "type");
            w.WriteString("id", "order-type");
            w.WriteEndObject();
            w.WriteStartObject("fields");
            w.WriteString("channel", random.Next(3) == 0 ? "app" : "web");
            w.WriteString("checkoutConsentSnapshot", consentGiven ? "{\"analytics\":true,\"marketingEmail\":true}" : "{\"analytics\":false}");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteString("createdAt", Now);
            w.WriteEndObject();
        });

        orders[orderCount++ % orders.Length] = new RecentOrder(orderId, number, paymentId, lineIds[0], store.Currency, store.Digits, lineTotals[0], 1);
        return line;
    }

    private string StateChanged(RecentOrder order) => Envelope("OrderStateChanged", "order", order.Id, 2 + random.Next(5), w =>
    {
        w.WriteString("orderState", random.Next(4) == 0 ? "Cancelled" : "Complete");
        w.WriteString("oldOrderState", "Open");
    });

    private string ShipmentChanged(RecentOrder order) => Envelope("OrderShipmentStateChanged", "order", order.Id, 2 + random.Next(5), w =>
    {
        w.WriteString("shipmentState", "Shipped");
        w.WriteString("oldShipmentState", "Pending");
    });

    private string ReturnAdded(RecentOrder order) => Envelope("ReturnInfoAdded", "order", order.Id, 3 + random.Next(5), w =>
    {
        w.WriteStartObject("returnInfo");
        w.WriteStartArray("items");
        w.WriteStartObject();
        w.WriteString("type", "LineItemReturnItem");
        w.WriteString("id", Id());
        w.WriteNumber("quantity", 1);
        w.WriteString("lineItemId", order.LineItemId);
        w.WriteString("shipmentState", "Returned");
        w.WriteString("paymentState", "Initial");
        w.WriteString("createdAt", Now);
        w.WriteString("lastModifiedAt", Now);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    });

    private string RefundAdded(RecentOrder order) => Envelope("PaymentTransactionAdded", "payment", order.PaymentId, 2 + random.Next(5), w =>
    {
        w.WriteStartObject("transaction");
        w.WriteString("id", Id());
        w.WriteString("timestamp", Now);
        w.WriteString("type", random.Next(5) == 0 ? "Charge" : "Refund");
        Money(w, "amount", order.Currency, Math.Max(1, order.LineTotal / 2), order.Digits);
        w.WriteString("state", random.Next(6) == 0 ? "Pending" : "Success");
        w.WriteEndObject();
    });

    private string CustomerCreated()
    {
        var store = Stores[random.Next(Stores.Length)];
        var id = Id();
        customers[customerCount++ % customers.Length] = id;
        var analytics = random.Next(100) < 80;
        return Envelope("CustomerCreated", "customer", id, NextSequence(id), w =>
        {
            w.WriteStartObject("customer");
            w.WriteString("id", id);
            w.WriteNumber("version", 1);
            w.WriteString("email", $"customer{random.Next(10_000_000)}@example.com");
            w.WriteString("firstName", "Alex");
            w.WriteString("lastName", "Example");
            w.WriteStartArray("addresses");
            w.WriteStartObject();
            w.WriteString("id", "a1");
            w.WriteString("country", store.Country);
            if (store.State is not null)
            {
                w.WriteString("state", store.State);
            }

            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteString("defaultBillingAddressId", "a1");
            w.WriteBoolean("isEmailVerified", false);
            w.WriteStartArray("stores");
            w.WriteStartObject();
            w.WriteString("typeId", "store");
            w.WriteString("key", store.Key);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteString("locale", store.Locale);
            w.WriteStartObject("custom");
            w.WriteStartObject("type");
            w.WriteString("typeId", "type");
            w.WriteString("id", "customer-consent-v1");
            w.WriteEndObject();
            w.WriteStartObject("fields");
            w.WriteBoolean("consentAnalytics", analytics);
            w.WriteBoolean("consentMarketingEmail", random.Next(2) == 0);
            w.WriteString("consentUpdatedAt", Now);
            w.WriteString("consentPolicyVersion", "2026-01");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteString("createdAt", Now);
            w.WriteEndObject();
        });
    }

    private string EmailChanged(string customer) => Envelope("CustomerEmailChanged", "customer", customer, NextSequence(customer), w =>
    {
        w.WriteString("email", $"changed{random.Next(10_000_000)}@example.org");
        w.WriteString("oldEmail", "old@example.com");
    });

    private string FirstNameSet(string customer) => Envelope("CustomerFirstNameSet", "customer", customer, NextSequence(customer), w => w.WriteString("firstName", "Sam"));

    private string ConsentChanged(string customer) => Envelope("CustomerCustomFieldChanged", "customer", customer, NextSequence(customer), w =>
    {
        var value = random.Next(3) != 0;
        w.WriteString("name", random.Next(2) == 0 ? "consentAnalytics" : "consentMarketingEmail");
        w.WriteBoolean("value", value);
        w.WriteBoolean("previousValue", !value);
    });

    private string CartChange() =>
        $$"""{"notificationType":"ResourceUpdated","projectKey":"acme-commerce-prod","resource":{"typeId":"cart","id":"{{Id()}}"},"version":{{2 + random.Next(20)}},"oldVersion":1,"modifiedAt":"{{Now}}"}""";

    private string TestNotification() =>
        $$"""{"notificationType":"ResourceCreated","projectKey":"acme-commerce-prod","resource":{"typeId":"subscription","id":"{{Id()}}"},"version":1,"modifiedAt":"{{Now}}"}""";

    private string Untracked() => Envelope("ProductPublished", "product", Id(), 3, w => w.WriteString("scope", "All"));

    private string PayloadNotIncluded() =>
        $$$"""{"notificationType":"Message","projectKey":"acme-commerce-prod","id":"{{{Id()}}}","version":1,"sequenceNumber":1,"resource":{"typeId":"order","id":"{{{Id()}}}"},"resourceVersion":1,"createdAt":"{{{Now}}}","lastModifiedAt":"{{{Now}}}","payloadNotIncluded":{"reason":"Payload too large.","payloadType":"OrderCreated"}}""";

    private string Malformed()
    {
        var whole = OrderCreated();
        return whole[..(whole.Length / 3)];
    }
}
