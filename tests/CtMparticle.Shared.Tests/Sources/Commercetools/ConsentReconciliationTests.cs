using System.Text.Json.Nodes;
using CtMparticle.Consent;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Storage;
using CtMparticle.Tests.Infrastructure;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Sources.Commercetools;

/// <summary>
/// Consent reconciliation against a real commercetools-shaped API (the commercetools mock on 127.0.0.1, with
/// authentication), on Azurite storage, pushing to a local Events API server.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class ConsentReconciliationTests(AzuriteFixture azurite, CommercetoolsMockFixture commercetools) : IClassFixture<CommercetoolsMockFixture>, IAsyncLifetime
{
    private readonly string tag = Guid.NewGuid().ToString("N")[..8];
    private EventsApiServer server = null!;

    public async Task InitializeAsync()
    {
        server = new EventsApiServer();
        await EnsureConsentTypeAsync();
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    private RelayHarness Relay(FaultPlan? faults = null) => RelayHarness.Create(azurite, server, s => commercetools.Connect(s), faults: faults);

    private async Task EnsureConsentTypeAsync()
    {
        var existing = await commercetools.SendAsync(HttpMethod.Get, "types?where=" + Uri.EscapeDataString("key = \"customer-consent-v1\""));
        if (existing["results"]!.AsArray().Count > 0)
        {
            return;
        }

        JsonObject Field(string name) => new() { ["name"] = name, ["label"] = new JsonObject { ["en"] = name }, ["required"] = false, ["type"] = new JsonObject { ["name"] = "Boolean" } };
        await commercetools.SendAsync(HttpMethod.Post, "types", new JsonObject
        {
            ["key"] = "customer-consent-v1",
            ["name"] = new JsonObject { ["en"] = "Customer consent" },
            ["resourceTypeIds"] = new JsonArray("customer"),
            ["fieldDefinitions"] = new JsonArray(Field("consentAnalytics"), Field("consentMarketingEmail")),
        });
    }

    private async Task<(string Id, long Version)> CreateCustomerAsync(string name, string country, bool analytics, bool marketing)
    {
        var created = await commercetools.SendAsync(HttpMethod.Post, "customers", new JsonObject
        {
            ["email"] = $"{name}-{tag}@example.com",
            ["password"] = "secret-password",
            ["addresses"] = new JsonArray(new JsonObject { ["country"] = country }),
            ["defaultBillingAddress"] = 0,
            ["custom"] = new JsonObject
            {
                ["type"] = new JsonObject { ["typeId"] = "type", ["key"] = "customer-consent-v1" },
                ["fields"] = new JsonObject { ["consentAnalytics"] = analytics, ["consentMarketingEmail"] = marketing },
            },
        });
        return ((string)created["customer"]!["id"]!, (long)created["customer"]!["version"]!);
    }

    private async Task SetConsentAsync(string id, string field, bool value)
    {
        var customer = await commercetools.SendAsync(HttpMethod.Get, $"customers/{id}");
        await commercetools.SendAsync(HttpMethod.Post, $"customers/{id}", new JsonObject
        {
            ["version"] = (long)customer["version"]!,
            ["actions"] = new JsonArray(new JsonObject { ["action"] = "setCustomField", ["name"] = field, ["value"] = value }),
        });
    }

    /// <summary>Consent updates mParticle received for the given customers: (customer id, purpose, consented).</summary>
    private List<(string Customer, string Purpose, bool Consented)> Received(params string[] customers) =>
        server.Accepted.SelectMany(r => r.Batches).Select(b => b!.AsObject())
            .Where(b => customers.Contains((string?)b["user_identities"]?["customer_id"]))
            .Where(b => b["events"]!.AsArray().Any(e => (string?)e!["data"]!["event_name"] == "Consent Updated"))
            .SelectMany(b => b["consent_state"]!["gdpr"]!.AsObject().Select(p => ((string)b["user_identities"]!["customer_id"]!, p.Key, (bool)p.Value!["consented"]!)))
            .ToList();

    [Fact]
    public async Task Reconcile_SendsEveryCustomersConsentOnceAndOnlyChangesAfterwards()
    {
        var anna = await CreateCustomerAsync("anna", "DE", analytics: true, marketing: false);
        var ben = await CreateCustomerAsync("ben", "DE", analytics: false, marketing: true);
        await using var relay = Relay();
        var reconciler = relay.Get<ConsentReconciler>();

        var first = await reconciler.RunAsync(500, default);
        await relay.Push.PushAsync(default);
        var second = await reconciler.RunAsync(500, default);
        await relay.Push.PushAsync(default);

        Assert.True(first.Changed >= 2);
        Assert.Equal(0, second.Changed); // nothing changed in commercetools: nothing is sent again
        var received = Received(anna.Id, ben.Id);
        Assert.Contains((anna.Id, "analytics", true), received);
        Assert.Contains((anna.Id, "marketing_email", false), received);
        Assert.Contains((ben.Id, "analytics", false), received);
        Assert.Contains((ben.Id, "marketing_email", true), received);
        Assert.DoesNotContain(received, r => r.Purpose == "marketing_sms"); // a field the customer has no value for says nothing
        Assert.Equal(4, received.Count); // the two purposes each customer states, once per customer

        await SetConsentAsync(ben.Id, "consentAnalytics", true);
        var third = await reconciler.RunAsync(500, default);
        await relay.Push.PushAsync(default);

        Assert.Equal(1, third.Changed);
        // One more update for Ben only, naming only the purpose that changed; its consent_state is his whole current state.
        var benBatches = server.Accepted.SelectMany(r => r.Batches).Where(b => (string?)b!["user_identities"]!["customer_id"] == ben.Id).ToArray();
        Assert.Equal(2, benBatches.Length);
        Assert.Equal("analytics", (string?)benBatches[1]!["events"]![0]!["data"]!["custom_attributes"]!["purposes"]);
        Assert.True((bool)benBatches[1]!["consent_state"]!["gdpr"]!["analytics"]!["consented"]!);
        Assert.Single(server.Accepted.SelectMany(r => r.Batches), b => (string?)b!["user_identities"]!["customer_id"] == anna.Id);
        var stored = await relay.Consent.GetAsync($"customer:{ben.Id}", default);
        Assert.True(stored!.Consent.Gdpr["analytics"].Consented);
        Assert.Equal(new Region("DE"), stored.Region);
    }

    [Fact]
    public async Task Reconcile_ConsentWithdrawn_WithdrawsThatCustomersPendingEvents()
    {
        var clara = await CreateCustomerAsync("clara", "DE", analytics: true, marketing: true);
        await using var relay = Relay();
        var reconciler = relay.Get<ConsentReconciler>();
        await reconciler.RunAsync(500, default);
        await relay.Push.PushAsync(default);
        var signIn = new SignedIn(new EventContext(Uuid5.ForEvent("signin-" + tag), "signin-" + tag, new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero),
            EventSource.Storefront, null, null, new Region("DE"), new UserIds(clara.Id)), "password");
        Assert.Equal(AddResult.Added, await relay.Events.TryAddAsync(signIn, null, default));

        await SetConsentAsync(clara.Id, "consentAnalytics", false);
        var report = await reconciler.RunAsync(500, default);
        await relay.Push.PushAsync(default);

        Assert.Equal(1, report.Withdrawn);
        Assert.DoesNotContain(server.Received.SelectMany(r => r.SourceMessageIds), id => id == signIn.Context.EventId.ToString("D"));
        Assert.Contains((clara.Id, "analytics", false), Received(clara.Id));
    }

    [Fact]
    public async Task Reconcile_ConsentWithdrawn_NeverTouchesAnEventInsideAnInFlightRequest()
    {
        var finn = await CreateCustomerAsync("finn", "DE", analytics: true, marketing: true);
        await using var relay = Relay();
        var reconciler = relay.Get<ConsentReconciler>();
        await reconciler.RunAsync(500, default);
        await relay.Push.PushAsync(default);
        var signIn = new SignedIn(new EventContext(Uuid5.ForEvent("inflight-" + tag), "inflight-" + tag, new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero),
            EventSource.Storefront, null, null, new Region("DE"), new UserIds(finn.Id)), "password");
        await relay.Events.TryAddAsync(signIn, null, default);
        var key = (await relay.Events.ReadPendingAsync(100, default)).Single(p => p.EventId == signIn.Context.EventId).Key;
        // A request carrying it went out and no answer came: it may be in mParticle already.
        await relay.Events.SaveInFlightAsync(new InFlightRequest("req-" + tag, "acme-eu", "[{}]"u8.ToArray(), [new InFlightBatch(2, [key])],
            new DateTimeOffset(2026, 11, 28, 9, 0, 1, TimeSpan.Zero)), default);

        await SetConsentAsync(finn.Id, "consentAnalytics", false);
        var report = await reconciler.RunAsync(500, default);

        Assert.Equal(0, report.Withdrawn); // "withdrawn" only ever counts events that were not sent
        Assert.Contains(await relay.Events.ReadPendingAsync(100, default), p => p.EventId == signIn.Context.EventId);
    }

    [Fact]
    public async Task Reconcile_CrashAfterStoringAnUpdate_RerunSendsItOnce()
    {
        var dora = await CreateCustomerAsync("dora", "DE", analytics: true, marketing: false);
        var plan = new FaultPlan { CrashAt = 4, Timing = CrashTiming.After };
        await using var relay = Relay(plan);
        var reconciler = relay.Get<ConsentReconciler>();

        var crashes = 0;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                await reconciler.RunAsync(500, default);
                break;
            }
            catch (InjectedCrash)
            {
                crashes++;
            }
        }

        plan.Disarm();
        await relay.Push.PushAsync(default);
        await reconciler.RunAsync(500, default);
        await relay.Push.PushAsync(default);

        Assert.Equal(1, crashes);
        var received = Received(dora.Id);
        Assert.Equal(2, received.Count); // each purpose the customer states, once
        Assert.Single(server.Accepted.SelectMany(r => r.Batches), b => (string?)b!["user_identities"]?["customer_id"] == dora.Id);
    }

    [Fact]
    public async Task Reconcile_PageBudgetReached_CheckpointsEveryPageAndTheNextRunContinues()
    {
        var customers = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            customers.Add((await CreateCustomerAsync($"page{i}", "DE", analytics: true, marketing: true)).Id);
        }

        await using var relay = Relay();
        var reconciler = relay.Get<ConsentReconciler>();

        var first = await reconciler.RunAsync(1, default, maxPages: 2);
        var checkpoint = await relay.Get<ICheckpointStore>().GetAsync(ConsentReconciler.CheckpointName, default);
        var runs = 1;
        var last = first;
        while (!last.Complete && runs < 100)
        {
            last = await reconciler.RunAsync(1, default, maxPages: 2);
            runs++;
        }

        Assert.False(first.Complete);         // a large customer base is not read in one run...
        Assert.Equal(2, first.CustomersRead);
        Assert.NotNull(checkpoint);           // ...but what was read is checkpointed page by page
        Assert.True(last.Complete);           // and later runs finish it
        foreach (var id in customers)
        {
            Assert.True((await relay.Consent.GetAsync($"customer:{id}", default))!.Consent.Gdpr["analytics"].Consented);
        }
    }

    [Fact]
    public async Task Reconcile_CheckoutConsentNewerThanTheCustomerRecord_IsNotOverwritten()
    {
        var eva = await CreateCustomerAsync("eva", "DE", analytics: true, marketing: true);
        await using var relay = Relay();
        // Eva refused analytics at checkout after her record was last changed (a snapshot on a later order).
        var refusedAt = TimeProvider.System.GetUtcNow().AddDays(1);
        await relay.Consent.MergeAsync($"customer:{eva.Id}",
            new ConsentSnapshot(new Dictionary<string, ConsentPurpose> { ["analytics"] = new(false, refusedAt) }), new StatedRegion(new Region("DE"), refusedAt), default);

        await relay.Get<ConsentReconciler>().RunAsync(500, default);
        await relay.Push.PushAsync(default);

        var stored = (await relay.Consent.GetAsync($"customer:{eva.Id}", default))!.Consent;
        Assert.False(stored.Gdpr["analytics"].Consented);      // the newer checkout choice stands
        Assert.True(stored.Gdpr["marketing_email"].Consented);  // what the record adds is still learnt
        Assert.DoesNotContain((eva.Id, "analytics", true), Received(eva.Id));
    }

    [Fact]
    public async Task Reconcile_WrongClientSecret_FailsWithAClearMessageAndKeepsTheCheckpoint()
    {
        await using var relay = RelayHarness.Create(azurite, server, s =>
        {
            s["Commercetools:ProjectKey"] = CommercetoolsMockFixture.ProjectKey;
            s["Commercetools:ApiUrl"] = commercetools.BaseUrl.ToString();
            s["Commercetools:AuthUrl"] = "http://127.0.0.1:1/";
            s["Commercetools:ClientId"] = CommercetoolsMockFixture.ClientId;
            s["Commercetools:ClientSecretSetting"] = "TestCommercetoolsSecret";
            s["TestCommercetoolsSecret"] = "x";
        });

        var ex = await Assert.ThrowsAsync<TransientFailureException>(() => relay.Get<ConsentReconciler>().RunAsync(500, default));

        Assert.Contains("auth host did not answer", ex.Message, StringComparison.Ordinal);
        Assert.Null(await relay.Get<ICheckpointStore>().GetAsync(ConsentReconciler.CheckpointName, default));
    }
}
