using System.Text.Json;
using System.Text.Json.Nodes;
using CtMparticle.Configuration;
using CtMparticle.Pipeline;
using CtMparticle.Tracking;

namespace CtMparticle.Sources.Collector;

/// <summary>
/// Segment calls → the tracking plan's canonical events (Segment's e-commerce spec v2 names, and the account events).
/// Pure. Each call becomes at most one event whose dedupe key is <c>{source}/segment/{messageId}</c>, so a tracker's
/// retry of the same call is a duplicate. See the README's collector mapping table.
/// </summary>
internal static class SegmentMapper
{
    /// <summary>Scalar properties carried on events without fields of their own; more are dropped.</summary>
    public const int MaxAttributes = 50;

    private const decimal MaxAmount = 1_000_000_000_000_000m;

    /// <summary>The screen name of a <c>page</c> call without a name (analytics.js' plain <c>page()</c>): mParticle's web SDK's own default.</summary>
    public const string UnnamedPage = "PageView";

    /// <summary>The screen name of a <c>screen</c> call without a name.</summary>
    public const string UnnamedScreen = "ScreenView";

    /// <summary>The track event Segment's consent management sends when the shopper changes their choices.</summary>
    public const string ConsentPreferenceUpdated = "Segment Consent Preference Updated";

    public static Flow<MappedEvents> Map(SegmentCall call, InputInfo info, CollectorOptions options, CollectorSourceOptions source)
    {
        var context = Context(call, options, source);
        var currency = Currency(call.Properties, source.Currency ?? options.DefaultCurrency, out var currencyProblem);
        if (currencyProblem is not null)
        {
            return Reject(info, Reason.InvalidCurrency, currencyProblem);
        }

        try
        {
            TrackingEvent? e = call.Type switch
            {
                SegmentTypes.Track => Track(call, context, currency, source),
                SegmentTypes.Identify => Identify(call, context),
                SegmentTypes.Page or SegmentTypes.Screen => new ScreenViewed(context,
                    SegmentDecoder.Safe(call.Name ?? Text(call.Properties, "name") ?? (call.Type == SegmentTypes.Page ? UnnamedPage : UnnamedScreen)),
                    Scalars(call.Properties, "name")),
                _ => null,
            };
            if (e is not null)
            {
                return Flow<MappedEvents>.Go(info, new MappedEvents([e]));
            }

            return call.Type == SegmentTypes.Alias && Alias(call, context) is { } aliases
                ? Flow<MappedEvents>.Stop(info, new Filter(Reason.IdentityOnly,
                    "An alias call says its userId and previousId are one person: recorded as an identity link under the identity rules, not sent as an event.") { Aliases = aliases })
                : Flow<MappedEvents>.Stop(info, new Filter(Reason.UnsupportedMessageType,
                    call.Type == SegmentTypes.Alias
                        ? "An alias call needs a userId and a different previousId (or anonymousId) to say who is one person."
                        : $"A {call.Type} call is not forwarded as an event."));
        }
        catch (InvalidFieldException ex)
        {
            return Reject(info, ex.Reason, ex.Message);
        }
    }

    private static TrackingEvent Track(SegmentCall call, EventContext context, string currency, CollectorSourceOptions source)
    {
        var p = call.Properties;
        return call.Event switch
        {
            "Product Viewed" => new ProductViewed(context, Line(p, "properties"), currency),
            "Product List Viewed" => new ProductListViewed(context, SegmentDecoder.Safe(Text(p, "list_id") ?? Text(p, "category") ?? "products"),
                Lines(p) is { Count: > 0 } shown ? shown : throw new InvalidFieldException(Reason.MissingField, "properties.products must list the products shown on Product List Viewed."),
                currency),
            "Product Added" => new ProductAdded(context, Line(p, "properties"), currency, Text(p, "cart_id")),
            "Product Removed" => new ProductRemoved(context, Line(p, "properties"), currency, Text(p, "cart_id")),
            "Checkout Started" => new CheckoutStepViewed(context, 1, null, call.Cart?.Lines ?? Lines(p), call.Cart?.Currency ?? currency,
                Text(p, "cart_id") ?? Text(p, "checkout_id")),
            "Checkout Step Viewed" or "Checkout Step Completed" => new CheckoutStepViewed(context, Step(p), Text(p, "shipping_method") ?? Text(p, "payment_method"),
                Lines(p), currency, Text(p, "checkout_id")),
            "Payment Info Entered" => new CheckoutStepViewed(context, Step(p), Text(p, "payment_method"), Lines(p), currency, Text(p, "checkout_id")),
            "Order Completed" => Order(p, context, currency, source),
            "Signed Up" => new SignedUp(context, Profile(call.Traits), Text(p, "type") ?? Text(p, "method")),
            "Signed In" => new SignedIn(context, Text(p, "type") ?? Text(p, "method")),
            "Products Searched" => new StorefrontEvent(context, call.Event!, Scalars(p), IsSearch: true),
            // Segment's consent event (Consent Management): the CMP's categories in context.consent are the change.
            ConsentPreferenceUpdated => context.Consent is { IsEmpty: false } stated
                ? new ConsentUpdated(context, stated.Purposes)
                : throw new InvalidFieldException(Reason.MissingField,
                    "Segment Consent Preference Updated needs context.consent.categoryPreferences with at least one category the collector maps (Collector:ConsentCategories)."),
            _ => new StorefrontEvent(context, call.Event!, Scalars(p)),
        };
    }

    /// <summary>
    /// Segment's <c>alias</c>: <c>previousId</c> (the browser's anonymous id before sign-up) and <c>userId</c> are one
    /// person. The context carries the customer id and the previous id as its anonymous id, or null when they say nothing.
    /// </summary>
    private static EventContext? Alias(SegmentCall call, EventContext context)
    {
        var previous = call.PreviousId ?? call.AnonymousId;
        return call.UserId is { } customer && previous is not null && !string.Equals(previous.Trim(), customer.Trim(), StringComparison.Ordinal)
            ? context with { User = context.User with { CustomerId = customer, AnonymousId = previous } }
            : null;
    }

    /// <summary>
    /// Segment's <c>identify</c>: its traits are the user's current ones, so the fields it states are the profile's
    /// changes, the e-mail among them when it carries one (the link stage then ends the customer's other addresses'
    /// links, as for commercetools' <c>CustomerEmailChanged</c>).
    /// </summary>
    private static TrackingEvent Identify(SegmentCall call, EventContext context)
    {
        var profile = Profile(call.Traits);
        IEnumerable<string> stated = profile.Set.Keys.Select(k => k.TrimStart('$').ToLowerInvariant());
        return new ProfileUpdated(context, profile, [.. context.User.Email is null ? stated : stated.Append("email")]);
    }

    private static OrderCompleted Order(JsonObject p, EventContext context, string currency, CollectorSourceOptions source)
    {
        var orderId = Text(p, "order_id") ?? Text(p, "checkout_id")
            ?? throw new InvalidFieldException(Reason.MissingField, "properties.order_id is required on Order Completed.");
        if (!string.IsNullOrEmpty(source.Project))
        {
            // The purchase's own identity, shared with commercetools' message of the same order: one purchase.
            var key = EventKeys.Purchase(source.Project, orderId);
            context = context with { DedupeKey = key, EventId = Uuid5.ForEvent(key) };
        }

        var products = Lines(p);
        var total = Money(p, "total") ?? Money(p, "revenue")
            ?? products.Sum(l => (l.UnitPrice ?? 0m) * l.Quantity);
        return new OrderCompleted(context, orderId, null, currency, total, Money(p, "tax"), Money(p, "shipping"), Money(p, "discount"),
            products, OrderOrigin.Storefront, Text(p, "coupon"));
    }

    private static IReadOnlyList<ProductLine> Lines(JsonObject p)
    {
        if (p["products"] is null)
        {
            return [];
        }

        if (p["products"] is not JsonArray products)
        {
            throw new InvalidFieldException(Reason.WrongType, "properties.products must be an array.");
        }

        var lines = new List<ProductLine>(products.Count);
        for (var i = 0; i < products.Count; i++)
        {
            lines.Add(products[i] is JsonObject product
                ? Line(product, $"properties.products[{i}]")
                : throw new InvalidFieldException(Reason.WrongType, $"properties.products[{i}] must be an object."));
        }

        return lines;
    }

    private static ProductLine Line(JsonObject p, string path)
    {
        var sku = Text(p, "sku") ?? Text(p, "product_id") ?? Text(p, "id")
            ?? throw new InvalidFieldException(Reason.MissingField, $"{path}.sku or {path}.product_id is required.");
        var quantity = 1L;
        if (p["quantity"] is { } q)
        {
            if (q.GetValueKind() != JsonValueKind.Number || !q.AsValue().TryGetValue<long>(out quantity) || quantity < 1 || quantity > int.MaxValue)
            {
                throw new InvalidFieldException(Reason.InvalidQuantity, $"{path}.quantity must be a whole number from 1.");
            }
        }

        var price = Money(p, "price", path);
        return new ProductLine(sku, Text(p, "name"), Text(p, "variant"), Text(p, "brand"), Text(p, "category"), price, quantity,
            price is { } unit ? unit * quantity : null, ProductId: Text(p, "product_id"));
    }

    private static int Step(JsonObject p)
    {
        if (p["step"] is not { } step)
        {
            return 1;
        }

        return step.GetValueKind() == JsonValueKind.Number && step.AsValue().TryGetValue<int>(out var value) && value is >= 1 and <= 100
            ? value
            : throw new InvalidFieldException(Reason.WrongType, "properties.step must be a whole number from 1 to 100.");
    }

    private static decimal? Money(JsonObject p, string name, string path = "properties")
    {
        if (p[name] is not { } node)
        {
            return null;
        }

        if (node.GetValueKind() != JsonValueKind.Number || !node.AsValue().TryGetValue<decimal>(out var value))
        {
            throw new InvalidFieldException(Reason.InvalidMoney, $"{path}.{name} must be a number.");
        }

        return value is < 0 or > MaxAmount
            ? throw new InvalidFieldException(Reason.InvalidMoney, $"{path}.{name} must be between 0 and 10^15.")
            : value;
    }

    private static string Currency(JsonObject p, string fallback, out string? problem)
    {
        problem = null;
        if (p["currency"] is not { } node)
        {
            return fallback;
        }

        var code = node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>().Trim().ToUpperInvariant() : null;
        if (code is { Length: 3 } && code.All(char.IsAsciiLetterUpper))
        {
            return code;
        }

        problem = "properties.currency must be an ISO 4217 code such as EUR.";
        return fallback;
    }

    private static ProfileAttributes Profile(JsonObject traits)
    {
        var set = new Dictionary<string, string>(StringComparer.Ordinal);
        if ((Text(traits, "firstName") ?? Text(traits, "first_name")) is { } first)
        {
            set["$FirstName"] = first;
        }

        if ((Text(traits, "lastName") ?? Text(traits, "last_name")) is { } last)
        {
            set["$LastName"] = last;
        }

        return new ProfileAttributes(set, []);
    }

    private static EventContext Context(SegmentCall call, CollectorOptions options, CollectorSourceOptions source)
    {
        var key = $"{source.Name}/segment/{call.MessageId}";
        var c = call.Context;
        var devices = c.AdvertisingId is null && c.DeviceId is null ? null
            : c.OsName?.Contains("android", StringComparison.OrdinalIgnoreCase) == true ? new DeviceIds(AndroidAdvertisingId: c.AdvertisingId, AndroidUuid: c.DeviceId)
            : c.OsName?.Contains("ios", StringComparison.OrdinalIgnoreCase) == true || c.OsName?.Contains("ipados", StringComparison.OrdinalIgnoreCase) == true
                ? new DeviceIds(IosAdvertisingId: c.AdvertisingId, IosVendorId: c.DeviceId)
            : null;
        var email = Text(call.Traits, "email");
        var user = new UserIds(call.UserId, email, call.AnonymousId, c.SessionId, devices);
        var region = c.Country is { Length: 2 } country && country.All(char.IsAsciiLetter)
            ? Subdivisions.Normalize(country.ToUpperInvariant(), c.State)
            : null;
        var consent = Consent(call, options);
        return new EventContext(Uuid5.ForEvent(key), key, call.OccurredAt, EventSource.Storefront, call.MessageId, source.Store, region, user,
            consent, c.IsApp ? "app" : "web", c.Locale, Network(c, consent, options));
    }

    /// <summary>The client's IP and user agent, only when the call itself consents to the configured purpose.</summary>
    private static NetworkInfo? Network(SegmentContext c, ConsentSnapshot? consent, CollectorOptions options)
    {
        if (string.IsNullOrEmpty(options.NetworkDataPurpose) || consent?.Gdpr.GetValueOrDefault(options.NetworkDataPurpose) is not { Consented: true })
        {
            return null;
        }

        var ip = System.Net.IPAddress.TryParse(c.Ip, out var address) ? address.ToString() : null;
        var userAgent = c.UserAgent is { Length: > 0 and <= 512 } agent ? agent : null;
        return ip is null && userAgent is null ? null : new NetworkInfo(ip, userAgent);
    }

    private static ConsentSnapshot? Consent(SegmentCall call, CollectorOptions options)
    {
        var purposes = new Dictionary<string, ConsentPurpose>(StringComparer.Ordinal);
        foreach (var (category, consented) in call.Context.ConsentCategories)
        {
            var purpose = options.ConsentCategories.FirstOrDefault(p => string.Equals(p.Key, category, StringComparison.OrdinalIgnoreCase)).Value;
            if (!string.IsNullOrWhiteSpace(purpose))
            {
                purposes[purpose] = new ConsentPurpose(consented, call.OccurredAt, Location: "storefront");
            }
        }

        return purposes.Count == 0 ? null : new ConsentSnapshot(purposes);
    }

    private static Dictionary<string, string> Scalars(JsonObject p, params string[] except)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in p)
        {
            if (attributes.Count >= MaxAttributes || except.Contains(name) || name == "session_id")
            {
                continue;
            }

            switch (value?.GetValueKind())
            {
                case JsonValueKind.String:
                    attributes[name] = value.GetValue<string>();
                    break;
                case JsonValueKind.Number:
                    attributes[name] = value.ToJsonString();
                    break;
                case JsonValueKind.True or JsonValueKind.False:
                    attributes[name] = value.GetValue<bool>() ? "true" : "false";
                    break;
            }
        }

        return attributes;
    }

    /// <summary>A property as text: a non-blank string (trimmed) or a number as written; anything else is absent.</summary>
    internal static string? Text(JsonObject? p, string name) => p?[name] switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>().Trim() is { Length: > 0 } text ? text : null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => v.ToJsonString(),
        _ => null,
    };

    private static Flow<MappedEvents> Reject(InputInfo info, Reason reason, string detail) =>
        Flow<MappedEvents>.Stop(info, new Reject("map", reason, detail));

    /// <summary>A field the mapping cannot use: caught in <see cref="Map"/>, never escapes it.</summary>
    private sealed class InvalidFieldException(Reason reason, string message) : Exception(message)
    {
        public Reason Reason { get; } = reason;
    }
}
