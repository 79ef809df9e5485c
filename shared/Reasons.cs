namespace CtMparticle;

/// <summary>
/// Every reason the relay gives for not delivering something. The snake_case <see cref="ReasonCodes.Code"/> is
/// the stable form that appears in logs, quarantine records, reports and metrics; the enum member is for code.
/// </summary>
internal enum Reason
{
    // Rejected: the body itself is unusable. Quarantined with the original bytes.
    EmptyBody,
    BodyTooLarge,
    NotUtf8,
    MalformedJson,
    NotAnObject,
    TooDeep,
    MissingField,
    WrongType,
    UnsupportedFormat,

    // Filtered: a valid delivery the relay deliberately does not forward.
    SubscriptionTestNotification,
    UnsupportedNotificationType,
    UnsupportedMessageType,
    ChangeNotificationNotTracked,
    TransactionNotTracked,
    RefundNotSettled,
    CustomFieldNotMapped,
    CustomerRemovedFromOrder,
    CustomerDeletion,
    IdentityOnly,

    // Needs more data before it can be mapped (the relay fetches, or quarantines for replay).
    PayloadNotIncluded,
    OrderContextMissing,
    PaymentContextMissing,

    // Invalid business data: decoded, but it cannot become a correct mParticle event.
    MixedCurrencies,
    InvalidMoney,
    InvalidCurrency,
    InvalidQuantity,
    InvalidSequenceNumber,
    NoLineItems,
    NoIdentity,
    BatchTooLarge,
    NoInputForStore,
    UnknownSource,

    // Consent and delivery.
    ConsentNotGiven,
    ConsentWithdrawn,
    ConsentSuperseded,
    MParticleRejected,
    StoredEventUnreadable,
    InFlightDamaged,

    // Governance.
    PlanViolation,

    // The relay itself: a failure on one input that is not transient. Quarantined so the rest goes on.
    InternalError,
    TooLargeToStore,
}

internal static class ReasonCodes
{
    /// <summary>The stable snake_case code of a reason.</summary>
    public static string Code(this Reason reason) => reason switch
    {
        Reason.EmptyBody => "empty_body",
        Reason.BodyTooLarge => "body_too_large",
        Reason.NotUtf8 => "not_utf8",
        Reason.MalformedJson => "malformed_json",
        Reason.NotAnObject => "not_an_object",
        Reason.TooDeep => "too_deep",
        Reason.MissingField => "missing_field",
        Reason.WrongType => "wrong_type",
        Reason.UnsupportedFormat => "unsupported_format",
        Reason.SubscriptionTestNotification => "subscription_test_notification",
        Reason.UnsupportedNotificationType => "unsupported_notification_type",
        Reason.UnsupportedMessageType => "unsupported_message_type",
        Reason.ChangeNotificationNotTracked => "change_notification_not_tracked",
        Reason.TransactionNotTracked => "transaction_not_tracked",
        Reason.RefundNotSettled => "refund_not_settled",
        Reason.CustomFieldNotMapped => "custom_field_not_mapped",
        Reason.CustomerRemovedFromOrder => "customer_removed_from_order",
        Reason.CustomerDeletion => "customer_deletion",
        Reason.IdentityOnly => "identity_only",
        Reason.PayloadNotIncluded => "payload_not_included",
        Reason.OrderContextMissing => "order_context_missing",
        Reason.PaymentContextMissing => "payment_context_missing",
        Reason.MixedCurrencies => "mixed_currencies",
        Reason.InvalidMoney => "invalid_money",
        Reason.InvalidCurrency => "invalid_currency",
        Reason.InvalidQuantity => "invalid_quantity",
        Reason.InvalidSequenceNumber => "invalid_sequence_number",
        Reason.NoLineItems => "no_line_items",
        Reason.NoIdentity => "no_identity",
        Reason.BatchTooLarge => "batch_too_large",
        Reason.NoInputForStore => "no_input_for_store",
        Reason.UnknownSource => "unknown_source",
        Reason.ConsentNotGiven => "consent_not_given",
        Reason.ConsentWithdrawn => "consent_withdrawn",
        Reason.ConsentSuperseded => "consent_superseded",
        Reason.MParticleRejected => "mparticle_rejected",
        Reason.StoredEventUnreadable => "stored_event_unreadable",
        Reason.InFlightDamaged => "inflight_damaged",
        Reason.PlanViolation => "plan_violation",
        Reason.InternalError => "internal_error",
        Reason.TooLargeToStore => "too_large_to_store",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "Every reason needs a code."),
    };
}
