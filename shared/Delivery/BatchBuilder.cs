using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using CtMparticle.Configuration;
using CtMparticle.Consent;
using CtMparticle.Identity;
using CtMparticle.Tracking;

namespace CtMparticle.Delivery;

/// <summary>The closed set of results of turning one user's canonical events into an Events API batch.</summary>
internal abstract record BatchResult;

/// <summary>A batch ready to send, serialized once (<see cref="Json"/> is what goes on the wire).</summary>
internal sealed record BuiltBatch(InputRoute Route, MpBatch Batch, byte[] Json) : BatchResult;

internal sealed record BatchRejected(Reason Reason, string Detail) : BatchResult;

/// <summary>A batch object before serialization: what governance validates.</summary>
internal sealed record ComposedBatch(InputRoute Route, MpBatch Batch) : BatchResult;

/// <summary>
/// Canonical events → mParticle Events API batches. Pure. One batch holds one user's events (mParticle attributes
/// a whole batch to one profile), goes to one input, and stays under 128 KB.
/// </summary>
internal sealed class BatchBuilder(MappingOptions mapping, InputRouter router, IdentityMapper identities)
{
    /// <summary>mParticle: a batch "should not exceed 128kb".</summary>
    public const int MaxBatchBytes = 128 * 1024;

    public BatchBuilder(MappingOptions mapping, MParticleOptions routing)
        : this(mapping, new InputRouter(mapping, routing), new IdentityMapper(mapping.Identity))
    {
    }

    public BatchResult Build(TrackingEvent e) => BuildGrouped([e]);

    /// <summary>Builds one batch from events of one user (equal <see cref="BatchPacker.GroupKey"/>).</summary>
    public BatchResult Build(IReadOnlyList<TrackingEvent> events)
    {
        ArgumentOutOfRangeException.ThrowIfZero(events.Count);
        var groupKey = BatchPacker.GroupKey(events[0], router, identities);
        if (events.Skip(1).Any(e => BatchPacker.GroupKey(e, router, identities) != groupKey))
        {
            throw new ArgumentException("A batch holds one user's events for one input; group events by GroupKey first.", nameof(events));
        }

        return BuildGrouped(events);
    }

    /// <summary>Builds one batch from events the caller already grouped by <see cref="BatchPacker.GroupKey"/>, serialized once.</summary>
    internal BatchResult BuildGrouped(IReadOnlyList<TrackingEvent> events)
    {
        if (Compose(events) is not ComposedBatch composed)
        {
            return Compose(events);
        }

        var json = JsonSerializer.SerializeToUtf8Bytes(composed.Batch, MParticleJsonContext.Default.MpBatch);
        return json.Length > MaxBatchBytes
            ? new BatchRejected(Reason.BatchTooLarge, $"The batch is {json.Length:N0} bytes; mParticle takes at most {MaxBatchBytes:N0}. An order this large needs its products trimmed before it can be sent.")
            : new BuiltBatch(composed.Route, composed.Batch, json);
    }

    /// <summary>The batch object for events of one user, not serialized (what governance validates).</summary>
    /// <param name="forPlanCheck">
    /// Only what the plan check reads (the events, the user attributes; routing and identities still decide whether
    /// there is a batch at all): no request id (empty) and no consent state, which cost a hash and a merge per event.
    /// Such a batch is never sent.
    /// </param>
    internal BatchResult Compose(IReadOnlyList<TrackingEvent> events, bool forPlanCheck = false)
    {
        var first = events[0];

        if (router.Route(first.Context.StoreKey) is not { } route)
        {
            return new BatchRejected(Reason.NoInputForStore, first.Context.StoreKey is { } store
                ? $"Store '{store}' is not in MParticle:Stores and there is no MParticle:DefaultInput; add the store with its input."
                : "The event has no store and there is no MParticle:DefaultInput.");
        }

        var userIdentities = identities.For(first.Context.User);
        if (userIdentities.Count == 0)
        {
            return new BatchRejected(Reason.NoIdentity, "The event has no identity the configuration sends (customer id, e-mail, anonymous id); mParticle could not attribute it.");
        }

        var ordered = events.Count == 1 ? [first] : events.OrderBy(e => e.Context.OccurredAt).ThenBy(e => e.Context.EventId).ToArray();
        var (setAttributes, removedAttributes) = MergeAttributes(ordered);
        var network = ordered.LastOrDefault(e => e.Context.Network is not null)?.Context.Network;
        return new ComposedBatch(route, new MpBatch
        {
            Environment = route.Environment,
            SourceRequestId = forPlanCheck ? string.Empty : RequestId(ordered),
            UserIdentities = userIdentities,
            UserAttributes = setAttributes.Count > 0 ? setAttributes : null,
            DeletedUserAttributes = removedAttributes.Count > 0 ? removedAttributes : null,
            DeviceInfo = DeviceInfo(first.Context.User.Devices, network?.UserAgent),
            Ip = network?.Ip,
            Context = string.IsNullOrEmpty(mapping.DataPlan.PlanId)
                ? null
                : new MpContext { DataPlan = new MpDataPlan { PlanId = mapping.DataPlan.PlanId, PlanVersion = mapping.DataPlan.PlanVersion } },
            ConsentState = forPlanCheck ? null : ConsentState(ordered),
            Events = ordered.Select(MapEvent).ToArray(),
        });
    }

    /// <summary>
    /// Deterministic per set of events, so a retried batch carries the same id (mParticle dedupes on it): the v5 UUID of
    /// <c>request/</c> and the events' ids in <c>N</c> form, in ordinal order, joined by commas. Never change what it
    /// gives: a batch retried across an upgrade must carry the id it had. Written here as UTF-8 straight from the ids'
    /// bytes (an id's <c>N</c> form is its big-endian bytes in lower-case hex, so their ordinal order is that of the
    /// bytes), without a string per id.
    /// </summary>
    public static string RequestId(IReadOnlyList<TrackingEvent> events)
    {
        const int Hex = 32;
        var keys = events.Count <= 64 ? stackalloc UInt128[events.Count] : new UInt128[events.Count];
        Span<byte> bytes = stackalloc byte[16];
        for (var i = 0; i < keys.Length; i++)
        {
            events[i].Context.EventId.TryWriteBytes(bytes, bigEndian: true, out _);
            keys[i] = BinaryPrimitives.ReadUInt128BigEndian(bytes);
        }

        keys.Sort();
        var length = RequestPrefix.Length + (keys.Length * (Hex + 1)) - (keys.Length > 0 ? 1 : 0);
        var name = length <= 2048 ? stackalloc byte[length] : new byte[length];
        RequestPrefix.CopyTo(name);
        var at = RequestPrefix.Length;
        for (var i = 0; i < keys.Length; i++)
        {
            if (i > 0)
            {
                name[at++] = (byte)',';
            }

            BinaryPrimitives.WriteUInt128BigEndian(bytes, keys[i]);
            foreach (var b in bytes)
            {
                name[at++] = HexDigits[b >> 4];
                name[at++] = HexDigits[b & 0xF];
            }
        }

        return Uuid5.Create(Uuid5.RelayNamespace, name).ToString("D");
    }

    private static ReadOnlySpan<byte> RequestPrefix => "request/"u8;

    private static ReadOnlySpan<byte> HexDigits => "0123456789abcdef"u8;


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
        OrderReturned r => Custom(e, CustomEventTypes.Transaction, Attributes(e,
            ("order_id", r.OrderId), ("transaction_id", r.TransactionId), ("return_item_id", r.ReturnItemId), ("sku", r.Item.Sku),
            ("quantity", r.Item.Quantity.ToString(CultureInfo.InvariantCulture)), ("shipment_state", r.ShipmentState), ("payment_state", r.PaymentState))),
        ProductViewed p => Commerce(e, p.Currency, new MpProductAction { Action = ProductActions.ViewDetail, Products = [Product(p.Product)] }, Attributes(e)),
        ProductListViewed l => new MpEvent
        {
            EventType = "commerce_event",
            Data = Data(e) with
            {
                CurrencyCode = l.Currency,
                ProductImpressions = [new MpProductImpression { ProductImpressionList = l.ListName, Products = [.. l.Products.Select(Product)] }],
                CustomAttributes = Attributes(e),
            },
        },
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
        ScreenViewed v => new MpEvent
        {
            EventType = "screen_view",
            Data = Data(e) with { ScreenName = v.ScreenName, CustomAttributes = Attributes(e, [.. v.Attributes.Select(a => (a.Key, (string?)a.Value))]) },
        },
        StorefrontEvent s => Custom(e, s.IsSearch ? CustomEventTypes.Search : CustomEventTypes.Other, Attributes(e, [.. s.Attributes.Select(a => (a.Key, (string?)a.Value))])),
        _ => throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "Every canonical event needs an mParticle mapping."),
    };

    /// <summary>What every event's data carries: when it happened, its id (mParticle dedupes on it), its session.</summary>
    private static MpEventData Data(TrackingEvent e) => new()
    {
        TimestampUnixtimeMs = e.Context.OccurredAt.ToUnixTimeMilliseconds(),
        SourceMessageId = e.Context.EventId.ToString("D"),
        SessionUuid = e.Context.User.SessionId,
    };

    private static MpEvent Commerce(TrackingEvent e, string? currency, MpProductAction action, IReadOnlyDictionary<string, string>? attributes) => new()
    {
        EventType = "commerce_event",
        Data = Data(e) with { CurrencyCode = currency, ProductAction = action, CustomAttributes = attributes },
    };

    private static MpEvent Custom(TrackingEvent e, string customEventType, IReadOnlyDictionary<string, string>? attributes) => new()
    {
        EventType = "custom_event",
        Data = Data(e) with { EventName = e.Name, CustomEventType = customEventType, CustomAttributes = attributes },
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

    /// <summary>The newest state of each purpose across the events (<see cref="ConsentMerge"/>), purposes in order.</summary>
    private static MpConsentState? ConsentState(IEnumerable<TrackingEvent> ordered)
    {
        if (ConsentMerge.Newest(ordered.Select(e => e.Context.Consent)) is not { IsEmpty: false } consent)
        {
            return null;
        }

        var gdpr = new SortedDictionary<string, MpConsent>(StringComparer.Ordinal);
        foreach (var (purpose, state) in consent.Gdpr)
        {
            gdpr[purpose.Trim().ToLowerInvariant()] = Consent(state);
        }

        return new MpConsentState
        {
            Gdpr = gdpr.Count > 0 ? gdpr.ToDictionary(StringComparer.Ordinal) : null,
            Ccpa = consent.CcpaDataSaleOptOut is { } ccpa ? new Dictionary<string, MpConsent> { [ConsentSnapshot.CcpaPurpose] = Consent(ccpa) } : null,
        };
    }

    private static MpConsent Consent(ConsentPurpose purpose) => new()
    {
        Consented = purpose.Consented,
        Document = purpose.Document,
        TimestampUnixtimeMs = purpose.At.ToUnixTimeMilliseconds(),
        Location = purpose.Location,
    };

    private static MpDeviceInfo? DeviceInfo(DeviceIds? devices, string? userAgent) => devices is null && userAgent is null
        ? null
        : new MpDeviceInfo
        {
            IosAdvertisingId = devices?.IosAdvertisingId,
            IosIdfv = devices?.IosVendorId,
            AndroidAdvertisingId = devices?.AndroidAdvertisingId,
            AndroidUuid = devices?.AndroidUuid,
            HttpHeaderUserAgent = userAgent,
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
