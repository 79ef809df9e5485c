using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CtMparticle.Configuration;
using CtMparticle.Tracking;

namespace CtMparticle.MParticle;

/// <summary>The closed set of results of turning one user's canonical events into an Events API batch.</summary>
public abstract record BatchResult;

/// <summary>A batch ready to send, serialized once (<see cref="Json"/> is what goes on the wire).</summary>
public sealed record BuiltBatch(InputRoute Route, MpBatch Batch, byte[] Json) : BatchResult;

public sealed record BatchRejected(Reason Reason, string Detail) : BatchResult;

/// <summary>
/// Canonical events → mParticle Events API batches. Pure. One batch holds one user's events (mParticle attributes
/// a whole batch to one profile), goes to one input, and stays under 128 KB.
/// </summary>
public sealed class BatchBuilder(MappingOptions mapping, MParticleOptions routing)
{
    /// <summary>mParticle: a batch "should not exceed 128kb".</summary>
    public const int MaxBatchBytes = 128 * 1024;

    /// <summary>The input a store's events go to, or null when neither the store nor a default input is configured.</summary>
    public InputRoute? Route(string? storeKey) => RouteByInput(routing.FindStore(storeKey)?.Input ?? routing.DefaultInput);

    /// <summary>The route of a configured input, or null.</summary>
    public InputRoute? RouteByInput(string? inputName)
    {
        if (routing.FindInput(inputName) is not { } input)
        {
            return null;
        }

        return new InputRoute(input.Name, input.EffectiveBaseUrl, input.ApiKeySetting, input.ApiSecretSetting, input.Environment ?? mapping.Environment);
    }

    /// <summary>
    /// The identities an event's user becomes, by configuration: customer id, e-mail (trimmed and lowercased,
    /// plain or SHA-256), anonymous id. Events with equal identities belong in one batch.
    /// </summary>
    public SortedDictionary<string, string> Identities(UserIds user)
    {
        var options = mapping.Identity;
        var identities = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (!string.IsNullOrWhiteSpace(user.CustomerId))
        {
            identities[options.CustomerIdIdentity] = user.CustomerId.Trim();
        }

        if (NormalizeEmail(user.Email) is { } email)
        {
            switch (options.EmailMode)
            {
                case EmailIdentityMode.Plain:
                    identities["email"] = email;
                    break;
                case EmailIdentityMode.Sha256:
                    identities[options.EmailHashIdentity] = Sha256Hex(email);
                    break;
                case EmailIdentityMode.Omit:
                    break;
            }
        }

        if (!string.IsNullOrEmpty(options.AnonymousIdIdentity) && !string.IsNullOrWhiteSpace(user.AnonymousId))
        {
            identities[options.AnonymousIdIdentity] = user.AnonymousId.Trim();
        }

        return identities;
    }

    /// <summary>A stable key for "same user, same input": events with equal keys may share a batch.</summary>
    public string GroupKey(TrackingEvent e)
    {
        var builder = new StringBuilder(Route(e.Context.StoreKey)?.InputName ?? "-");
        foreach (var (type, value) in Identities(e.Context.User))
        {
            builder.Append('|').Append(type).Append('=').Append(value);
        }

        if (e.Context.User.Devices is { } devices)
        {
            builder.Append("|devices=").Append(devices.IosAdvertisingId).Append(',').Append(devices.IosVendorId)
                .Append(',').Append(devices.AndroidAdvertisingId).Append(',').Append(devices.AndroidUuid);
        }

        return builder.ToString();
    }

    public BatchResult Build(TrackingEvent e) => BuildGrouped([e]);

    /// <summary>Builds one batch from events of one user (equal <see cref="GroupKey"/>).</summary>
    public BatchResult Build(IReadOnlyList<TrackingEvent> events)
    {
        ArgumentOutOfRangeException.ThrowIfZero(events.Count);
        var groupKey = GroupKey(events[0]);
        if (events.Skip(1).Any(e => GroupKey(e) != groupKey))
        {
            throw new ArgumentException("A batch holds one user's events for one input; group events by GroupKey first.", nameof(events));
        }

        return BuildGrouped(events);
    }

    /// <summary>Builds one batch from events the caller already grouped by <see cref="GroupKey"/>.</summary>
    internal BatchResult BuildGrouped(IReadOnlyList<TrackingEvent> events)
    {
        var first = events[0];

        if (Route(first.Context.StoreKey) is not { } route)
        {
            return new BatchRejected(Reason.NoInputForStore, first.Context.StoreKey is { } store
                ? $"Store '{store}' is not in MParticle:Stores and there is no MParticle:DefaultInput; add the store with its input."
                : "The event has no store and there is no MParticle:DefaultInput.");
        }

        var identities = Identities(first.Context.User);
        if (identities.Count == 0)
        {
            return new BatchRejected(Reason.NoIdentity, "The event has no identity the configuration sends (customer id, e-mail, anonymous id); mParticle could not attribute it.");
        }

        var ordered = events.Count == 1 ? [first] : events.OrderBy(e => e.Context.OccurredAt).ThenBy(e => e.Context.EventId).ToArray();
        var (setAttributes, removedAttributes) = MergeAttributes(ordered);
        var batch = new MpBatch
        {
            Environment = route.Environment,
            SourceRequestId = RequestId(ordered),
            UserIdentities = identities,
            UserAttributes = setAttributes.Count > 0 ? setAttributes : null,
            DeletedUserAttributes = removedAttributes.Count > 0 ? removedAttributes : null,
            DeviceInfo = DeviceInfo(first.Context.User.Devices),
            Context = string.IsNullOrEmpty(mapping.DataPlan.PlanId)
                ? null
                : new MpContext { DataPlan = new MpDataPlan { PlanId = mapping.DataPlan.PlanId, PlanVersion = mapping.DataPlan.PlanVersion } },
            ConsentState = ConsentState(ordered),
            Events = ordered.Select(MapEvent).ToArray(),
        };

        var json = JsonSerializer.SerializeToUtf8Bytes(batch, MParticleJsonContext.Default.MpBatch);
        return json.Length > MaxBatchBytes
            ? new BatchRejected(Reason.BatchTooLarge, $"The batch is {json.Length:N0} bytes; mParticle takes at most {MaxBatchBytes:N0}. An order this large needs its products trimmed before it can be sent.")
            : new BuiltBatch(route, batch, json);
    }

    /// <summary>Deterministic per set of events, so a retried batch carries the same id (mParticle dedupes on it).</summary>
    public static string RequestId(IEnumerable<TrackingEvent> events)
    {
        var ids = events.Select(e => e.Context.EventId.ToString("N")).Order(StringComparer.Ordinal);
        return Uuid5.Create(Uuid5.RelayNamespace, "request/" + string.Join(',', ids)).ToString("D");
    }

    internal static string? NormalizeEmail(string? email)
    {
        var trimmed = email?.Trim();
        return string.IsNullOrEmpty(trimmed) ? null : trimmed.ToLowerInvariant();
    }

    internal static string Sha256Hex(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));

    private static MpEvent MapEvent(TrackingEvent e) => e switch
    {
        OrderCompleted o => Commerce(e, o.Currency, new MpProductAction
        {
            Action = ProductActions.Purchase,
            TransactionId = o.TransactionId,
            TotalAmount = o.Total,
            TaxAmount = o.Tax,
            ShippingAmount = o.Shipping,
            CouponCode = o.CouponCode,
            Products = o.Products.Select(Product).ToArray(),
        }, Attributes(e, ("order_id", o.OrderId), ("order_origin", Origin(o.Origin)), ("discount_amount", Invariant(o.Discount)))),
        OrderRefunded r => Commerce(e, r.Currency, new MpProductAction
        {
            Action = ProductActions.Refund,
            TransactionId = r.TransactionId,
            TotalAmount = r.Amount,
            Products = r.Products.Count > 0 ? r.Products.Select(Product).ToArray() : null,
        }, Attributes(e, ("order_id", r.OrderId), ("refund_source", r.Source == RefundSource.PaymentTransaction ? "payment_transaction" : "return_item"), ("refund_id", r.SourceId))),
        ProductViewed p => Commerce(e, p.Currency, new MpProductAction { Action = ProductActions.ViewDetail, Products = [Product(p.Product)] }, Attributes(e)),
        ProductAdded p => Commerce(e, p.Currency, new MpProductAction { Action = ProductActions.AddToCart, Products = [Product(p.Product)] }, Attributes(e, ("cart_id", p.CartId))),
        ProductRemoved p => Commerce(e, p.Currency, new MpProductAction { Action = ProductActions.RemoveFromCart, Products = [Product(p.Product)] }, Attributes(e, ("cart_id", p.CartId))),
        CheckoutStepViewed c => Commerce(e, c.Currency, new MpProductAction
        {
            Action = ProductActions.Checkout,
            CheckoutStep = c.Step,
            CheckoutOptions = c.Option,
            Products = c.Products.Count > 0 ? c.Products.Select(Product).ToArray() : null,
        }, Attributes(e, ("cart_id", c.CartId))),
        OrderStatusChanged s => Custom(e, CustomEventTypes.Transaction, Attributes(e,
            ("order_id", s.OrderId), ("transaction_id", s.OrderNumber ?? s.OrderId), ("status_type", s.Kind.ToString().ToLowerInvariant()),
            ("status", s.Status), ("previous_status", s.PreviousStatus))),
        OrderCustomerLinked l => Custom(e, CustomEventTypes.Transaction, Attributes(e, ("order_id", l.OrderId), ("transaction_id", l.OrderNumber ?? l.OrderId))),
        SignedUp s => Custom(e, CustomEventTypes.Other, Attributes(e, ("method", s.Method))),
        SignedIn s => Custom(e, CustomEventTypes.Other, Attributes(e, ("method", s.Method))),
        ProfileUpdated p => Custom(e, CustomEventTypes.UserPreference, Attributes(e, ("changed_fields", string.Join(',', p.ChangedFields)))),
        ConsentUpdated c => Custom(e, CustomEventTypes.UserPreference, Attributes(e, ("purposes", string.Join(',', c.ChangedPurposes)))),
        _ => throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "Every canonical event needs an mParticle mapping."),
    };

    private static MpEvent Commerce(TrackingEvent e, string? currency, MpProductAction action, IReadOnlyDictionary<string, string>? attributes) => new()
    {
        EventType = "commerce_event",
        Data = new MpEventData
        {
            TimestampUnixtimeMs = e.Context.OccurredAt.ToUnixTimeMilliseconds(),
            SourceMessageId = e.Context.EventId.ToString("D"),
            SessionUuid = e.Context.User.SessionId,
            CurrencyCode = currency,
            ProductAction = action,
            CustomAttributes = attributes,
        },
    };

    private static MpEvent Custom(TrackingEvent e, string customEventType, IReadOnlyDictionary<string, string>? attributes) => new()
    {
        EventType = "custom_event",
        Data = new MpEventData
        {
            TimestampUnixtimeMs = e.Context.OccurredAt.ToUnixTimeMilliseconds(),
            SourceMessageId = e.Context.EventId.ToString("D"),
            SessionUuid = e.Context.User.SessionId,
            EventName = e.Name,
            CustomEventType = customEventType,
            CustomAttributes = attributes,
        },
    };

    private static MpProduct Product(ProductLine line)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        if (line.ListPrice is { } list)
        {
            attributes["list_price"] = list.ToString(CultureInfo.InvariantCulture);
        }

        if (line.ProductId is { } productId)
        {
            attributes["product_id"] = productId;
        }

        return new MpProduct
        {
            Id = line.Sku,
            Name = line.Name,
            Brand = line.Brand,
            Category = line.Category,
            Variant = line.Variant,
            Price = line.UnitPrice,
            Quantity = line.Quantity,
            TotalProductAmount = line.LineTotal,
            CustomAttributes = attributes.Count > 0 ? attributes : null,
        };
    }

    private static Dictionary<string, string>? Attributes(TrackingEvent e, params (string Key, string? Value)[] extra)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        if (e.Context.StoreKey is { } store)
        {
            attributes["store_key"] = store;
        }

        if (e.Context.Channel is { } channel)
        {
            attributes["channel"] = channel;
        }

        foreach (var (key, value) in extra)
        {
            if (!string.IsNullOrEmpty(value))
            {
                attributes[key] = value;
            }
        }

        return attributes.Count > 0 ? attributes : null;
    }

    private static (Dictionary<string, string> Set, List<string> Removed) MergeAttributes(IEnumerable<TrackingEvent> ordered)
    {
        var set = new Dictionary<string, string>(StringComparer.Ordinal);
        var removed = new List<string>();
        foreach (var attributes in ordered.Select(e => e switch
                 {
                     SignedUp s => s.Attributes,
                     ProfileUpdated p => p.Attributes,
                     _ => null,
                 }).OfType<ProfileAttributes>())
        {
            foreach (var (key, value) in attributes.Set)
            {
                set[key] = value;
                removed.Remove(key);
            }

            foreach (var key in attributes.Removed)
            {
                set.Remove(key);
                if (!removed.Contains(key))
                {
                    removed.Add(key);
                }
            }
        }

        return (set, removed);
    }

    /// <summary>The newest state of each purpose across the events (by the time consent was given).</summary>
    private static MpConsentState? ConsentState(IEnumerable<TrackingEvent> ordered)
    {
        var gdpr = new SortedDictionary<string, ConsentPurpose>(StringComparer.Ordinal);
        ConsentPurpose? ccpa = null;
        foreach (var consent in ordered.Select(e => e.Context.Consent).OfType<ConsentSnapshot>())
        {
            foreach (var (purpose, state) in consent.Gdpr)
            {
                var key = purpose.Trim().ToLowerInvariant();
                if (!gdpr.TryGetValue(key, out var existing) || existing.At <= state.At)
                {
                    gdpr[key] = state;
                }
            }

            if (consent.CcpaDataSaleOptOut is { } optOut && (ccpa is null || ccpa.At <= optOut.At))
            {
                ccpa = optOut;
            }
        }

        if (gdpr.Count == 0 && ccpa is null)
        {
            return null;
        }

        return new MpConsentState
        {
            Gdpr = gdpr.Count > 0 ? gdpr.ToDictionary(p => p.Key, p => Consent(p.Value), StringComparer.Ordinal) : null,
            Ccpa = ccpa is null ? null : new Dictionary<string, MpConsent> { ["data_sale_opt_out"] = Consent(ccpa) },
        };
    }

    private static MpConsent Consent(ConsentPurpose purpose) => new()
    {
        Consented = purpose.Consented,
        Document = purpose.Document,
        TimestampUnixtimeMs = purpose.At.ToUnixTimeMilliseconds(),
        Location = purpose.Location,
    };

    private static MpDeviceInfo? DeviceInfo(DeviceIds? devices) => devices is null
        ? null
        : new MpDeviceInfo
        {
            IosAdvertisingId = devices.IosAdvertisingId,
            IosIdfv = devices.IosVendorId,
            AndroidAdvertisingId = devices.AndroidAdvertisingId,
            AndroidUuid = devices.AndroidUuid,
        };

    private static string Origin(OrderOrigin origin) => origin switch
    {
        OrderOrigin.Created => "created",
        OrderOrigin.Imported => "imported",
        OrderOrigin.Recurring => "recurring",
        OrderOrigin.Storefront => "storefront",
        _ => "unknown",
    };

    private static string? Invariant(decimal? value) => value?.ToString(CultureInfo.InvariantCulture);
}
