using CtMparticle.Configuration;
using CtMparticle.Delivery;
using CtMparticle.Identity;
using CtMparticle.Storage;
using CtMparticle.Tracking;
using Microsoft.Extensions.Options;

namespace CtMparticle.Tests.Delivery;

/// <summary>Grouping, batching and packing, pure: no storage, no HTTP.</summary>
public sealed class BatchPackerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 9, 0, 0, TimeSpan.Zero);

    private static BatchPacker Packer(PushOptions? push = null, MParticleOptions? routing = null)
    {
        var mapping = TestOptions.Mapping();
        var router = new InputRouter(mapping, routing ?? TestOptions.Routing());
        var identities = new IdentityMapper(mapping.Identity);
        return new BatchPacker(new BatchBuilder(mapping, router, identities), router, identities, Options.Create(push ?? new PushOptions()));
    }

    private static (PendingEventKey, TrackingEvent) Pending(string key, string? customer, string? store = "acme-de", int minute = 0, int padding = 0)
    {
        var id = Uuid5.ForEvent(key);
        var e = new SignedIn(new EventContext(id, key, T0.AddMinutes(minute), EventSource.Storefront, null, store, new Region("DE"), new UserIds(customer)),
            padding == 0 ? "password" : new string('x', padding));
        return (new PendingEventKey("p0", id, T0.AddMinutes(minute)), e);
    }

    [Fact]
    public void BuildBatches_OneUsersEvents_ShareOneBatchAndOtherUsersGetTheirOwn()
    {
        var (batches, unsendable) = Packer().BuildBatches([Pending("a1", "c-a"), Pending("b1", "c-b"), Pending("a2", "c-a", minute: 1)]);

        Assert.Empty(unsendable);
        Assert.Equal(2, batches.Count);
        Assert.Equal(2, batches.Single(b => b.Events.Count == 2).Events.Count);
        Assert.All(batches, b => Assert.Equal("acme-eu", b.InputName));
    }

    [Fact]
    public void BuildBatches_MoreEventsThanTheBatchLimit_SplitsInOrder()
    {
        var events = Enumerable.Range(0, 5).Select(i => Pending($"e{i}", "c-a", minute: i)).ToArray();

        var (batches, _) = Packer(new PushOptions { MaxEventsPerBatch = 2 }).BuildBatches(events);

        Assert.Equal([2, 2, 1], batches.Select(b => b.Events.Count));
        Assert.Equal(events.Select(e => e.Item1.EventId), batches.SelectMany(b => b.Events).Select(k => k.EventId));
    }

    [Fact]
    public void BuildBatches_BatchOver128KB_IsHalvedUntilEachFits()
    {
        var events = Enumerable.Range(0, 4).Select(i => Pending($"big{i}", "c-a", minute: i, padding: 50_000)).ToArray();

        var (batches, unsendable) = Packer().BuildBatches(events);

        Assert.Empty(unsendable);
        Assert.True(batches.Count >= 2);
        Assert.All(batches, b => Assert.True(b.Json.Length <= BatchBuilder.MaxBatchBytes));
        Assert.Equal(4, batches.Sum(b => b.Events.Count));
    }

    [Fact]
    public void BuildBatches_NoIdentityOrNoInput_IsUnsendableWithTheReason()
    {
        var (batches, unsendable) = Packer(routing: TestOptions.Routing(defaultInput: null))
            .BuildBatches([Pending("anon", null), Pending("nowhere", "c-x", store: "acme-fr")]);

        Assert.Empty(batches);
        Assert.Equal(2, unsendable.Count);
        Assert.Contains(unsendable, u => u.Reason == Reason.NoIdentity && u.Events.Single().EventId == Uuid5.ForEvent("anon"));
        Assert.Contains(unsendable, u => u.Reason == Reason.NoInputForStore && u.Events.Single().EventId == Uuid5.ForEvent("nowhere"));
    }

    [Fact]
    public void PackRequests_RespectsTheBatchAndByteLimits()
    {
        var packer = Packer(new PushOptions { MaxBatchesPerRequest = 3, MaxRequestBytes = 4_096 });
        var (batches, _) = packer.BuildBatches(Enumerable.Range(0, 10).Select(i => Pending($"u{i}", $"c-{i}", padding: 900)).ToArray());

        var requests = packer.PackRequests("acme-eu", batches);

        Assert.All(requests, r => Assert.True(r.Batches.Count <= 3 && r.Body.Length <= 4_096));
        Assert.Equal(10, requests.Sum(r => r.Batches.Count));
        Assert.Equal(batches.Select(b => b.Json), requests.SelectMany(r => r.Batches).Select(b => b.Json)); // order kept
    }

    [Fact]
    public void OutgoingRequest_BodyIsTheBatchesAsAJsonArray_AndItsIdIsDeterministic()
    {
        var packer = Packer();
        var (batches, _) = packer.BuildBatches([Pending("x1", "c-1"), Pending("x2", "c-2")]);

        var request = OutgoingRequest.Of("acme-eu", batches);
        var again = OutgoingRequest.TryFromInFlight(request.ToInFlight(T0))!;

        var array = System.Text.Json.Nodes.JsonNode.Parse(request.Body)!.AsArray();
        Assert.Equal(2, array.Count);
        Assert.Equal(request.RequestId, again.RequestId);
        Assert.Equal(request.Batches.Select(b => b.Json), again.Batches.Select(b => b.Json));
    }

    [Fact]
    public void TryFromInFlight_LengthsThatDoNotTileTheBody_AreRefused()
    {
        var (batches, _) = Packer().BuildBatches([Pending("y1", "c-1"), Pending("y2", "c-2")]);
        var persisted = OutgoingRequest.Of("acme-eu", batches).ToInFlight(T0);

        Assert.NotNull(OutgoingRequest.TryFromInFlight(persisted));
        Assert.Null(OutgoingRequest.TryFromInFlight(persisted with { Batches = [persisted.Batches[0]] }));                        // one batch missing
        Assert.Null(OutgoingRequest.TryFromInFlight(persisted with { Batches = [persisted.Batches[0] with { Length = persisted.Batches[0].Length + 1 }, persisted.Batches[1]] }));
        Assert.Null(OutgoingRequest.TryFromInFlight(persisted with { Body = persisted.Body[..^1] }));                              // truncated
        Assert.Null(OutgoingRequest.TryFromInFlight(persisted with { Batches = [] }));
        Assert.Null(OutgoingRequest.TryFromInFlight(persisted with { Batches = [persisted.Batches[0] with { Events = [] }, persisted.Batches[1]] }));
    }
}
