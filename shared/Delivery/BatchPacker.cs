using System.Text;
using CtMparticle.Configuration;
using CtMparticle.Identity;
using CtMparticle.Storage;
using CtMparticle.Tracking;
using Microsoft.Extensions.Options;

namespace CtMparticle.Delivery;

/// <summary>A batch's exact bytes and the outbox entries it carries.</summary>
internal sealed record OutgoingBatch(string InputName, byte[] Json, IReadOnlyList<PendingEventKey> Events)
{
    /// <summary>The user and input the batch belongs to (<see cref="BatchPacker.GroupKey"/>); null when not known (a request read back).</summary>
    public string? User { get; init; }
}

/// <summary>Events that cannot be sent as any batch, with the reason.</summary>
internal sealed record UnsendableEvents(IReadOnlyList<PendingEventKey> Events, IReadOnlyList<TrackingEvent> Tracking, Reason Reason, string Detail);

/// <summary>One bulk request: the batches, in order, and the exact bytes to send.</summary>
internal sealed record OutgoingRequest(string InputName, IReadOnlyList<OutgoingBatch> Batches, byte[] Body)
{
    /// <summary>Deterministic: the same batches give the same id, so a re-split or a resend is idempotent.</summary>
    public string RequestId { get; } = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Body))[..32];

    public IReadOnlyList<PendingEventKey> Events => Batches.SelectMany(b => b.Events).ToArray();

    public InFlightRequest ToInFlight(DateTimeOffset createdAt) =>
        new(RequestId, InputName, Body, Batches.Select(b => new InFlightBatch(b.Json.Length, b.Events)).ToArray(), createdAt);

    /// <summary>
    /// Rebuilds a request from its persisted form (the batches are slices of the body), or null when the two do not
    /// agree (a damaged row): the slices must tile <c>[b1,b2,...]</c> exactly and each batch must carry events.
    /// </summary>
    public static OutgoingRequest? TryFromInFlight(InFlightRequest request)
    {
        var body = request.Body;
        if (request.Batches.Count == 0 || body.Length < 2 || body[0] != (byte)'[')
        {
            return null;
        }

        var batches = new List<OutgoingBatch>(request.Batches.Count);
        var position = 1; // after '['
        for (var i = 0; i < request.Batches.Count; i++)
        {
            var batch = request.Batches[i];
            var end = (long)position + batch.Length;
            if (batch.Length <= 0 || batch.Events is not { Count: > 0 } || end >= body.Length
                || body[(int)end] != (byte)(i == request.Batches.Count - 1 ? ']' : ','))
            {
                return null;
            }

            batches.Add(new OutgoingBatch(request.InputName, body.AsSpan(position, batch.Length).ToArray(), batch.Events));
            position = (int)end + 1; // after the ',' or ']'
        }

        return position == body.Length ? new OutgoingRequest(request.InputName, batches, body) : null;
    }

    /// <summary>The JSON array of the batches' bytes, exactly as serialized.</summary>
    public static OutgoingRequest Of(string inputName, IReadOnlyList<OutgoingBatch> batches)
    {
        var length = 2 + batches.Sum(b => b.Json.Length) + Math.Max(0, batches.Count - 1);
        var body = new byte[length];
        var position = 0;
        body[position++] = (byte)'[';
        for (var i = 0; i < batches.Count; i++)
        {
            if (i > 0)
            {
                body[position++] = (byte)',';
            }

            batches[i].Json.CopyTo(body, position);
            position += batches[i].Json.Length;
        }

        body[position] = (byte)']';
        return new OutgoingRequest(inputName, batches, body);
    }
}

/// <summary>
/// Packing, pure: pending events → per user and input into batches (≤ max events, ≤ 128 KB, split in halves when
/// too large) → per input into bulk requests (≤ max batches, ≤ max bytes). A user's events share a batch.
/// </summary>
internal sealed class BatchPacker(BatchBuilder builder, InputRouter router, IdentityMapper identities, IOptions<PushOptions> options)
{
    /// <summary>A stable key for "same user, same input": events with equal keys may share a batch.</summary>
    public static string GroupKey(TrackingEvent e, InputRouter router, IdentityMapper identities)
    {
        var key = new StringBuilder(router.Route(e.Context.StoreKey)?.InputName ?? "-");
        foreach (var (type, value) in identities.For(e.Context.User))
        {
            key.Append('|').Append(type).Append('=').Append(value);
        }

        if (e.Context.User.Devices is { } devices)
        {
            key.Append("|devices=").Append(devices.IosAdvertisingId).Append(',').Append(devices.IosVendorId)
                .Append(',').Append(devices.AndroidAdvertisingId).Append(',').Append(devices.AndroidUuid);
        }

        return key.ToString();
    }

    /// <summary>The route of a configured input, or null when it is no longer configured.</summary>
    public InputRoute? RouteOf(string inputName) => router.RouteByInput(inputName);

    /// <summary>Per user and input, oldest first: the batches, and the events no batch can carry (with the reason).</summary>
    public (List<OutgoingBatch> Batches, List<UnsendableEvents> Unsendable) BuildBatches(IReadOnlyList<(PendingEventKey Key, TrackingEvent Event)> events)
    {
        var maxEventsPerBatch = options.Value.MaxEventsPerBatch;
        var batches = new List<OutgoingBatch>();
        var unsendable = new List<UnsendableEvents>();
        // GroupKey hashes and routes: compute it once per event.
        var groups = events
            .Select(e => (e.Key, e.Event, Group: GroupKey(e.Event, router, identities)))
            .GroupBy(e => e.Group, e => (e.Key, e.Event), StringComparer.Ordinal)
            .OrderBy(g => g.Min(e => e.Key.EnqueuedAt))
            .ThenBy(g => g.Key, StringComparer.Ordinal);
        foreach (var group in groups)
        {
            var ordered = group.OrderBy(e => e.Event.Context.OccurredAt).ThenBy(e => e.Event.Context.EventId).ToArray();
            for (var start = 0; start < ordered.Length; start += maxEventsPerBatch)
            {
                Build(group.Key, ordered.AsSpan(start, Math.Min(maxEventsPerBatch, ordered.Length - start)).ToArray(), batches, unsendable);
            }
        }

        return (batches, unsendable);
    }

    private void Build(string user, (PendingEventKey Key, TrackingEvent Event)[] chunk, List<OutgoingBatch> batches, List<UnsendableEvents> unsendable)
    {
        switch (builder.BuildGrouped(chunk.Select(c => c.Event).ToArray()))
        {
            case BuiltBatch built:
                batches.Add(new OutgoingBatch(built.Route.InputName, built.Json, chunk.Select(c => c.Key).ToArray()) { User = user });
                break;
            case BatchRejected { Reason: Reason.BatchTooLarge } when chunk.Length > 1:
                var half = chunk.Length / 2;
                Build(user, chunk[..half], batches, unsendable);
                Build(user, chunk[half..], batches, unsendable);
                break;
            case BatchRejected rejected:
                unsendable.Add(new UnsendableEvents(chunk.Select(c => c.Key).ToArray(), chunk.Select(c => c.Event).ToArray(), rejected.Reason, rejected.Detail));
                break;
        }
    }

    /// <summary>Packs one input's batches, in order, into bulk requests.</summary>
    public List<OutgoingRequest> PackRequests(string inputName, IReadOnlyList<OutgoingBatch> batches)
    {
        var (maxBatches, maxBytes) = (options.Value.MaxBatchesPerRequest, options.Value.MaxRequestBytes);
        var requests = new List<OutgoingRequest>();
        var current = new List<OutgoingBatch>();
        var size = 2; // [ ]
        foreach (var batch in batches)
        {
            var added = batch.Json.Length + (current.Count > 0 ? 1 : 0);
            if (current.Count > 0 && (current.Count >= maxBatches || size + added > maxBytes))
            {
                requests.Add(OutgoingRequest.Of(inputName, current));
                current = [];
                size = 2;
                added = batch.Json.Length;
            }

            current.Add(batch);
            size += added;
        }

        if (current.Count > 0)
        {
            requests.Add(OutgoingRequest.Of(inputName, current));
        }

        return requests;
    }
}
