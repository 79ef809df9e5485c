using System.Text.Json.Nodes;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using CtMparticle.Tests.Infrastructure;

namespace CtMparticle.Tests.Sources.Commercetools;

/// <summary>Ingest fetching what a message lacks from the commercetools mock (127.0.0.1, authentication on).</summary>
[Collection(AzuriteCollection.Name)]
public sealed class CommercetoolsFetchTests(AzuriteFixture azurite, CommercetoolsMockFixture commercetools) : IClassFixture<CommercetoolsMockFixture>
{
    private RelayHarness Relay(EventsApiServer server, string secret = CommercetoolsMockFixture.ClientSecret) => RelayHarness.Create(azurite, server, s =>
    {
        s["Commercetools:ProjectKey"] = CommercetoolsMockFixture.ProjectKey;
        s["Commercetools:ApiUrl"] = commercetools.BaseUrl.ToString();
        s["Commercetools:AuthUrl"] = commercetools.BaseUrl.ToString();
        s["Commercetools:ClientId"] = CommercetoolsMockFixture.ClientId;
        s["Commercetools:ClientSecretSetting"] = "TestCommercetoolsSecret";
        s["TestCommercetoolsSecret"] = secret;
    });

    /// <summary>An imported US order (no consent regime) with a custom line item: the mock needs no product for it.</summary>
    private async Task<string> ImportOrderAsync(string number)
    {
        var order = await commercetools.SendAsync(HttpMethod.Post, "orders/import", new JsonObject
        {
            ["orderNumber"] = number,
            ["customerEmail"] = "fetch@example.com",
            ["totalPrice"] = new JsonObject { ["currencyCode"] = "USD", ["centAmount"] = 4998 },
            ["lineItems"] = new JsonArray(),
            ["customLineItems"] = new JsonArray(new JsonObject
            {
                ["name"] = new JsonObject { ["en"] = "Gift card" }, ["money"] = new JsonObject { ["currencyCode"] = "USD", ["centAmount"] = 2499 },
                ["quantity"] = 2, ["slug"] = "gift-card",
            }),
            ["billingAddress"] = new JsonObject { ["country"] = "US", ["state"] = "NY" },
        });
        return (string)order["id"]!;
    }

    [Fact]
    public async Task Ingest_PayloadNotIncluded_FetchesTheOrderAndSendsThePurchase()
    {
        await using var server = new EventsApiServer();
        await using var relay = Relay(server);
        var orderId = await ImportOrderAsync("FETCH-" + Guid.NewGuid().ToString("N")[..6]);
        var message = Samples.Json(Samples.PayloadNotIncluded);
        message["resource"]!["id"] = orderId;

        var outcome = await relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(message)), default);
        await relay.Push.PushAsync(default);

        Assert.Equal(IngestOutcomeKind.Accepted, outcome.Kind);
        var data = Assert.Single(server.Received).Batches[0]!["events"]![0]!["data"]!;
        Assert.Equal("purchase", (string?)data["product_action"]!["action"]);
        Assert.Equal("49.98", data["product_action"]!["total_amount"]!.ToJsonString());
        Assert.Equal("USD", (string?)data["currency_code"]);
    }

    [Fact]
    public async Task Ingest_FetchedOrderThenTheSameOrderWithItsPayload_IsADuplicate()
    {
        // Two subscriptions: one delivers the order without its payload (fetched), the other with it.
        await using var server = new EventsApiServer();
        await using var relay = Relay(server);
        var orderId = await ImportOrderAsync("TWICE-" + Guid.NewGuid().ToString("N")[..6]);
        var withoutPayload = Samples.Json(Samples.PayloadNotIncluded);
        withoutPayload["resource"]!["id"] = orderId;
        var withPayload = Samples.Json(Samples.OrderCreatedRegistered);
        withPayload["id"] = Guid.NewGuid().ToString();
        withPayload["resource"]!["id"] = orderId;
        withPayload["order"] = await commercetools.SendAsync(HttpMethod.Get, $"orders/{orderId}");

        var fetched = await relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(withoutPayload)), default);
        var second = await relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(withPayload)), default);

        Assert.Equal(IngestOutcomeKind.Accepted, fetched.Kind);
        Assert.Equal(IngestOutcomeKind.Duplicate, second.Kind); // the same purchase key, project included
        Assert.Single(await relay.Events.ReadPendingAsync(10, default));
    }

    [Fact]
    public async Task Ingest_StatusChangeWithoutStoredOrder_FetchesTheOrderForItsContext()
    {
        await using var server = new EventsApiServer();
        await using var relay = Relay(server);
        var orderId = await ImportOrderAsync("CTX-" + Guid.NewGuid().ToString("N")[..6]);
        var message = Samples.Json(Samples.OrderStateChanged);
        message["resource"]!["id"] = orderId;

        var outcome = await relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(message)), default);

        Assert.Equal(IngestOutcomeKind.Accepted, outcome.Kind);
        Assert.NotNull(await relay.Orders.FindByOrderAsync(orderId, default));
    }

    /// <summary>
    /// A follow-up that arrives before its OrderCreated fetches the order as it is now (here: a customer set since,
    /// version 2). The OrderCreated arriving after it (or replayed) carries version 1: the follow-ups after it still
    /// read version 2, and are attributed to the customer. Before order contexts kept their version, the late
    /// OrderCreated replaced the fetched context and the next follow-up went out without the customer.
    /// </summary>
    [Fact]
    public async Task Ingest_OrderCreatedAfterAFollowUpFetchedTheEditedOrder_LeavesTheNewerContextToTheNextFollowUps()
    {
        await using var server = new EventsApiServer();
        await using var relay = Relay(server);
        var orderId = await ImportOrderAsync("LATE-" + Guid.NewGuid().ToString("N")[..6]);
        var asCreated = await commercetools.SendAsync(HttpMethod.Get, $"orders/{orderId}");
        var customerId = "c-set-" + Guid.NewGuid().ToString("N")[..8];
        var edited = await commercetools.SendAsync(HttpMethod.Post, $"orders/{orderId}", new JsonObject
        {
            ["version"] = (long)asCreated["version"]!,
            ["actions"] = new JsonArray(new JsonObject { ["action"] = "setCustomerId", ["customerId"] = customerId }),
        });
        var created = Samples.Json(Samples.OrderCreatedRegistered);
        created["id"] = Guid.NewGuid().ToString();
        created["resource"]!["id"] = orderId;
        created["order"] = asCreated;

        var first = await relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(StateChanged(orderId, "Confirmed", "Open"))), default);
        var late = await relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(created)), default);
        var next = await relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(StateChanged(orderId, "Complete", "Confirmed"))), default);

        Assert.Equal([IngestOutcomeKind.Accepted, IngestOutcomeKind.Accepted, IngestOutcomeKind.Accepted], new[] { first.Kind, late.Kind, next.Kind });
        Assert.Equal((long)edited["version"]!, (await relay.Orders.FindByOrderAsync(orderId, default))!.Version);
        var statuses = (await relay.Events.ReadPendingAsync(10, default))
            .Select(p => System.Text.Json.JsonSerializer.Deserialize(p.Json, RelayJsonContext.Default.TrackingEvent)!)
            .OfType<CtMparticle.Tracking.OrderStatusChanged>().OrderBy(e => e.Status).ToList();
        Assert.Equal(["Complete", "Confirmed"], statuses.Select(e => e.Status));
        Assert.All(statuses, e => Assert.Equal(customerId, e.Context.User.CustomerId));

        static JsonObject StateChanged(string orderId, string state, string old)
        {
            var message = Samples.Json(Samples.OrderStateChanged);
            message["id"] = Guid.NewGuid().ToString();
            message["resource"]!["id"] = orderId;
            message["orderState"] = state;
            message["oldOrderState"] = old;
            return message;
        }
    }

    [Fact]
    public async Task Ingest_OrderThatNoLongerExists_IsQuarantinedWithTheReason()
    {
        await using var server = new EventsApiServer();
        await using var relay = Relay(server);
        var message = Samples.Json(Samples.PayloadNotIncluded);
        message["resource"]!["id"] = "00000000-0000-4000-8000-00000000dead";

        var outcome = await relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(message)), default);

        Assert.Equal(IngestOutcomeKind.Quarantined, outcome.Kind);
        Assert.Equal("payload_not_included", outcome.Reason);
        Assert.Contains("Not found in commercetools", outcome.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(401)] // refused again after a token refresh
    [InlineData(403)] // the API client lacks a scope
    [InlineData(0)]   // the secret setting is empty
    public async Task Ingest_CredentialsRefused_PausesFetchingAndRetriesTheMessageInsteadOfQuarantiningIt(int status)
    {
        await using var server = new EventsApiServer();
        await using var api = new EventsApiServer
        {
            RespondOther = path => path == "/oauth/token"
                ? new ScriptedResponse(200, "{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"expires_in\":172800}")
                : new ScriptedResponse(status, "{\"statusCode\":403,\"errors\":[{\"code\":\"insufficient_scope\"}]}"),
        };
        await using var relay = RelayHarness.Create(azurite, server, s =>
        {
            s["Commercetools:ProjectKey"] = CommercetoolsMockFixture.ProjectKey;
            s["Commercetools:ApiUrl"] = api.BaseUrl.ToString();
            s["Commercetools:AuthUrl"] = api.BaseUrl.ToString();
            s["Commercetools:ClientId"] = "relay";
            s["Commercetools:ClientSecretSetting"] = "TestCommercetoolsSecret";
            s["TestCommercetoolsSecret"] = status == 0 ? "" : "secret";
        });

        var first = await Assert.ThrowsAsync<TransientFailureException>(() => relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(Samples.PayloadNotIncluded)), default));
        var calls = api.Received.Count;
        var second = await Assert.ThrowsAsync<TransientFailureException>(() => relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(Samples.PayloadNotIncluded)), default));

        Assert.DoesNotContain("Paused", first.Message, StringComparison.Ordinal);
        Assert.Contains("Paused until", second.Message, StringComparison.Ordinal);
        Assert.Equal(calls, api.Received.Count); // no call is made while paused
        Assert.Empty(await relay.QuarantinedAsync()); // the message is retried by Service Bus, not quarantined
    }

    [Fact]
    public async Task Ingest_CommercetoolsUnreachable_ThrowsSoTheMessageIsRedelivered()
    {
        await using var server = new EventsApiServer();
        await using var relay = RelayHarness.Create(azurite, server, s =>
        {
            s["Commercetools:ProjectKey"] = CommercetoolsMockFixture.ProjectKey;
            s["Commercetools:ApiUrl"] = "http://127.0.0.1:1/";
            s["Commercetools:AuthUrl"] = "http://127.0.0.1:1/";
            s["Commercetools:ClientId"] = "x";
            s["Commercetools:ClientSecretSetting"] = "TestCommercetoolsSecret";
            s["TestCommercetoolsSecret"] = "x";
        });

        await Assert.ThrowsAsync<TransientFailureException>(() => relay.Ingest.IngestAsync(new Inbound(Samples.Bytes(Samples.PayloadNotIncluded)), default));
        Assert.Empty(await relay.QuarantinedAsync());
    }
}
