namespace CtMparticle.Tracking;

/// <summary>
/// The business identity of each canonical event. The event id (mParticle <c>source_message_id</c>) is the UUIDv5
/// of this key and the dedupe table keys on it, so a redelivery, a second subscription, an <c>OrderImported</c>
/// after an <c>OrderCreated</c>, or a replay all collapse into one delivery.
/// </summary>
internal static class EventKeys
{
    /// <summary>One purchase per order, whichever message announced it (a storefront's Order Completed included, when its source names the project).</summary>
    public static string Purchase(string? projectKey, string orderId) => $"{Project(projectKey)}/order/{orderId}/purchase";

    /// <summary>Whether a dedupe key is a purchase's (<see cref="Purchase"/>), one that another source may share.</summary>
    public static bool IsPurchase(string dedupeKey) =>
        dedupeKey.EndsWith("/purchase", StringComparison.Ordinal) && dedupeKey.Contains("/order/", StringComparison.Ordinal);

    /// <summary>One refund per refund transaction.</summary>
    public static string RefundTransaction(string? projectKey, string paymentId, string transactionId) =>
        $"{Project(projectKey)}/payment/{paymentId}/transaction/{transactionId}/refund";

    /// <summary>One return event per return item (a later <c>ReturnInfoSet</c> repeating it adds nothing).</summary>
    public static string ReturnItem(string? projectKey, string orderId, string returnItemId) =>
        $"{Project(projectKey)}/order/{orderId}/return-item/{returnItemId}";

    /// <summary>With <c>Mapping:Returns = RefundWithAmount</c>: one refund per return item.</summary>
    public static string ReturnItemRefund(string? projectKey, string orderId, string returnItemId) =>
        $"{Project(projectKey)}/order/{orderId}/return-item/{returnItemId}/refund";

    /// <summary>Everything else: one event per commercetools message.</summary>
    public static string Message(string? projectKey, string messageId) => $"{Project(projectKey)}/message/{messageId}";

    private static string Project(string? projectKey) => string.IsNullOrEmpty(projectKey) ? "-" : projectKey;
}
