using CtMparticle.Configuration;
using CtMparticle.Delivery;
using CtMparticle.Sources.Commercetools;

namespace CtMparticle.Tests;

/// <summary>
/// The structural rules of the Events API reference that a batch must meet before it is sent (not the data plan:
/// that is governance). Each violation is a sentence naming the field.
/// </summary>
internal static class EventsApiRules
{
    /// <summary>2001-09-09 in ms: any event time below this was almost certainly written in seconds.</summary>
    private const long MinPlausibleUnixMs = 1_000_000_000_000;

    /// <summary>2100-01-01 in ms.</summary>
    private const long MaxPlausibleUnixMs = 4_102_444_800_000;

    private static readonly IReadOnlyDictionary<string, string> EmptyMap = new Dictionary<string, string>();

    private static readonly HashSet<string> DeviceIdentityNames = new(StringComparer.Ordinal)
    {
        "ios_idfa", "ios_advertising_id", "ios_idfv", "android_aaid", "android_advertising_id", "android_uuid",
        "device_application_stamp", "push_token",
    };

    public static IReadOnlyList<string> Check(MpBatch batch, int serializedBytes)
    {
        var problems = new List<string>();
        if (batch.Environment is not ("production" or "development"))
        {
            problems.Add($"environment is '{batch.Environment}'; it must be 'production' or 'development'.");
        }

        if (serializedBytes > BatchBuilder.MaxBatchBytes)
        {
            problems.Add($"The batch is {serializedBytes:N0} bytes; the limit is {BatchBuilder.MaxBatchBytes:N0}.");
        }

        if (string.IsNullOrEmpty(batch.SourceRequestId))
        {
            problems.Add("source_request_id is empty; every batch needs a stable one.");
        }

        foreach (var (name, value) in batch.UserIdentities ?? EmptyMap)
        {
            if (DeviceIdentityNames.Contains(name))
            {
                problems.Add($"user_identities.{name} is a device id; device ids belong in device_info.");
            }
            else if (!MParticleIdentityNames.All.Contains(name))
            {
                problems.Add($"user_identities.{name} is not an Events API identity name.");
            }

            if (string.IsNullOrWhiteSpace(value))
            {
                problems.Add($"user_identities.{name} is empty.");
            }
        }

        if (batch.UserIdentities is not { Count: > 0 })
        {
            problems.Add("The batch has no user_identities; mParticle cannot attribute it.");
        }

        foreach (var key in batch.UserAttributes?.Keys ?? [])
        {
            if (key.StartsWith('$') && key is not ("$Age" or "$FirstName" or "$LastName" or "$Gender" or "$Mobile" or "$Address" or "$City" or "$State" or "$Zip" or "$Country"))
            {
                problems.Add($"user_attributes.{key} uses the reserved '$' prefix but is not a reserved attribute.");
            }
        }

        for (var i = 0; i < batch.Events.Count; i++)
        {
            CheckEvent(problems, $"events[{i}]", batch.Events[i]);
        }

        if (batch.Events.Count > 1)
        {
            var duplicates = batch.Events.GroupBy(e => e.Data.SourceMessageId, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToArray();
            if (duplicates.Length > 0)
            {
                problems.Add($"source_message_id repeats within the batch: {string.Join(", ", duplicates)}.");
            }
        }

        return problems;
    }

    private static void CheckEvent(List<string> problems, string path, MpEvent e)
    {
        var data = e.Data;
        if (data.TimestampUnixtimeMs is < MinPlausibleUnixMs or > MaxPlausibleUnixMs)
        {
            problems.Add($"{path}.data.timestamp_unixtime_ms is {data.TimestampUnixtimeMs}; it must be Unix milliseconds (seconds read as 1970).");
        }

        if (data.SourceMessageId.Length != 36 || !Guid.TryParseExact(data.SourceMessageId, "D", out _))
        {
            problems.Add($"{path}.data.source_message_id '{data.SourceMessageId}' is not a UUID.");
        }

        foreach (var (key, value) in data.CustomAttributes ?? EmptyMap)
        {
            if (key.Length > 256 || value.Length > 4096)
            {
                problems.Add($"{path}.data.custom_attributes.{key} exceeds 256 characters (name) or 4096 (value).");
            }
        }

        switch (e.EventType)
        {
            case "commerce_event":
                if (data.ProductAction is not { } action)
                {
                    problems.Add($"{path} is a commerce_event without product_action.");
                    break;
                }

                if (!ProductActions.All.Contains(action.Action))
                {
                    problems.Add($"{path}.data.product_action.action '{action.Action}' is not an mParticle product action.");
                }

                if (data.CurrencyCode is { } currency && !MoneyMath.IsCurrencyCode(currency))
                {
                    problems.Add($"{path}.data.currency_code '{currency}' is not an uppercase ISO 4217 code.");
                }

                if (action.Action == ProductActions.Purchase && (action.TransactionId is null || action.TotalAmount is null || data.CurrencyCode is null))
                {
                    problems.Add($"{path} is a purchase without transaction_id, total_amount or currency_code.");
                }

                foreach (var product in action.Products ?? [])
                {
                    if (string.IsNullOrEmpty(product.Id))
                    {
                        problems.Add($"{path}.data.product_action.products has a product without id.");
                    }
                }

                break;
            case "custom_event":
                if (string.IsNullOrEmpty(data.EventName) || data.EventName.Length > 256)
                {
                    problems.Add($"{path}.data.event_name must be 1 to 256 characters.");
                }

                if (data.CustomEventType is null || !CustomEventTypes.All.Contains(data.CustomEventType))
                {
                    problems.Add($"{path}.data.custom_event_type '{data.CustomEventType}' is not an mParticle custom event type.");
                }

                break;
            default:
                problems.Add($"{path}.event_type '{e.EventType}' is not one the relay sends.");
                break;
        }
    }
}
