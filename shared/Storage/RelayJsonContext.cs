using System.Text.Json.Serialization;
using CtMparticle.Tracking;

namespace CtMparticle.Storage;

/// <summary>Source-generated JSON for what the relay stores: canonical events, order context, consent, quarantine records.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true,
    WriteIndented = false)]
[JsonSerializable(typeof(TrackingEvent))]
[JsonSerializable(typeof(List<TrackingEvent>))]
[JsonSerializable(typeof(OrderContext))]
[JsonSerializable(typeof(ConsentSnapshot))]
[JsonSerializable(typeof(QuarantineRecord))]
[JsonSerializable(typeof(List<InFlightBatch>))]
[JsonSerializable(typeof(IdentityDecision))]
internal sealed partial class RelayJsonContext : JsonSerializerContext;
