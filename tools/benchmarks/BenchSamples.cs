using CtMparticle.Configuration;
using CtMparticle.Sources.Commercetools;

/// <summary>The order sample as the relay maps it: its events and its order context, for the store benchmarks.</summary>
internal static class BenchSamples
{
    public static Mapped Order()
    {
        var body = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "samples", "01-order-created-registered-with-discount.json"));
        var mapping = new MappingOptions { Environment = "production" };
        var routing = new MParticleOptions
        {
            Inputs = [new MParticleInputOptions { Name = "eu", Pod = MParticlePod.EU1, ApiKeySetting = "K", ApiSecretSetting = "S" }],
            DefaultInput = "eu",
        };
        return DeliveryDecoder.Decode(body) is Decoded decoded && new CommercetoolsMapper(mapping, routing).Map(decoded.Delivery) is Mapped mapped
            ? mapped
            : throw new InvalidOperationException("The order sample does not map.");
    }
}
