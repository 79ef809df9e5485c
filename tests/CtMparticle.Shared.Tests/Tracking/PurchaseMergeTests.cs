using CtMparticle.Tracking;

namespace CtMparticle.Tests.Tracking;

public sealed class PurchaseMergeTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 2, 9, 0, 0, TimeSpan.Zero);

    private static OrderCompleted Purchase(OrderOrigin origin, decimal total, UserIds user, ConsentSnapshot? consent = null) => new(
        new EventContext(Guid.Parse("f34de537-8370-59c1-86b4-95bd3324b55b"), "p/order/o-1/purchase", At,
            origin == OrderOrigin.Storefront ? EventSource.Storefront : EventSource.Commercetools, "m", "acme-de", null, user, consent),
        "o-1", origin == OrderOrigin.Storefront ? null : "A-1001", "EUR", total, 1m, 2m, null,
        [new ProductLine("SKU", null, null, null, null, total, 1, total)], origin);

    private static readonly UserIds Server = new(CustomerId: "c-1", Email: "ann@example.com");

    private static readonly UserIds Client = new(CustomerId: "c-1", AnonymousId: "a-1", SessionId: "s-1", Devices: new DeviceIds(IosAdvertisingId: "idfa"));

    [Fact]
    public void EitherOrder_GivesCommercetoolsAmountsWithTheClientsIdentifiers()
    {
        var server = Purchase(OrderOrigin.Created, 90.42m, Server);
        var client = Purchase(OrderOrigin.Storefront, 99m, Client);

        var serverFirst = Assert.IsType<OrderCompleted>(PurchaseMerge.Combine(server, client));
        var clientFirst = Assert.IsType<OrderCompleted>(PurchaseMerge.Combine(client, server));

        Assert.Equal(serverFirst, clientFirst);
        Assert.Equal((90.42m, "A-1001", OrderOrigin.Created), (clientFirst.Total, clientFirst.OrderNumber, clientFirst.Origin));
        Assert.Equal(new UserIds("c-1", "ann@example.com", "a-1", "s-1", new DeviceIds(IosAdvertisingId: "idfa")), clientFirst.Context.User);
    }

    [Fact]
    public void CommercetoolsIdentifiersAndConsentWin_WhereBothHaveThem()
    {
        var serverConsent = new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(false, At) });
        var clientConsent = new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(true, At) });
        var server = Purchase(OrderOrigin.Created, 90.42m, Server with { AnonymousId = "a-server" }, serverConsent);
        var client = Purchase(OrderOrigin.Storefront, 99m, Client with { CustomerId = "c-other" }, clientConsent);

        var merged = Assert.IsType<OrderCompleted>(PurchaseMerge.Combine(client, server));

        Assert.Equal(("c-1", "a-server"), (merged.Context.User.CustomerId, merged.Context.User.AnonymousId));
        Assert.Same(serverConsent, merged.Context.Consent);
    }

    [Fact]
    public void SameKindOfSource_OrNothingToAdd_ChangesNothing()
    {
        var server = Purchase(OrderOrigin.Created, 90.42m, Server);

        Assert.Null(PurchaseMerge.Combine(server, Purchase(OrderOrigin.Imported, 90.42m, Server)));
        Assert.Null(PurchaseMerge.Combine(Purchase(OrderOrigin.Storefront, 1m, Client), Purchase(OrderOrigin.Storefront, 2m, Client)));
        Assert.Null(PurchaseMerge.Combine(server, Purchase(OrderOrigin.Storefront, 99m, new UserIds(CustomerId: "c-1"))));
    }
}
