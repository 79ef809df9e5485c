using Microsoft.Extensions.Logging;

namespace CtMparticle.Telemetry;

/// <summary>
/// Every decision the relay takes, as source-generated structured logs with stable event ids. Only ids, types,
/// codes and counts are logged: never bodies, e-mails, names or addresses, and never an identifier's value (an
/// anonymous, device or advertising id, an e-mail's hash): those name a person. A log of an identity decision names
/// the identifier's type and the customer or event; <c>ctmp identity show</c> and <c>explain</c> give the values to
/// whoever may read the store. <c>LayeringTests.RelayLogs_NeverTakeAnIdentifiersValue</c> holds this.
/// </summary>
internal static partial class RelayLog
{
    /// <summary>
    /// The warnings that speak of one input or event each (quarantined, plan violation, placeholder dropped, link
    /// conflicted or limited, withdrawn), as opposed to the run: ctmp leaves them off the console without --verbose.
    /// A new per-event warning belongs here.
    /// </summary>
    public static readonly System.Collections.Frozen.FrozenSet<int> PerEventWarnings = System.Collections.Frozen.FrozenSet.Create(1004, 1007, 1013, 1015, 1017, 2007);

    [LoggerMessage(1001, LogLevel.Information, "Accepted {MessageType} {MessageId}: {Stored} event(s) stored, {Duplicates} duplicate(s), {Blocked} blocked")]
    public static partial void Accepted(ILogger logger, string? messageType, string? messageId, int stored, int duplicates, int blocked);

    [LoggerMessage(1002, LogLevel.Information, "Duplicate {MessageType} {MessageId}: every event was seen before")]
    public static partial void Duplicate(ILogger logger, string? messageType, string? messageId);

    [LoggerMessage(1003, LogLevel.Information, "Filtered {MessageType} {MessageId} ({ResourceTypeId} {ResourceId}): {Reason}")]
    public static partial void Filtered(ILogger logger, string? messageType, string? messageId, string? resourceTypeId, string? resourceId, string reason);

    [LoggerMessage(1004, LogLevel.Warning, "Quarantined {MessageType} {MessageId} ({ResourceTypeId} {ResourceId}) at {Stage}: {Reason} → {Location}")]
    public static partial void Quarantined(ILogger logger, string? messageType, string? messageId, string? resourceTypeId, string? resourceId, string stage, string reason, string location);

    [LoggerMessage(1005, LogLevel.Information, "Blocked event {TrackingEventId} ({EventName}) of {MessageId}: regime {Regime}, region {Region}, reason {Reason}")]
    public static partial void Blocked(ILogger logger, Guid trackingEventId, string eventName, string? messageId, string regime, string? region, string reason);

    [LoggerMessage(1007, LogLevel.Warning, "Plan violation by event {TrackingEventId} ({EventName}) of {MessageId}: policy {Action}, {Count} error(s)")]
    public static partial void PlanViolation(ILogger logger, Guid trackingEventId, string eventName, string? messageId, string action, int count);

    [LoggerMessage(1008, LogLevel.Error, "Relay failure on {MessageType} {MessageId} at {Stage}: {ExceptionType}; the input is quarantined as internal_error and the batch goes on")]
    public static partial void InputFailed(ILogger logger, string exceptionType, string stage, string? messageType, string? messageId);

    [LoggerMessage(3002, LogLevel.Error, "commercetools refused the relay's credentials (HTTP {Status}); fetching is paused for {PauseSeconds} s and the messages that need it are retried, not quarantined: {Problem}")]
    public static partial void CommercetoolsCredentialsRefused(ILogger logger, int status, double pauseSeconds, string problem);

    [LoggerMessage(1009, LogLevel.Information, "Consent update {TrackingEventId} of {MessageId} is older than what is known for every purpose it states: recorded, nothing sent")]
    public static partial void Superseded(ILogger logger, Guid trackingEventId, string? messageId);

    [LoggerMessage(2010, LogLevel.Information, "Held {Count} event(s) whose user's consent is not known yet; looked at again from {Until:o}")]
    public static partial void Held(ILogger logger, int count, DateTimeOffset until);

    [LoggerMessage(2011, LogLevel.Information, "Push skipped: another pusher holds this store's push lease")]
    public static partial void PushLeaseHeld(ILogger logger);

    [LoggerMessage(1006, LogLevel.Debug, "Order context saved for order {OrderId} ({PaymentCount} payment(s))")]
    public static partial void OrderContextSaved(ILogger logger, string orderId, int paymentCount);

    [LoggerMessage(2001, LogLevel.Information, "Push: {Pending} pending read, {Requests} request(s), {Delivered} delivered, {Withdrawn} withdrawn, {Quarantined} quarantined, {Deferred} deferred; oldest pending {OldestAgeSeconds:F0}s")]
    public static partial void PushSummary(ILogger logger, int pending, int requests, int delivered, int withdrawn, int quarantined, int deferred, double oldestAgeSeconds);

    [LoggerMessage(2002, LogLevel.Information, "Sent request {RequestId} to input {Input}: {Batches} batch(es), {Bytes} bytes, status {Status} in {LatencyMs:F0} ms")]
    public static partial void Sent(ILogger logger, string requestId, string input, int batches, int bytes, int status, double latencyMs);

    [LoggerMessage(2003, LogLevel.Warning, "Input {Input} rate limited (limit {Limit}); retrying after {RetryAfterSeconds:F1}s")]
    public static partial void RateLimited(ILogger logger, string input, string? limit, double retryAfterSeconds);

    [LoggerMessage(2004, LogLevel.Error, "Input {Input} refused the credentials (status {Status}); events stay pending. Check the settings named by ApiKeySetting/ApiSecretSetting.")]
    public static partial void AuthFailed(ILogger logger, string input, int status);

    [LoggerMessage(2005, LogLevel.Warning, "Input {Input} failed transiently (status {Status}{TransportError}); retrying after {BackoffSeconds:F1}s")]
    public static partial void Transient(ILogger logger, string input, int status, string? transportError, double backoffSeconds);

    [LoggerMessage(2006, LogLevel.Warning, "Input {Input} rejected request {RequestId} with {Status}; splitting {Batches} batch(es) to find the bad one")]
    public static partial void Splitting(ILogger logger, string input, string requestId, int status, int batches);

    [LoggerMessage(2012, LogLevel.Debug, "Event {TrackingEventId} goes as customer {CustomerId}: its {IdentityType} is linked to them (identity rules {RulesVersion})")]
    public static partial void IdentityAttached(ILogger logger, Guid trackingEventId, string customerId, string identityType, string rulesVersion);

    [LoggerMessage(2013, LogLevel.Debug, "Event {TrackingEventId} goes without its {IdentityType}: {Rule} (identity rules {RulesVersion}); ctmp identity explain names it")]
    public static partial void IdentityWithheld(ILogger logger, Guid trackingEventId, string identityType, string rule, string rulesVersion);

    [LoggerMessage(2014, LogLevel.Information, "Identity: {Attached} event(s) joined to a known customer by a link, {Withheld} identifier(s) withheld from events by the identity rules {RulesVersion}")]
    public static partial void IdentityApplied(ILogger logger, int attached, int withheld, string rulesVersion);

    [LoggerMessage(2007, LogLevel.Warning, "Withdrew event {TrackingEventId} ({EventName}) before sending: {Reason}")]
    public static partial void Withdrawn(ILogger logger, Guid trackingEventId, string eventName, string reason);

    [LoggerMessage(2008, LogLevel.Error, "Input {Input} cannot be sent to: {Problem}. Events stay pending.")]
    public static partial void InputMisconfigured(ILogger logger, string input, string problem);

    [LoggerMessage(2009, LogLevel.Information, "Resending in-flight request {RequestId} to input {Input} (a previous run did not finish it)")]
    public static partial void Resending(ILogger logger, string requestId, string input);

    [LoggerMessage(1010, LogLevel.Warning, "Collector source {Source} is above its rate: {Count} call(s) answered 429")]
    public static partial void CollectorThrottled(ILogger logger, string source, int count);

    [LoggerMessage(1011, LogLevel.Error, "Collector: the store could not take a call ({ExceptionType}); answered 503 with Retry-After")]
    public static partial void CollectorUnavailable(ILogger logger, string exceptionType);

    [LoggerMessage(1012, LogLevel.Information, "Purchase {TrackingEventId}: the same order from another source ({MessageId}) merged into the one still pending")]
    public static partial void PurchaseMerged(ILogger logger, Guid trackingEventId, string? messageId);

    [LoggerMessage(1013, LogLevel.Warning, "Dropped a placeholder {IdentityType} from event {TrackingEventId} ({EventName}) of {MessageId}: the identity rules {RulesVersion} block it")]
    public static partial void IdentityBlocked(ILogger logger, string identityType, Guid trackingEventId, string eventName, string? messageId, string rulesVersion);

    [LoggerMessage(1014, LogLevel.Information, "Linked an identifier of type {IdentityType} to customer {CustomerId} (event {TrackingEventId}, identity rules {RulesVersion}); ctmp identity show lists it")]
    public static partial void IdentityLinked(ILogger logger, string customerId, string identityType, Guid trackingEventId, string rulesVersion);

    [LoggerMessage(1015, LogLevel.Warning, "Shared identifier: an identifier of type {IdentityType} was seen with {Customers} customers; its link to customer {CustomerId} is now conflicted (identity rules {RulesVersion})")]
    public static partial void IdentityConflicted(ILogger logger, string identityType, string customerId, int customers, string rulesVersion);

    [LoggerMessage(1016, LogLevel.Information, "Customer {CustomerId} was deleted ({MessageId}): forgot {Count} identity link(s)")]
    public static partial void IdentityForgotten(ILogger logger, string customerId, int count, string? messageId);

    [LoggerMessage(1017, LogLevel.Warning, "Limited: customer {CustomerId} gained another identifier of type {IdentityType}, beyond {Limit} in {WindowDays} days; the link is kept as limited and never used (identity rules {RulesVersion})")]
    public static partial void IdentityLimited(ILogger logger, string customerId, string identityType, int limit, int windowDays, string rulesVersion);

    [LoggerMessage(1018, LogLevel.Information, "Revoked a link of type {IdentityType} to customer {CustomerId}: {Why} (identity rules {RulesVersion})")]
    public static partial void IdentityRevoked(ILogger logger, string customerId, string identityType, string why, string rulesVersion);

    [LoggerMessage(1019, LogLevel.Information, "Alias {MessageId}: customer {CustomerId} and the call's {IdentityType} are one person; recorded as a link, not sent as an event")]
    public static partial void IdentityAliased(ILogger logger, string? messageId, string customerId, string identityType);

    [LoggerMessage(1020, LogLevel.Information, "{MessageType} {MessageId} settled again after its batch was written: an event it took as new had been stored before by another message")]
    public static partial void SettledAgain(ILogger logger, string? messageType, string messageId);

    [LoggerMessage(1021, LogLevel.Debug, "Event {TrackingEventId} of customer {CustomerId} links nothing: it is a copy of an event consent refused when it was first decided")]
    public static partial void IdentityCopyOfWithheld(ILogger logger, string customerId, Guid trackingEventId);

    [LoggerMessage(3001, LogLevel.Information, "Retention: forgot {Count} dedupe record(s) older than {Cutoff:o}")]
    public static partial void Purged(ILogger logger, int count, DateTimeOffset cutoff);

    [LoggerMessage(3005, LogLevel.Information, "Retention: forgot {Count} identity link(s) last seen before {Cutoff:o}")]
    public static partial void LinksPurged(ILogger logger, int count, DateTimeOffset cutoff);

    [LoggerMessage(3006, LogLevel.Information, "Retention: forgot {Count} identity decision(s) made before {Cutoff:o}")]
    public static partial void DecisionsPurged(ILogger logger, int count, DateTimeOffset cutoff);

    [LoggerMessage(3007, LogLevel.Information, "Retention: forgot {Count} {What}(s) last written before {Cutoff:o}")]
    public static partial void PersonalDataPurged(ILogger logger, string what, int count, DateTimeOffset cutoff);

    [LoggerMessage(3004, LogLevel.Information, "Retention: forgot {Count} event(s) quarantined at push before {Cutoff:o}; their records can no longer be replayed")]
    public static partial void ParkedPurged(ILogger logger, int count, DateTimeOffset cutoff);
}
