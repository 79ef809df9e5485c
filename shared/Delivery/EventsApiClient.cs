using System.Net.Http.Headers;
using System.Text;
using CtMparticle.Configuration;
using Microsoft.Extensions.Configuration;

namespace CtMparticle.Delivery;

/// <summary>
/// The Events API over a typed <see cref="HttpClient"/> (from the factory): POST <c>{base}/bulkevents</c> with Basic
/// auth from the settings the input names. Every outcome is an <see cref="EventsApiResult"/>, never an exception; a
/// timeout or a connection failure is <see cref="NoAnswer"/> with the cause.
/// </summary>
internal sealed class EventsApiClient(HttpClient http, IConfiguration configuration, TimeProvider time) : IEventsApi
{
    public async Task<EventsApiResult> SendBulkAsync(InputRoute route, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var key = configuration[route.ApiKeySetting];
        var secret = configuration[route.ApiSecretSetting];
        if (string.IsNullOrEmpty(key) || string.IsNullOrEmpty(secret))
        {
            return new NotConfigured(
                $"the setting {(string.IsNullOrEmpty(key) ? route.ApiKeySetting : route.ApiSecretSetting)} (named by input {route.InputName}) is empty or missing");
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(route.BaseUrl.ToString().TrimEnd('/') + "/bulkevents"))
        {
            Content = new ReadOnlyMemoryContent(body),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{key}:{secret}")));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            return EventsApiResult.FromStatus(
                (int)response.StatusCode,
                string.IsNullOrWhiteSpace(text) ? null : text.Length > 8_192 ? text[..8_192] : text,
                RetryAfter(response.Headers.RetryAfter),
                Header(response, "X-mp-rate-limit-exceeded"),
                int.TryParse(Header(response, "X-mp-rate-limit-percentage-used"), out var used) ? used : null);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new NoAnswer($"no answer within {http.Timeout.TotalSeconds:F0}s");
        }
        catch (HttpRequestException ex)
        {
            return new NoAnswer(ex.HttpRequestError.ToString());
        }
    }

    private TimeSpan? RetryAfter(RetryConditionHeaderValue? header) => header switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date > time.GetUtcNow() ? date - time.GetUtcNow() : TimeSpan.Zero,
        _ => null,
    };

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}
