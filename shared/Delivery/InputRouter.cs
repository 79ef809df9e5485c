using CtMparticle.Configuration;

namespace CtMparticle.Delivery;

/// <summary>Which mParticle input (credentials, pod, environment) a store's events go to. Pure.</summary>
internal sealed class InputRouter(MappingOptions mapping, MParticleOptions routing)
{
    /// <summary>The input a store's events go to, or null when neither the store nor a default input is configured.</summary>
    public InputRoute? Route(string? storeKey) => RouteByInput(routing.FindStore(storeKey)?.Input ?? routing.DefaultInput);

    /// <summary>The route of a configured input, or null.</summary>
    public InputRoute? RouteByInput(string? inputName) =>
        routing.FindInput(inputName) is { } input
            ? new InputRoute(input.Name, input.EffectiveBaseUrl, input.ApiKeySetting, input.ApiSecretSetting, input.Environment ?? mapping.Environment)
            : null;
}
