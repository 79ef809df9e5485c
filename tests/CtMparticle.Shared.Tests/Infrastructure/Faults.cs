using CtMparticle.Configuration;
using CtMparticle.Consent;
using CtMparticle.Delivery;
using CtMparticle.Storage;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Infrastructure;

/// <summary>
/// A simulated process crash: thrown by a fault plan, never by the code under test. An I/O failure to the relay, so
/// it escapes the pipeline (as a crash would end it) instead of being quarantined as the input's own fault.
/// </summary>
public sealed class InjectedCrash(string where) : IOException($"Injected crash {where}");

public enum CrashTiming
{
    /// <summary>Before the operation: nothing was written.</summary>
    Before,
    /// <summary>After the operation completed: it was written (or sent), but the caller never learns it.</summary>
    After,
}

/// <summary>
/// Counts I/O operations across all decorated ports and crashes at one of them, once. With <see cref="CrashAt"/>
/// unset it only counts, which tells a test how many crash points a scenario has.
/// </summary>
public sealed class FaultPlan
{
    private int calls;
    private int fired;
    private bool disarmed;

    public int? CrashAt { get; init; }

    public CrashTiming Timing { get; init; } = CrashTiming.After;

    public int Calls => Volatile.Read(ref calls);

    public List<string> Log { get; } = [];

    /// <summary>Stops counting and crashing (for the checks after a scenario).</summary>
    public void Disarm() => Volatile.Write(ref disarmed, true);

    public async Task<T> Run<T>(string operation, Func<Task<T>> inner)
    {
        if (Volatile.Read(ref disarmed))
        {
            return await inner();
        }

        var number = Interlocked.Increment(ref calls);
        var crash = CrashAt == number && Interlocked.Exchange(ref fired, 1) == 0;
        lock (Log)
        {
            Log.Add($"{number}:{operation}");
        }

        if (crash && Timing == CrashTiming.Before)
        {
            throw new InjectedCrash($"before {operation} (#{number})");
        }

        var result = await inner();
        if (crash)
        {
            throw new InjectedCrash($"after {operation} (#{number})");
        }

        return result;
    }

    public Task Run(string operation, Func<Task> inner) => Run(operation, async () =>
    {
        await inner();
        return true;
    });
}

internal sealed class FaultyEventStore(IEventStore inner, FaultPlan plan) : IEventStore
{
    public Task<AddResult> TryAddAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken) =>
        plan.Run("events.add", () => inner.TryAddAsync(trackingEvent, messageId, cancellationToken));

    public Task<AddResult> WithholdAsync(TrackingEvent trackingEvent, string? messageId, CancellationToken cancellationToken) =>
        plan.Run("events.withhold", () => inner.WithholdAsync(trackingEvent, messageId, cancellationToken));

    public Task<IReadOnlyList<PendingEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken) =>
        plan.Run("events.read", () => inner.ReadPendingAsync(max, cancellationToken));

    public Task HoldPendingAsync(IReadOnlyCollection<PendingEventKey> events, DateTimeOffset until, CancellationToken cancellationToken) =>
        plan.Run("events.hold", () => inner.HoldPendingAsync(events, until, cancellationToken));

    public Task RemovePendingAsync(IReadOnlyCollection<PendingEventKey> events, EventFate fate, CancellationToken cancellationToken) =>
        plan.Run("events.remove", () => inner.RemovePendingAsync(events, fate, cancellationToken));

    public Task<bool> ReplacePendingAsync(Guid eventId, Func<TrackingEvent, TrackingEvent?> replace, CancellationToken cancellationToken) =>
        plan.Run("events.replace", () => inner.ReplacePendingAsync(eventId, replace, cancellationToken));

    public Task<int> RestoreParkedAsync(IReadOnlyCollection<Guid> eventIds, CancellationToken cancellationToken) =>
        plan.Run("events.restore", () => inner.RestoreParkedAsync(eventIds, cancellationToken));

    public Task<int> PurgeParkedAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) => inner.PurgeParkedAsync(olderThan, cancellationToken);

    public Task SaveInFlightAsync(InFlightRequest request, CancellationToken cancellationToken) =>
        plan.Run("inflight.save", () => inner.SaveInFlightAsync(request, cancellationToken));

    /// <summary>One operation, as the embedded stores make it one commit (a crash before it saved none, after it all).</summary>
    public Task SaveInFlightAsync(IReadOnlyList<InFlightRequest> requests, CancellationToken cancellationToken) =>
        plan.Run($"inflight.save×{requests.Count}", () => inner.SaveInFlightAsync(requests, cancellationToken));

    public Task<IReadOnlyList<InFlightRequest>> ReadInFlightAsync(CancellationToken cancellationToken) =>
        plan.Run("inflight.read", () => inner.ReadInFlightAsync(cancellationToken));

    public Task DeleteInFlightAsync(string requestId, CancellationToken cancellationToken) =>
        plan.Run("inflight.delete", () => inner.DeleteInFlightAsync(requestId, cancellationToken));

    public Task<PendingStats> PendingStatsAsync(CancellationToken cancellationToken) => inner.PendingStatsAsync(cancellationToken);

    public Task<int> PurgeSeenAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) => inner.PurgeSeenAsync(olderThan, cancellationToken);
}

internal sealed class FaultyOrderStore(IOrderContextStore inner, FaultPlan plan) : IOrderContextStore
{
    public Task SaveAsync(OrderContext order, CancellationToken cancellationToken) => plan.Run("orders.save", () => inner.SaveAsync(order, cancellationToken));

    public Task<OrderContext?> FindByOrderAsync(string orderId, CancellationToken cancellationToken) =>
        plan.Run("orders.find", () => inner.FindByOrderAsync(orderId, cancellationToken));

    public Task<OrderContext?> FindByPaymentAsync(string paymentId, CancellationToken cancellationToken) =>
        plan.Run("orders.findByPayment", () => inner.FindByPaymentAsync(paymentId, cancellationToken));

    public Task<int> PurgeOrdersOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => inner.PurgeOrdersOlderThanAsync(cutoff, cancellationToken);
}

internal sealed class FaultyConsentStore(IConsentStore inner, FaultPlan plan) : IConsentStore
{
    public Task<UserConsent?> GetAsync(string userKey, CancellationToken cancellationToken) => plan.Run("consent.get", () => inner.GetAsync(userKey, cancellationToken));

    public Task<UserConsent> MergeAsync(string userKey, ConsentSnapshot? consent, StatedRegion? region, CancellationToken cancellationToken) =>
        plan.Run("consent.merge", () => inner.MergeAsync(userKey, consent, region, cancellationToken));

    public Task<int> PurgeConsentOlderThanAsync(DateTimeOffset cutoff, Func<UserConsent, bool> keep, CancellationToken cancellationToken) =>
        inner.PurgeConsentOlderThanAsync(cutoff, keep, cancellationToken);
}

internal sealed class FaultyQuarantine(IQuarantine inner, FaultPlan plan) : IQuarantine
{
    public Task<string> WriteAsync(QuarantineRecord record, CancellationToken cancellationToken) => plan.Run("quarantine.write", () => inner.WriteAsync(record, cancellationToken));
}

internal sealed class FaultyEventsApi(IEventsApi inner, FaultPlan plan) : IEventsApi
{
    public Task<EventsApiResult> SendBulkAsync(InputRoute route, ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        plan.Run("api.send", () => inner.SendBulkAsync(route, body, cancellationToken));
}
