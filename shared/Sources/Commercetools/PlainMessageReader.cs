using System.Text.Json;

namespace CtMparticle.Sources.Commercetools;

/// <summary>
/// A hand-written reader of the commercetools messages the relay decodes, for the plain case only: every member
/// of the JSON type the model declares, no member twice, no escaped member name, every required member present and
/// not null. It gives up (returns null) on anything else, and the caller then decodes with System.Text.Json's
/// generated context, which refuses or accepts it and words the problem exactly as before. Where it does not give up
/// it builds what that context builds (<c>PlainMessageReaderTests</c> compares the two on every sample, on generated
/// deliveries and on thousands of mutations of them): the context's metadata-driven reading was the largest single
/// cost of a relay run (about a tenth of its CPU, docs/performance.md, "an eighteenth session").
/// </summary>
/// <remarks>
/// The rules it keeps, as the context is configured (<see cref="CommercetoolsJsonContext"/>): names are camelCase and
/// matched case-sensitively; unknown members are skipped (even twice); numbers are JSON numbers (no strings, no
/// fraction or exponent for an integer); a nullable member may be null, a value type or a non-nullable reference may
/// not; dates are read as the context reads them (<see cref="Utf8JsonReader.TryGetDateTimeOffset"/>); a
/// <see cref="JsonElement"/> member takes any value, null included. Adding a member to a model means adding it here:
/// the comparison test fills every settable member of every model and fails for one this reader does not read.
/// </remarks>
internal static class PlainMessageReader
{
    private const int Unknown = -1;

    /// <summary>Reads one model's member named <paramref name="name"/> from the value the reader is on: its bit, or <see cref="Unknown"/>.</summary>
    private delegate int Member<in T>(ReadOnlySpan<byte> name, ref Utf8JsonReader reader, T target, ref bool ok);

    /// <summary>How to build and fill one model: its members and which of them must be present.</summary>
    private sealed class Shape<T>(Func<T> create, Member<T> member, ulong required)
        where T : class
    {
        public T Create() => create();

        public int Read(ReadOnlySpan<byte> name, ref Utf8JsonReader reader, T target, ref bool ok) => member(name, ref reader, target, ref ok);

        public ulong Required { get; } = required;
    }

    /// <summary>The message the JSON holds, or null when it is not plain (decode it with the generated context).</summary>
    private static T? Read<T>(ReadOnlySpan<byte> json, Shape<T> shape)
        where T : CtMessage
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            var ok = reader.Read();
            var message = Required(ref reader, shape, ref ok);
            return ok ? message : null;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            return null; // the caller's decode reports it (the envelope's pass has already read this JSON whole)
        }
    }

    public static CtMessage? OrderCreated(ReadOnlySpan<byte> json) => Read(json, OrderCreatedShape);

    public static CtMessage? OrderImported(ReadOnlySpan<byte> json) => Read(json, OrderImportedShape);

    public static CtMessage? OrderCreatedFromRecurringOrder(ReadOnlySpan<byte> json) => Read(json, OrderCreatedFromRecurringOrderShape);

    public static CtMessage? OrderStateChanged(ReadOnlySpan<byte> json) => Read(json, OrderStateChangedShape);

    public static CtMessage? OrderShipmentStateChanged(ReadOnlySpan<byte> json) => Read(json, OrderShipmentStateChangedShape);

    public static CtMessage? OrderPaymentStateChanged(ReadOnlySpan<byte> json) => Read(json, OrderPaymentStateChangedShape);

    public static CtMessage? OrderCustomerSet(ReadOnlySpan<byte> json) => Read(json, OrderCustomerSetShape);

    public static CtMessage? ReturnInfoAdded(ReadOnlySpan<byte> json) => Read(json, ReturnInfoAddedShape);

    public static CtMessage? ReturnInfoSet(ReadOnlySpan<byte> json) => Read(json, ReturnInfoSetShape);

    public static CtMessage? PaymentTransactionAdded(ReadOnlySpan<byte> json) => Read(json, PaymentTransactionAddedShape);

    public static CtMessage? PaymentTransactionStateChanged(ReadOnlySpan<byte> json) => Read(json, PaymentTransactionStateChangedShape);

    public static CtMessage? CustomerCreated(ReadOnlySpan<byte> json) => Read(json, CustomerCreatedShape);

    public static CtMessage? CustomerEmailChanged(ReadOnlySpan<byte> json) => Read(json, CustomerEmailChangedShape);

    public static CtMessage? CustomerEmailVerified(ReadOnlySpan<byte> json) => Read(json, CustomerEmailVerifiedShape);

    public static CtMessage? CustomerDeleted(ReadOnlySpan<byte> json) => Read(json, CustomerDeletedShape);

    public static CtMessage? CustomerGroupSet(ReadOnlySpan<byte> json) => Read(json, CustomerGroupSetShape);

    public static CtMessage? CustomerFirstNameSet(ReadOnlySpan<byte> json) => Read(json, CustomerFirstNameSetShape);

    public static CtMessage? CustomerLastNameSet(ReadOnlySpan<byte> json) => Read(json, CustomerLastNameSetShape);

    public static CtMessage? CustomerCustomFieldAdded(ReadOnlySpan<byte> json) => Read(json, CustomerCustomFieldAddedShape);

    public static CtMessage? CustomerCustomFieldChanged(ReadOnlySpan<byte> json) => Read(json, CustomerCustomFieldChangedShape);

    public static CtMessage? CustomerCustomFieldRemoved(ReadOnlySpan<byte> json) => Read(json, CustomerCustomFieldRemovedShape);

    public static CtMessage? CustomerCustomTypeSet(ReadOnlySpan<byte> json) => Read(json, CustomerCustomTypeSetShape);

    public static CtMessage? CustomerCustomTypeRemoved(ReadOnlySpan<byte> json) => Read(json, CustomerCustomTypeRemovedShape);

    // ---- The object loop and the values ----

    /// <summary>
    /// Fills a new <typeparamref name="T"/> from the object the reader is on; null (and <paramref name="ok"/> still
    /// true) for JSON null. Gives up on an escaped or repeated member name and on a required member missing.
    /// </summary>
    private static T? Object<T>(ref Utf8JsonReader reader, Shape<T> shape, ref bool ok)
        where T : class
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            ok = false;
            return null;
        }

        var target = shape.Create();
        var seen = 0UL;
        while (ok && reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                ok = (seen & shape.Required) == shape.Required;
                return target;
            }

            if (reader.ValueIsEscaped)
            {
                break;
            }

            var name = reader.ValueSpan;
            reader.Read();
            var bit = shape.Read(name, ref reader, target, ref ok);
            if (bit == Unknown)
            {
                reader.Skip();
            }
            else if ((seen & (1UL << bit)) != 0)
            {
                break;
            }
            else
            {
                seen |= 1UL << bit;
            }
        }

        ok = false;
        return null;
    }

    /// <summary>A member that must not be null (a non-nullable reference).</summary>
    private static T Required<T>(ref Utf8JsonReader reader, Shape<T> shape, ref bool ok)
        where T : class
    {
        var value = Object(ref reader, shape, ref ok);
        ok &= value is not null;
        return value!;
    }

    private static List<T>? List<T>(ref Utf8JsonReader reader, Shape<T> shape, ref bool ok)
        where T : class
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            ok = false;
            return null;
        }

        var list = new List<T>();
        while (ok && reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            list.Add(Required(ref reader, shape, ref ok));
        }

        return list;
    }

    private static List<T> RequiredList<T>(ref Utf8JsonReader reader, Shape<T> shape, ref bool ok)
        where T : class
    {
        var value = List(ref reader, shape, ref ok);
        ok &= value is not null;
        return value!;
    }

    private static string? String(ref Utf8JsonReader reader, ref bool ok)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return reader.GetString();
            case JsonTokenType.Null:
                return null;
            default:
                ok = false;
                return null;
        }
    }

    private static string RequiredString(ref Utf8JsonReader reader, ref bool ok)
    {
        var value = String(ref reader, ref ok);
        ok &= value is not null;
        return value!;
    }

    private static long Int64(ref Utf8JsonReader reader, ref bool ok)
    {
        var value = 0L;
        ok &= reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out value);
        return value;
    }

    private static long? NullableInt64(ref Utf8JsonReader reader, ref bool ok) =>
        reader.TokenType == JsonTokenType.Null ? null : Int64(ref reader, ref ok);

    private static int Int32(ref Utf8JsonReader reader, ref bool ok)
    {
        var value = 0;
        ok &= reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out value);
        return value;
    }

    private static bool Boolean(ref Utf8JsonReader reader, ref bool ok)
    {
        ok &= reader.TokenType is JsonTokenType.True or JsonTokenType.False;
        return reader.TokenType == JsonTokenType.True;
    }

    private static bool? NullableBoolean(ref Utf8JsonReader reader, ref bool ok) =>
        reader.TokenType == JsonTokenType.Null ? null : Boolean(ref reader, ref ok);

    private static DateTimeOffset Date(ref Utf8JsonReader reader, ref bool ok)
    {
        var value = default(DateTimeOffset);
        ok &= reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out value);
        return value;
    }

    private static DateTimeOffset? NullableDate(ref Utf8JsonReader reader, ref bool ok) =>
        reader.TokenType == JsonTokenType.Null ? null : Date(ref reader, ref ok);

    /// <summary>
    /// Any JSON value, as the context reads a <see cref="JsonElement"/> member: it refuses a name repeated in any
    /// object inside the value, so a value with one is left to it (and one with an escaped name, or with two names of
    /// the same hash, which may not repeat but are left to the context all the same).
    /// </summary>
    private static JsonElement Element(ref Utf8JsonReader reader, ref bool ok)
    {
        if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            ok &= NoNameRepeated(reader);
        }

        return JsonElement.ParseValue(ref reader);
    }

    private static JsonElement? NullableElement(ref Utf8JsonReader reader, ref bool ok) =>
        reader.TokenType == JsonTokenType.Null ? null : Element(ref reader, ref ok);

    [ThreadStatic]
    private static List<(int Depth, ulong Hash)>? openNames;

    /// <summary>Reads a copy of the reader through the value: no object in it has a name twice (compared by hash).</summary>
    private static bool NoNameRepeated(Utf8JsonReader reader)
    {
        // The names read so far of each object still open, innermost last; a name's depth is its object's depth + 1.
        var names = openNames ??= [];
        names.Clear();
        var depth = reader.CurrentDepth;
        while (reader.Read() && reader.CurrentDepth > depth)
        {
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                while (names.Count > 0 && names[^1].Depth > reader.CurrentDepth)
                {
                    names.RemoveAt(names.Count - 1);
                }
            }
            else if (reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueIsEscaped)
                {
                    return false;
                }

                var hash = Fnv1a(reader.ValueSpan);
                for (var i = names.Count - 1; i >= 0 && names[i].Depth == reader.CurrentDepth; i--)
                {
                    if (names[i].Hash == hash)
                    {
                        return false;
                    }
                }

                names.Add((reader.CurrentDepth, hash));
            }
        }

        return true;
    }

    private static ulong Fnv1a(ReadOnlySpan<byte> bytes)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in bytes)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }

    /// <summary>A localized string (<c>{"en": "..."}</c>): gives up on a repeated key and on a value that is not a string.</summary>
    private static Dictionary<string, string>? Strings(ref Utf8JsonReader reader, ref bool ok)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        ok &= reader.TokenType == JsonTokenType.StartObject;
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        while (ok && reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var key = reader.GetString()!; // a key is compared unescaped, as the context compares it
            reader.Read();
            ok &= reader.TokenType == JsonTokenType.String && map.TryAdd(key, reader.GetString()!);
        }

        return ok ? map : null;
    }

    private static Dictionary<string, string> RequiredStrings(ref Utf8JsonReader reader, ref bool ok)
    {
        var value = Strings(ref reader, ref ok);
        ok &= value is not null;
        return value!;
    }

    /// <summary>Custom fields and user-provided identifiers: any JSON value per key; gives up on a repeated key.</summary>
    private static Dictionary<string, JsonElement>? Elements(ref Utf8JsonReader reader, ref bool ok)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        ok &= reader.TokenType == JsonTokenType.StartObject;
        var map = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        while (ok && reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var key = reader.GetString()!;
            reader.Read();
            ok &= map.TryAdd(key, Element(ref reader, ref ok));
        }

        return ok ? map : null;
    }

    private static bool Is(ReadOnlySpan<byte> name, ReadOnlySpan<byte> member) => name.SequenceEqual(member);

    // ---- The resources ----

    private static readonly Shape<CtReference> ReferenceShape = new(() => new CtReference(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtReference t, ref bool ok) =>
    {
        if (Is(n, "typeId"u8)) { t.TypeId = RequiredString(ref r, ref ok); return 0; }
        if (Is(n, "id"u8)) { t.Id = String(ref r, ref ok); return 1; }
        if (Is(n, "key"u8)) { t.Key = String(ref r, ref ok); return 2; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<CtMoney> MoneyShape = new(() => new CtMoney(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtMoney t, ref bool ok) =>
    {
        if (Is(n, "type"u8)) { t.Type = String(ref r, ref ok); return 0; }
        if (Is(n, "currencyCode"u8)) { t.CurrencyCode = RequiredString(ref r, ref ok); return 1; }
        if (Is(n, "centAmount"u8)) { t.CentAmount = Int64(ref r, ref ok); return 2; }
        if (Is(n, "fractionDigits"u8)) { t.FractionDigits = Int32(ref r, ref ok); return 3; }
        if (Is(n, "preciseAmount"u8)) { t.PreciseAmount = NullableInt64(ref r, ref ok); return 4; }
        return Unknown;
    }, 0b1110);

    private static readonly Shape<CtTaxedPrice> TaxedPriceShape = new(() => new CtTaxedPrice(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtTaxedPrice t, ref bool ok) =>
    {
        if (Is(n, "totalNet"u8)) { t.TotalNet = Required(ref r, MoneyShape, ref ok); return 0; }
        if (Is(n, "totalGross"u8)) { t.TotalGross = Required(ref r, MoneyShape, ref ok); return 1; }
        if (Is(n, "totalTax"u8)) { t.TotalTax = Object(ref r, MoneyShape, ref ok); return 2; }
        return Unknown;
    }, 0b11);

    private static readonly Shape<CtTaxRate> TaxRateShape = new(() => new CtTaxRate(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtTaxRate t, ref bool ok) =>
    {
        if (Is(n, "includedInPrice"u8)) { t.IncludedInPrice = Boolean(ref r, ref ok); return 0; }
        return Unknown;
    }, 0);

    private static readonly Shape<CtDiscountedPrice> DiscountedPriceShape = new(() => new CtDiscountedPrice(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtDiscountedPrice t, ref bool ok) =>
    {
        if (Is(n, "value"u8)) { t.Value = Required(ref r, MoneyShape, ref ok); return 0; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<CtPrice> PriceShape = new(() => new CtPrice(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtPrice t, ref bool ok) =>
    {
        if (Is(n, "id"u8)) { t.Id = String(ref r, ref ok); return 0; }
        if (Is(n, "value"u8)) { t.Value = Required(ref r, MoneyShape, ref ok); return 1; }
        if (Is(n, "discounted"u8)) { t.Discounted = Object(ref r, DiscountedPriceShape, ref ok); return 2; }
        return Unknown;
    }, 0b10);

    private static readonly Shape<CtIncludedDiscount> IncludedDiscountShape = new(() => new CtIncludedDiscount(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtIncludedDiscount t, ref bool ok) =>
    {
        if (Is(n, "discount"u8)) { t.Discount = Object(ref r, ReferenceShape, ref ok); return 0; }
        if (Is(n, "discountedAmount"u8)) { t.DiscountedAmount = Required(ref r, MoneyShape, ref ok); return 1; }
        return Unknown;
    }, 0b10);

    private static readonly Shape<CtDiscountedLineItemPrice> DiscountedLineItemPriceShape = new(() => new CtDiscountedLineItemPrice(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtDiscountedLineItemPrice t, ref bool ok) =>
    {
        if (Is(n, "value"u8)) { t.Value = Required(ref r, MoneyShape, ref ok); return 0; }
        if (Is(n, "includedDiscounts"u8)) { t.IncludedDiscounts = List(ref r, IncludedDiscountShape, ref ok); return 1; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<CtDiscountedPricePerQuantity> DiscountedPricePerQuantityShape = new(() => new CtDiscountedPricePerQuantity(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtDiscountedPricePerQuantity t, ref bool ok) =>
    {
        if (Is(n, "quantity"u8)) { t.Quantity = Int64(ref r, ref ok); return 0; }
        if (Is(n, "discountedPrice"u8)) { t.DiscountedPrice = Required(ref r, DiscountedLineItemPriceShape, ref ok); return 1; }
        return Unknown;
    }, 0b11);

    private static readonly Shape<CtAttribute> AttributeShape = new(() => new CtAttribute(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtAttribute t, ref bool ok) =>
    {
        if (Is(n, "name"u8)) { t.Name = RequiredString(ref r, ref ok); return 0; }
        if (Is(n, "value"u8)) { t.Value = Element(ref r, ref ok); return 1; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<CtProductVariant> ProductVariantShape = new(() => new CtProductVariant(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtProductVariant t, ref bool ok) =>
    {
        if (Is(n, "id"u8)) { t.Id = Int32(ref r, ref ok); return 0; }
        if (Is(n, "sku"u8)) { t.Sku = String(ref r, ref ok); return 1; }
        if (Is(n, "key"u8)) { t.Key = String(ref r, ref ok); return 2; }
        if (Is(n, "attributes"u8)) { t.Attributes = List(ref r, AttributeShape, ref ok); return 3; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<CtLineItem> LineItemShape = new(() => new CtLineItem(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtLineItem t, ref bool ok) =>
    {
        if (Is(n, "id"u8)) { t.Id = RequiredString(ref r, ref ok); return 0; }
        if (Is(n, "key"u8)) { t.Key = String(ref r, ref ok); return 1; }
        if (Is(n, "productId"u8)) { t.ProductId = RequiredString(ref r, ref ok); return 2; }
        if (Is(n, "productKey"u8)) { t.ProductKey = String(ref r, ref ok); return 3; }
        if (Is(n, "name"u8)) { t.Name = RequiredStrings(ref r, ref ok); return 4; }
        if (Is(n, "variant"u8)) { t.Variant = Required(ref r, ProductVariantShape, ref ok); return 5; }
        if (Is(n, "price"u8)) { t.Price = Required(ref r, PriceShape, ref ok); return 6; }
        if (Is(n, "quantity"u8)) { t.Quantity = Int64(ref r, ref ok); return 7; }
        if (Is(n, "discountedPricePerQuantity"u8)) { t.DiscountedPricePerQuantity = List(ref r, DiscountedPricePerQuantityShape, ref ok); return 8; }
        if (Is(n, "totalPrice"u8)) { t.TotalPrice = Required(ref r, MoneyShape, ref ok); return 9; }
        if (Is(n, "taxedPrice"u8)) { t.TaxedPrice = Object(ref r, TaxedPriceShape, ref ok); return 10; }
        if (Is(n, "taxRate"u8)) { t.TaxRate = Object(ref r, TaxRateShape, ref ok); return 11; }
        if (Is(n, "lineItemMode"u8)) { t.LineItemMode = String(ref r, ref ok); return 12; }
        return Unknown;
    }, 0b1011110101);

    private static readonly Shape<CtCustomLineItem> CustomLineItemShape = new(() => new CtCustomLineItem(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtCustomLineItem t, ref bool ok) =>
    {
        if (Is(n, "id"u8)) { t.Id = RequiredString(ref r, ref ok); return 0; }
        if (Is(n, "key"u8)) { t.Key = String(ref r, ref ok); return 1; }
        if (Is(n, "name"u8)) { t.Name = RequiredStrings(ref r, ref ok); return 2; }
        if (Is(n, "money"u8)) { t.Money = Required(ref r, MoneyShape, ref ok); return 3; }
        if (Is(n, "totalPrice"u8)) { t.TotalPrice = Required(ref r, MoneyShape, ref ok); return 4; }
        if (Is(n, "slug"u8)) { t.Slug = String(ref r, ref ok); return 5; }
        if (Is(n, "quantity"u8)) { t.Quantity = Int64(ref r, ref ok); return 6; }
        if (Is(n, "discountedPricePerQuantity"u8)) { t.DiscountedPricePerQuantity = List(ref r, DiscountedPricePerQuantityShape, ref ok); return 7; }
        if (Is(n, "taxedPrice"u8)) { t.TaxedPrice = Object(ref r, TaxedPriceShape, ref ok); return 8; }
        return Unknown;
    }, 0b1011101);

    private static readonly Shape<CtShippingInfo> ShippingInfoShape = new(() => new CtShippingInfo(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtShippingInfo t, ref bool ok) =>
    {
        if (Is(n, "shippingMethodName"u8)) { t.ShippingMethodName = String(ref r, ref ok); return 0; }
        if (Is(n, "price"u8)) { t.Price = Required(ref r, MoneyShape, ref ok); return 1; }
        if (Is(n, "discountedPrice"u8)) { t.DiscountedPrice = Object(ref r, DiscountedPriceShape, ref ok); return 2; }
        if (Is(n, "taxedPrice"u8)) { t.TaxedPrice = Object(ref r, TaxedPriceShape, ref ok); return 3; }
        return Unknown;
    }, 0b10);

    private static readonly Shape<CtShipping> ShippingShape = new(() => new CtShipping(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtShipping t, ref bool ok) =>
    {
        if (Is(n, "shippingKey"u8)) { t.ShippingKey = String(ref r, ref ok); return 0; }
        if (Is(n, "shippingInfo"u8)) { t.ShippingInfo = Required(ref r, ShippingInfoShape, ref ok); return 1; }
        return Unknown;
    }, 0b10);

    private static readonly Shape<CtDiscountOnTotalPrice> DiscountOnTotalPriceShape = new(() => new CtDiscountOnTotalPrice(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtDiscountOnTotalPrice t, ref bool ok) =>
    {
        if (Is(n, "discountedAmount"u8)) { t.DiscountedAmount = Required(ref r, MoneyShape, ref ok); return 0; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<CtAddress> AddressShape = new(() => new CtAddress(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtAddress t, ref bool ok) =>
    {
        if (Is(n, "id"u8)) { t.Id = String(ref r, ref ok); return 0; }
        if (Is(n, "country"u8)) { t.Country = RequiredString(ref r, ref ok); return 1; }
        if (Is(n, "state"u8)) { t.State = String(ref r, ref ok); return 2; }
        if (Is(n, "region"u8)) { t.Region = String(ref r, ref ok); return 3; }
        return Unknown;
    }, 0b10);

    private static readonly Shape<CtCustomFields> CustomFieldsShape = new(() => new CtCustomFields(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtCustomFields t, ref bool ok) =>
    {
        if (Is(n, "type"u8)) { t.Type = Object(ref r, ReferenceShape, ref ok); return 0; }
        if (Is(n, "fields"u8)) { t.Fields = Elements(ref r, ref ok); return 1; }
        return Unknown;
    }, 0);

    private static readonly Shape<CtPaymentInfo> PaymentInfoShape = new(() => new CtPaymentInfo(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtPaymentInfo t, ref bool ok) =>
    {
        if (Is(n, "payments"u8)) { t.Payments = List(ref r, ReferenceShape, ref ok); return 0; }
        return Unknown;
    }, 0);

    private static readonly Shape<CtClientLogging> ClientLoggingShape = new(() => new CtClientLogging(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtClientLogging t, ref bool ok) =>
    {
        if (Is(n, "clientId"u8)) { t.ClientId = String(ref r, ref ok); return 0; }
        if (Is(n, "externalUserId"u8)) { t.ExternalUserId = String(ref r, ref ok); return 1; }
        if (Is(n, "customer"u8)) { t.Customer = Object(ref r, ReferenceShape, ref ok); return 2; }
        if (Is(n, "anonymousId"u8)) { t.AnonymousId = String(ref r, ref ok); return 3; }
        return Unknown;
    }, 0);

    private static readonly Shape<CtOrder> OrderShape = new(() => new CtOrder(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtOrder t, ref bool ok) =>
    {
        if (Is(n, "id"u8)) { t.Id = RequiredString(ref r, ref ok); return 0; }
        if (Is(n, "version"u8)) { t.Version = Int64(ref r, ref ok); return 1; }
        if (Is(n, "orderNumber"u8)) { t.OrderNumber = String(ref r, ref ok); return 2; }
        if (Is(n, "customerId"u8)) { t.CustomerId = String(ref r, ref ok); return 3; }
        if (Is(n, "customerEmail"u8)) { t.CustomerEmail = String(ref r, ref ok); return 4; }
        if (Is(n, "anonymousId"u8)) { t.AnonymousId = String(ref r, ref ok); return 5; }
        if (Is(n, "customerGroup"u8)) { t.CustomerGroup = Object(ref r, ReferenceShape, ref ok); return 6; }
        if (Is(n, "store"u8)) { t.Store = Object(ref r, ReferenceShape, ref ok); return 7; }
        if (Is(n, "lineItems"u8)) { t.LineItems = RequiredList(ref r, LineItemShape, ref ok); return 8; }
        if (Is(n, "customLineItems"u8)) { t.CustomLineItems = List(ref r, CustomLineItemShape, ref ok); return 9; }
        if (Is(n, "totalPrice"u8)) { t.TotalPrice = Required(ref r, MoneyShape, ref ok); return 10; }
        if (Is(n, "taxedPrice"u8)) { t.TaxedPrice = Object(ref r, TaxedPriceShape, ref ok); return 11; }
        if (Is(n, "taxedShippingPrice"u8)) { t.TaxedShippingPrice = Object(ref r, TaxedPriceShape, ref ok); return 12; }
        if (Is(n, "discountOnTotalPrice"u8)) { t.DiscountOnTotalPrice = Object(ref r, DiscountOnTotalPriceShape, ref ok); return 13; }
        if (Is(n, "shippingMode"u8)) { t.ShippingMode = String(ref r, ref ok); return 14; }
        if (Is(n, "shippingInfo"u8)) { t.ShippingInfo = Object(ref r, ShippingInfoShape, ref ok); return 15; }
        if (Is(n, "shipping"u8)) { t.Shipping = List(ref r, ShippingShape, ref ok); return 16; }
        if (Is(n, "billingAddress"u8)) { t.BillingAddress = Object(ref r, AddressShape, ref ok); return 17; }
        if (Is(n, "shippingAddress"u8)) { t.ShippingAddress = Object(ref r, AddressShape, ref ok); return 18; }
        if (Is(n, "country"u8)) { t.Country = String(ref r, ref ok); return 19; }
        if (Is(n, "locale"u8)) { t.Locale = String(ref r, ref ok); return 20; }
        if (Is(n, "origin"u8)) { t.Origin = String(ref r, ref ok); return 21; }
        if (Is(n, "orderState"u8)) { t.OrderState = String(ref r, ref ok); return 22; }
        if (Is(n, "paymentState"u8)) { t.PaymentState = String(ref r, ref ok); return 23; }
        if (Is(n, "shipmentState"u8)) { t.ShipmentState = String(ref r, ref ok); return 24; }
        if (Is(n, "paymentInfo"u8)) { t.PaymentInfo = Object(ref r, PaymentInfoShape, ref ok); return 25; }
        if (Is(n, "custom"u8)) { t.Custom = Object(ref r, CustomFieldsShape, ref ok); return 26; }
        if (Is(n, "completedAt"u8)) { t.CompletedAt = NullableDate(ref r, ref ok); return 27; }
        if (Is(n, "createdAt"u8)) { t.CreatedAt = Date(ref r, ref ok); return 28; }
        return Unknown;
    }, (1UL << 0) | (1UL << 8) | (1UL << 10) | (1UL << 28));

    private static readonly Shape<CtCustomer> CustomerShape = new(() => new CtCustomer(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtCustomer t, ref bool ok) =>
    {
        if (Is(n, "id"u8)) { t.Id = RequiredString(ref r, ref ok); return 0; }
        if (Is(n, "version"u8)) { t.Version = Int64(ref r, ref ok); return 1; }
        if (Is(n, "key"u8)) { t.Key = String(ref r, ref ok); return 2; }
        if (Is(n, "customerNumber"u8)) { t.CustomerNumber = String(ref r, ref ok); return 3; }
        if (Is(n, "externalId"u8)) { t.ExternalId = String(ref r, ref ok); return 4; }
        if (Is(n, "email"u8)) { t.Email = RequiredString(ref r, ref ok); return 5; }
        if (Is(n, "firstName"u8)) { t.FirstName = String(ref r, ref ok); return 6; }
        if (Is(n, "lastName"u8)) { t.LastName = String(ref r, ref ok); return 7; }
        if (Is(n, "addresses"u8)) { t.Addresses = List(ref r, AddressShape, ref ok); return 8; }
        if (Is(n, "defaultShippingAddressId"u8)) { t.DefaultShippingAddressId = String(ref r, ref ok); return 9; }
        if (Is(n, "defaultBillingAddressId"u8)) { t.DefaultBillingAddressId = String(ref r, ref ok); return 10; }
        if (Is(n, "isEmailVerified"u8)) { t.IsEmailVerified = NullableBoolean(ref r, ref ok); return 11; }
        if (Is(n, "customerGroup"u8)) { t.CustomerGroup = Object(ref r, ReferenceShape, ref ok); return 12; }
        if (Is(n, "stores"u8)) { t.Stores = List(ref r, ReferenceShape, ref ok); return 13; }
        if (Is(n, "locale"u8)) { t.Locale = String(ref r, ref ok); return 14; }
        if (Is(n, "custom"u8)) { t.Custom = Object(ref r, CustomFieldsShape, ref ok); return 15; }
        if (Is(n, "createdAt"u8)) { t.CreatedAt = NullableDate(ref r, ref ok); return 16; }
        if (Is(n, "lastModifiedAt"u8)) { t.LastModifiedAt = NullableDate(ref r, ref ok); return 17; }
        if (Is(n, "createdBy"u8)) { t.CreatedBy = Object(ref r, ClientLoggingShape, ref ok); return 18; }
        return Unknown;
    }, (1UL << 0) | (1UL << 5));

    private static readonly Shape<CtReturnItem> ReturnItemShape = new(() => new CtReturnItem(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtReturnItem t, ref bool ok) =>
    {
        if (Is(n, "type"u8)) { t.Type = String(ref r, ref ok); return 0; }
        if (Is(n, "id"u8)) { t.Id = RequiredString(ref r, ref ok); return 1; }
        if (Is(n, "key"u8)) { t.Key = String(ref r, ref ok); return 2; }
        if (Is(n, "quantity"u8)) { t.Quantity = Int64(ref r, ref ok); return 3; }
        if (Is(n, "lineItemId"u8)) { t.LineItemId = String(ref r, ref ok); return 4; }
        if (Is(n, "customLineItemId"u8)) { t.CustomLineItemId = String(ref r, ref ok); return 5; }
        if (Is(n, "shipmentState"u8)) { t.ShipmentState = String(ref r, ref ok); return 6; }
        if (Is(n, "paymentState"u8)) { t.PaymentState = String(ref r, ref ok); return 7; }
        if (Is(n, "createdAt"u8)) { t.CreatedAt = NullableDate(ref r, ref ok); return 8; }
        return Unknown;
    }, 0b1010);

    private static readonly Shape<CtReturnInfo> ReturnInfoShape = new(() => new CtReturnInfo(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtReturnInfo t, ref bool ok) =>
    {
        if (Is(n, "items"u8)) { t.Items = RequiredList(ref r, ReturnItemShape, ref ok); return 0; }
        if (Is(n, "returnTrackingId"u8)) { t.ReturnTrackingId = String(ref r, ref ok); return 1; }
        if (Is(n, "returnDate"u8)) { t.ReturnDate = NullableDate(ref r, ref ok); return 2; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<CtTransaction> TransactionShape = new(() => new CtTransaction(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtTransaction t, ref bool ok) =>
    {
        if (Is(n, "id"u8)) { t.Id = RequiredString(ref r, ref ok); return 0; }
        if (Is(n, "timestamp"u8)) { t.Timestamp = NullableDate(ref r, ref ok); return 1; }
        if (Is(n, "type"u8)) { t.Type = RequiredString(ref r, ref ok); return 2; }
        if (Is(n, "amount"u8)) { t.Amount = Required(ref r, MoneyShape, ref ok); return 3; }
        if (Is(n, "interactionId"u8)) { t.InteractionId = String(ref r, ref ok); return 4; }
        if (Is(n, "state"u8)) { t.State = RequiredString(ref r, ref ok); return 5; }
        return Unknown;
    }, 0b101101);

    // ---- The messages: the members every message has (bits 0-9), then each type's own (bits 10 and up) ----

    private const ulong MessageRequired = (1UL << 1) | (1UL << 3) | (1UL << 6) | (1UL << 7);

    private static int MessageMember(ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtMessage t, ref bool ok)
    {
        if (Is(n, "projectKey"u8)) { t.ProjectKey = String(ref r, ref ok); return 0; }
        if (Is(n, "resource"u8)) { t.Resource = Required(ref r, ReferenceShape, ref ok); return 1; }
        if (Is(n, "resourceUserProvidedIdentifiers"u8)) { t.ResourceUserProvidedIdentifiers = Elements(ref r, ref ok); return 2; }
        if (Is(n, "id"u8)) { t.Id = RequiredString(ref r, ref ok); return 3; }
        if (Is(n, "sequenceNumber"u8)) { t.SequenceNumber = Int64(ref r, ref ok); return 4; }
        if (Is(n, "resourceVersion"u8)) { t.ResourceVersion = Int64(ref r, ref ok); return 5; }
        if (Is(n, "type"u8)) { t.Type = RequiredString(ref r, ref ok); return 6; }
        if (Is(n, "createdAt"u8)) { t.CreatedAt = Date(ref r, ref ok); return 7; }
        if (Is(n, "lastModifiedAt"u8)) { t.LastModifiedAt = NullableDate(ref r, ref ok); return 8; }
        if (Is(n, "createdBy"u8)) { t.CreatedBy = Object(ref r, ClientLoggingShape, ref ok); return 9; }
        return Unknown;
    }

    /// <summary>A message type: the common members, then <paramref name="own"/> (its bits counted from 10).</summary>
    private static Shape<T> Message<T>(Func<T> create, Member<T>? own = null, ulong ownRequired = 0)
        where T : CtMessage =>
        new(create, (ReadOnlySpan<byte> n, ref Utf8JsonReader r, T t, ref bool ok) =>
        {
            var bit = MessageMember(n, ref r, t, ref ok);
            if (bit != Unknown || own is null)
            {
                return bit;
            }

            var mine = own(n, ref r, t, ref ok);
            return mine == Unknown ? Unknown : mine + 10;
        }, MessageRequired | (ownRequired << 10));

    /// <summary>The member of the three messages that carry a whole order (declared before their shapes, which take it).</summary>
    private static readonly Member<CtOrderCarryingMessage> OrderMember = static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CtOrderCarryingMessage t, ref bool ok) =>
    {
        if (Is(n, "order"u8)) { t.Order = Required(ref r, OrderShape, ref ok); return 0; }
        return Unknown;
    };

    private static readonly Shape<OrderCreatedMessage> OrderCreatedShape = Message<OrderCreatedMessage>(() => new(), OrderMember, 0b1);

    private static readonly Shape<OrderImportedMessage> OrderImportedShape = Message<OrderImportedMessage>(() => new(), OrderMember, 0b1);

    private static readonly Shape<OrderCreatedFromRecurringOrderMessage> OrderCreatedFromRecurringOrderShape = Message(() => new OrderCreatedFromRecurringOrderMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, OrderCreatedFromRecurringOrderMessage t, ref bool ok) =>
    {
        if (OrderMember(n, ref r, t, ref ok) is var bit && bit != Unknown) { return bit; }
        if (Is(n, "recurringOrderRef"u8)) { t.RecurringOrderRef = Object(ref r, ReferenceShape, ref ok); return 1; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<OrderStateChangedMessage> OrderStateChangedShape = Message(() => new OrderStateChangedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, OrderStateChangedMessage t, ref bool ok) =>
    {
        if (Is(n, "orderState"u8)) { t.OrderState = RequiredString(ref r, ref ok); return 0; }
        if (Is(n, "oldOrderState"u8)) { t.OldOrderState = String(ref r, ref ok); return 1; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<OrderShipmentStateChangedMessage> OrderShipmentStateChangedShape = Message(() => new OrderShipmentStateChangedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, OrderShipmentStateChangedMessage t, ref bool ok) =>
    {
        if (Is(n, "shipmentState"u8)) { t.ShipmentState = String(ref r, ref ok); return 0; }
        if (Is(n, "oldShipmentState"u8)) { t.OldShipmentState = String(ref r, ref ok); return 1; }
        return Unknown;
    });

    private static readonly Shape<OrderPaymentStateChangedMessage> OrderPaymentStateChangedShape = Message(() => new OrderPaymentStateChangedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, OrderPaymentStateChangedMessage t, ref bool ok) =>
    {
        if (Is(n, "paymentState"u8)) { t.PaymentState = String(ref r, ref ok); return 0; }
        if (Is(n, "oldPaymentState"u8)) { t.OldPaymentState = String(ref r, ref ok); return 1; }
        return Unknown;
    });

    private static readonly Shape<OrderCustomerSetMessage> OrderCustomerSetShape = Message(() => new OrderCustomerSetMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, OrderCustomerSetMessage t, ref bool ok) =>
    {
        if (Is(n, "customer"u8)) { t.Customer = Object(ref r, ReferenceShape, ref ok); return 0; }
        if (Is(n, "customerGroup"u8)) { t.CustomerGroup = Object(ref r, ReferenceShape, ref ok); return 1; }
        if (Is(n, "oldCustomer"u8)) { t.OldCustomer = Object(ref r, ReferenceShape, ref ok); return 2; }
        if (Is(n, "oldCustomerGroup"u8)) { t.OldCustomerGroup = Object(ref r, ReferenceShape, ref ok); return 3; }
        return Unknown;
    });

    private static readonly Shape<ReturnInfoAddedMessage> ReturnInfoAddedShape = Message(() => new ReturnInfoAddedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, ReturnInfoAddedMessage t, ref bool ok) =>
    {
        if (Is(n, "returnInfo"u8)) { t.ReturnInfo = Required(ref r, ReturnInfoShape, ref ok); return 0; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<ReturnInfoSetMessage> ReturnInfoSetShape = Message(() => new ReturnInfoSetMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, ReturnInfoSetMessage t, ref bool ok) =>
    {
        if (Is(n, "returnInfo"u8)) { t.ReturnInfo = List(ref r, ReturnInfoShape, ref ok); return 0; }
        return Unknown;
    });

    private static readonly Shape<PaymentTransactionAddedMessage> PaymentTransactionAddedShape = Message(() => new PaymentTransactionAddedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, PaymentTransactionAddedMessage t, ref bool ok) =>
    {
        if (Is(n, "transaction"u8)) { t.Transaction = Required(ref r, TransactionShape, ref ok); return 0; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<PaymentTransactionStateChangedMessage> PaymentTransactionStateChangedShape = Message(() => new PaymentTransactionStateChangedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, PaymentTransactionStateChangedMessage t, ref bool ok) =>
    {
        if (Is(n, "transactionId"u8)) { t.TransactionId = RequiredString(ref r, ref ok); return 0; }
        if (Is(n, "state"u8)) { t.State = RequiredString(ref r, ref ok); return 1; }
        return Unknown;
    }, 0b11);

    private static readonly Shape<CustomerCreatedMessage> CustomerCreatedShape = Message(() => new CustomerCreatedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CustomerCreatedMessage t, ref bool ok) =>
    {
        if (Is(n, "customer"u8)) { t.Customer = Required(ref r, CustomerShape, ref ok); return 0; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<CustomerEmailChangedMessage> CustomerEmailChangedShape = Message(() => new CustomerEmailChangedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CustomerEmailChangedMessage t, ref bool ok) =>
    {
        if (Is(n, "email"u8)) { t.Email = RequiredString(ref r, ref ok); return 0; }
        if (Is(n, "oldEmail"u8)) { t.OldEmail = String(ref r, ref ok); return 1; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<CustomerEmailVerifiedMessage> CustomerEmailVerifiedShape = Message(() => new CustomerEmailVerifiedMessage());

    private static readonly Shape<CustomerDeletedMessage> CustomerDeletedShape = Message(() => new CustomerDeletedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CustomerDeletedMessage t, ref bool ok) =>
    {
        if (Is(n, "email"u8)) { t.Email = String(ref r, ref ok); return 0; }
        return Unknown;
    });

    private static readonly Shape<CustomerGroupSetMessage> CustomerGroupSetShape = Message(() => new CustomerGroupSetMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CustomerGroupSetMessage t, ref bool ok) =>
    {
        if (Is(n, "customerGroup"u8)) { t.CustomerGroup = Object(ref r, ReferenceShape, ref ok); return 0; }
        return Unknown;
    });

    private static readonly Shape<CustomerFirstNameSetMessage> CustomerFirstNameSetShape = Message(() => new CustomerFirstNameSetMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CustomerFirstNameSetMessage t, ref bool ok) =>
    {
        if (Is(n, "firstName"u8)) { t.FirstName = String(ref r, ref ok); return 0; }
        return Unknown;
    });

    private static readonly Shape<CustomerLastNameSetMessage> CustomerLastNameSetShape = Message(() => new CustomerLastNameSetMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CustomerLastNameSetMessage t, ref bool ok) =>
    {
        if (Is(n, "lastName"u8)) { t.LastName = String(ref r, ref ok); return 0; }
        return Unknown;
    });

    private static readonly Shape<CustomerCustomFieldAddedMessage> CustomerCustomFieldAddedShape = Message(() => new CustomerCustomFieldAddedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CustomerCustomFieldAddedMessage t, ref bool ok) =>
    {
        if (Is(n, "name"u8)) { t.Name = RequiredString(ref r, ref ok); return 0; }
        if (Is(n, "value"u8)) { t.Value = Element(ref r, ref ok); return 1; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<CustomerCustomFieldChangedMessage> CustomerCustomFieldChangedShape = Message(() => new CustomerCustomFieldChangedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CustomerCustomFieldChangedMessage t, ref bool ok) =>
    {
        if (Is(n, "name"u8)) { t.Name = RequiredString(ref r, ref ok); return 0; }
        if (Is(n, "value"u8)) { t.Value = Element(ref r, ref ok); return 1; }
        if (Is(n, "previousValue"u8)) { t.PreviousValue = NullableElement(ref r, ref ok); return 2; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<CustomerCustomFieldRemovedMessage> CustomerCustomFieldRemovedShape = Message(() => new CustomerCustomFieldRemovedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CustomerCustomFieldRemovedMessage t, ref bool ok) =>
    {
        if (Is(n, "name"u8)) { t.Name = RequiredString(ref r, ref ok); return 0; }
        return Unknown;
    }, 0b1);

    private static readonly Shape<CustomerCustomTypeSetMessage> CustomerCustomTypeSetShape = Message(() => new CustomerCustomTypeSetMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CustomerCustomTypeSetMessage t, ref bool ok) =>
    {
        if (Is(n, "customFields"u8)) { t.CustomFields = Object(ref r, CustomFieldsShape, ref ok); return 0; }
        if (Is(n, "previousTypeId"u8)) { t.PreviousTypeId = String(ref r, ref ok); return 1; }
        return Unknown;
    });

    private static readonly Shape<CustomerCustomTypeRemovedMessage> CustomerCustomTypeRemovedShape = Message(() => new CustomerCustomTypeRemovedMessage(), static (ReadOnlySpan<byte> n, ref Utf8JsonReader r, CustomerCustomTypeRemovedMessage t, ref bool ok) =>
    {
        if (Is(n, "previousTypeId"u8)) { t.PreviousTypeId = String(ref r, ref ok); return 0; }
        return Unknown;
    });
}
