using System.Text;
using System.Text.Json.Nodes;
using CtMparticle.Configuration;
using CtMparticle.Delivery;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Tracking;

namespace CtMparticle.Tests;

/// <summary>The ten commercetools samples (copied from ../shared/samples into Fixtures/) and ways to vary them.</summary>
internal static class Samples
{
    public const string OrderCreatedRegistered = "01-order-created-registered-with-discount.json";
    public const string OrderCreatedGuest = "02-order-created-anonymous-checkout.json";
    public const string ReturnInfoAdded = "03-return-info-added.json";
    public const string RefundTransaction = "04-payment-transaction-added-refund.json";
    public const string CustomerCreated = "05-customer-created.json";
    public const string CustomerEmailChanged = "06-customer-email-changed.json";
    public const string OrderStateChanged = "07-order-state-changed.json";
    public const string PayloadNotIncluded = "08-order-created-payload-not-included.json";
    public const string CartChange = "09-cart-resource-updated-change.json";
    public const string CloudEventsConsent = "10-cloudevents-customer-custom-field-changed.json";

    public static readonly string[] All =
    [
        OrderCreatedRegistered, OrderCreatedGuest, ReturnInfoAdded, RefundTransaction, CustomerCreated,
        CustomerEmailChanged, OrderStateChanged, PayloadNotIncluded, CartChange, CloudEventsConsent,
    ];

    public static byte[] Bytes(string name) =>
        File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "commercetools", name));

    public static JsonObject Json(string name) => JsonNode.Parse(Bytes(name))!.AsObject();

    public static byte[] Bytes(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString());

    /// <summary>Decodes a sample and returns the typed delivery, failing the test if it does not decode.</summary>
    public static T Decode<T>(string name) where T : CtDelivery => Decode<T>(Bytes(name));

    public static T Decode<T>(byte[] body) where T : CtDelivery
    {
        var result = DeliveryDecoder.Decode(body);
        var decoded = Assert.IsType<Decoded>(result);
        return Assert.IsAssignableFrom<T>(decoded.Delivery);
    }

    /// <summary>Rewrites every money object in an order: currency and fraction digits.</summary>
    public static void SetCurrency(JsonNode? node, string currency, int fractionDigits)
    {
        switch (node)
        {
            case JsonObject obj:
                if (obj.ContainsKey("currencyCode") && obj.ContainsKey("centAmount"))
                {
                    obj["currencyCode"] = currency;
                    obj["fractionDigits"] = fractionDigits;
                }

                foreach (var (_, child) in obj.ToArray())
                {
                    SetCurrency(child, currency, fractionDigits);
                }

                break;
            case JsonArray array:
                foreach (var child in array)
                {
                    SetCurrency(child, currency, fractionDigits);
                }

                break;
        }
    }
}

/// <summary>The configuration the tests run with: two stores on one EU input, and a default input.</summary>
internal static class TestOptions
{
    public static MappingOptions Mapping(Action<IdentityOptionsBuilder>? identity = null)
    {
        var builder = new IdentityOptionsBuilder();
        identity?.Invoke(builder);
        return new MappingOptions
        {
            Environment = "production",
            DefaultLocale = "en",
            Identity = builder.Build(),
        };
    }

    public static MParticleOptions Routing(string? defaultInput = "default") => new()
    {
        Inputs =
        [
            new() { Name = "acme-eu", Pod = MParticlePod.EU1, ApiKeySetting = "MParticle_AcmeEu_ApiKey", ApiSecretSetting = "MParticle_AcmeEu_ApiSecret" },
            new() { Name = "default", Pod = MParticlePod.US1, ApiKeySetting = "MParticle_Default_ApiKey", ApiSecretSetting = "MParticle_Default_ApiSecret", Environment = "development" },
        ],
        Stores =
        [
            new() { Key = "acme-de", Input = "acme-eu", DefaultCountry = "DE", Locale = "de-DE" },
            new() { Key = "acme-uk", Input = "acme-eu", DefaultCountry = "GB", Locale = "en-GB" },
        ],
        DefaultInput = defaultInput,
    };

    public static CommercetoolsMapper Mapper(MappingOptions? mapping = null, MParticleOptions? routing = null) =>
        new(mapping ?? Mapping(), routing ?? Routing());

    public static BatchBuilder Builder(MappingOptions? mapping = null, MParticleOptions? routing = null) =>
        new(mapping ?? Mapping(), routing ?? Routing());

    /// <summary>The order context that sample 01's OrderCreated leaves behind.</summary>
    public static OrderContext Order01Context()
    {
        var mapped = Assert.IsType<Mapped>(Mapper().Map(Samples.Decode<OrderCreatedMessage>(Samples.OrderCreatedRegistered)));
        return mapped.OrderContext!;
    }

    public static T Single<T>(MappingResult result) where T : TrackingEvent
    {
        var mapped = Assert.IsType<Mapped>(result);
        return Assert.IsType<T>(Assert.Single(mapped.Events));
    }

    public static BuiltBatch Built(TrackingEvent e, BatchBuilder? builder = null) =>
        Assert.IsType<BuiltBatch>((builder ?? Builder()).Build(e));
}

internal sealed class IdentityOptionsBuilder
{
    public EmailIdentityMode EmailMode { get; set; } = EmailIdentityMode.Plain;
    public string EmailHashIdentity { get; set; } = "other_id_2";
    public string? AnonymousIdIdentity { get; set; } = "other";

    public IdentityOptions Build() => new()
    {
        EmailMode = EmailMode,
        EmailHashIdentity = EmailHashIdentity,
        AnonymousIdIdentity = AnonymousIdIdentity,
    };
}
