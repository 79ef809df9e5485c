using System.Globalization;
using System.Text.Json;
using CtMparticle.Pipeline;
using Microsoft.Azure.Functions.Worker;

namespace CtMparticle.Functions;

/// <summary>
/// Turns a batched Service Bus trigger's bodies and binding data (<c>MessageIdArray</c>, <c>DeliveryCountArray</c>,
/// <c>EnqueuedTimeUtcArray</c>) into deliveries. Missing or unreadable binding data leaves those fields empty;
/// it never fails the batch.
/// </summary>
internal static class ServiceBusBatch
{
    public static IReadOnlyList<Inbound> Read(byte[][] bodies, FunctionContext context)
    {
        var data = context.BindingContext.BindingData;
        var messageIds = Array(data, "MessageIdArray", e => e.ValueKind == JsonValueKind.String ? e.GetString() : null);
        var deliveryCounts = Array(data, "DeliveryCountArray", e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var n) ? (int?)n : null);
        var enqueued = Array(data, "EnqueuedTimeUtcArray", e => e.ValueKind == JsonValueKind.String &&
            DateTimeOffset.TryParse(e.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? (DateTimeOffset?)at : null);
        return bodies.Select((body, i) => new Inbound(
            body ?? [],
            messageIds.ElementAtOrDefault(i),
            deliveryCounts.ElementAtOrDefault(i),
            enqueued.ElementAtOrDefault(i))).ToArray();
    }

    private static T?[] Array<T>(IReadOnlyDictionary<string, object?> data, string key, Func<JsonElement, T?> read)
    {
        if (!data.TryGetValue(key, out var value) || value is null)
        {
            return [];
        }

        try
        {
            using var document = JsonDocument.Parse(value as string ?? JsonSerializer.Serialize(value, FunctionsJsonContext.Default.Object));
            return document.RootElement.ValueKind == JsonValueKind.Array ? document.RootElement.EnumerateArray().Select(read).ToArray() : [];
        }
        catch (JsonException)
        {
            return [];
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(object))]
internal sealed partial class FunctionsJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
