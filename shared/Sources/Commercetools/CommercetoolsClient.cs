using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using CtMparticle.Configuration;
using CtMparticle.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Sources.Commercetools;

/// <summary>The commercetools API the relay reads from. Section <c>Commercetools</c>; empty ProjectKey disables fetching.</summary>
internal sealed class CommercetoolsOptions
{
    public const string Section = "Commercetools";

    [RegularExpression("^[a-z0-9-_]*$", ErrorMessage = "Commercetools:ProjectKey is lowercase letters, digits, '-' and '_'.")]
    public string? ProjectKey { get; set; }

    /// <summary>The region's API host, e.g. https://api.europe-west1.gcp.commercetools.com.</summary>
    public Uri? ApiUrl { get; set; }

    /// <summary>The region's auth host, e.g. https://auth.europe-west1.gcp.commercetools.com.</summary>
    public Uri? AuthUrl { get; set; }

    public string? ClientId { get; set; }

    /// <summary>The NAME of the setting holding the API client's secret (a Key Vault reference in Azure).</summary>
    [RegularExpression("^[A-Za-z0-9_:.-]*$", ErrorMessage = "Commercetools:ClientSecretSetting must be the NAME of a setting, not the secret.")]
    public string? ClientSecretSetting { get; set; }

    /// <summary>Space-separated scopes; default: the read scopes the relay needs for the project.</summary>
    public string? Scopes { get; set; }

    [TimeSpanRange("00:00:01", "00:05:00")]
    public TimeSpan HttpTimeout { get; set; } = TimeSpan.FromSeconds(20);

    public bool Enabled => !string.IsNullOrWhiteSpace(ProjectKey);

    public string EffectiveScopes => string.IsNullOrWhiteSpace(Scopes)
        ? $"view_orders:{ProjectKey} view_customers:{ProjectKey} view_payments:{ProjectKey} view_published_products:{ProjectKey}"
        : Scopes;
}

/// <summary>A configured API must have every piece; the messages say which.</summary>
internal sealed class CommercetoolsOptionsValidator : IValidateOptions<CommercetoolsOptions>
{
    public ValidateOptionsResult Validate(string? name, CommercetoolsOptions options)
    {
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }

        var failures = new List<string>();
        if (options.ApiUrl is not { IsAbsoluteUri: true })
        {
            failures.Add("Commercetools:ApiUrl must be the region's API host, e.g. https://api.europe-west1.gcp.commercetools.com.");
        }

        if (options.AuthUrl is not { IsAbsoluteUri: true })
        {
            failures.Add("Commercetools:AuthUrl must be the region's auth host, e.g. https://auth.europe-west1.gcp.commercetools.com.");
        }

        if (string.IsNullOrWhiteSpace(options.ClientId) || string.IsNullOrWhiteSpace(options.ClientSecretSetting))
        {
            failures.Add("Commercetools:ClientId and Commercetools:ClientSecretSetting (the name of the setting holding the secret) are required when Commercetools:ProjectKey is set.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>The result of a read: the resource, or why not.</summary>
/// <param name="CredentialsRefused">
/// commercetools refused the relay's own credentials (the token request, a 401 after a refresh, a 403, a missing
/// secret): no message is at fault, so none is quarantined for it; the caller retries later.
/// </param>
internal sealed record CtFetch<T>(T? Value, int Status, bool Transient, string? Problem, bool CredentialsRefused = false)
    where T : class
{
    public static CtFetch<T> Of(T value) => new(value, 200, false, null);

    /// <summary>Whether asking again later may succeed: the API was unavailable, or the credentials need a person.</summary>
    public bool RetryLater => Transient || CredentialsRefused;
}

internal sealed record CtPage<T>(int Limit, int Count, IReadOnlyList<T> Results);

internal sealed record CtPayment
{
    public required string Id { get; init; }
    public IReadOnlyList<CtTransaction>? Transactions { get; init; }
}

/// <summary>
/// A small commercetools HTTP API client (the official .NET SDK is not served here): OAuth2 client credentials with a
/// cached token refreshed before expiry, one refresh on 401, back-off and retry on 429/502/503/504, and outcomes as
/// values. Reads orders, payments, customers, carts and published products, and pages customers modified since a checkpoint.
/// </summary>
internal sealed class CommercetoolsClient(
    HttpClient http, CommercetoolsSession session, IOptions<CommercetoolsOptions> options, IConfiguration configuration, TimeProvider time,
    ILogger<CommercetoolsClient> logger)
{
    private const int MaxAttempts = 4;

    /// <summary>After commercetools refuses the credentials, no call is made for this long (every caller retries later).</summary>
    public static readonly TimeSpan CredentialsPause = TimeSpan.FromMinutes(1);


    private CommercetoolsOptions Options => options.Value;

    /// <summary>False when no project is configured (Commercetools:ProjectKey empty): every read then answers "not configured".</summary>
    public bool IsConfigured => Options.Enabled;

    public Task<CtFetch<CtOrder>> GetOrderAsync(string orderId, CancellationToken cancellationToken) =>
        GetAsync($"orders/{Uri.EscapeDataString(orderId)}?expand=discountCodes%5B*%5D.discountCode", CtClientJsonContext.Default.CtOrder, cancellationToken);

    public async Task<CtFetch<CtOrder>> FindOrderByPaymentAsync(string paymentId, CancellationToken cancellationToken)
    {
        var where = Uri.EscapeDataString($"paymentInfo(payments(id = \"{paymentId.Replace("\"", "", StringComparison.Ordinal)}\"))");
        var page = await GetAsync($"orders?where={where}&limit=1&withTotal=false", CtClientJsonContext.Default.CtPageCtOrder, cancellationToken).ConfigureAwait(false);
        return page.Value is { } p
            ? p.Results.Count > 0 ? CtFetch<CtOrder>.Of(p.Results[0]) : new CtFetch<CtOrder>(null, 404, false, $"No order references payment {paymentId}.")
            : new CtFetch<CtOrder>(null, page.Status, page.Transient, page.Problem);
    }

    public Task<CtFetch<CtPayment>> GetPaymentAsync(string paymentId, CancellationToken cancellationToken) =>
        GetAsync($"payments/{Uri.EscapeDataString(paymentId)}", CtClientJsonContext.Default.CtPayment, cancellationToken);

    public Task<CtFetch<CtCustomer>> GetCustomerAsync(string customerId, CancellationToken cancellationToken) =>
        GetAsync($"customers/{Uri.EscapeDataString(customerId)}", CtClientJsonContext.Default.CtCustomer, cancellationToken);

    public Task<CtFetch<CtCart>> GetCartAsync(string cartId, CancellationToken cancellationToken) =>
        GetAsync($"carts/{Uri.EscapeDataString(cartId)}", CtClientJsonContext.Default.CtCart, cancellationToken);

    /// <summary>The published product with a variant of this SKU, or a 404-style answer when there is none.</summary>
    public async Task<CtFetch<CtProductProjection>> FindProductBySkuAsync(string sku, CancellationToken cancellationToken)
    {
        var quoted = sku.Replace("\\", "", StringComparison.Ordinal).Replace("\"", "", StringComparison.Ordinal);
        var where = Uri.EscapeDataString($"masterVariant(sku = \"{quoted}\") or variants(sku = \"{quoted}\")");
        var page = await GetAsync($"product-projections?where={where}&staged=false&limit=1&withTotal=false", CtClientJsonContext.Default.CtPageCtProductProjection, cancellationToken).ConfigureAwait(false);
        return page.Value is { } p
            ? p.Results.Count > 0 ? CtFetch<CtProductProjection>.Of(p.Results[0]) : new CtFetch<CtProductProjection>(null, 404, false, "No published product has this SKU.")
            : new CtFetch<CtProductProjection>(null, page.Status, page.Transient, page.Problem);
    }

    /// <summary>The first published products (the demo shop's catalogue), without totals.</summary>
    public Task<CtFetch<CtPage<CtProductProjection>>> ListProductsAsync(int limit, CancellationToken cancellationToken) =>
        GetAsync($"product-projections?staged=false&limit={Math.Clamp(limit, 1, 100)}&withTotal=false", CtClientJsonContext.Default.CtPageCtProductProjection, cancellationToken);

    /// <summary>
    /// One page of customers modified after the cursor (<paramref name="since"/>, <paramref name="afterId"/>), sorted by
    /// lastModifiedAt then id, without totals (never deep offsets).
    /// </summary>
    public Task<CtFetch<CtPage<CtCustomer>>> QueryCustomersModifiedSinceAsync(DateTimeOffset since, string afterId, int limit, CancellationToken cancellationToken)
    {
        var ts = since.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        var where = Uri.EscapeDataString("lastModifiedAt > :ts or (lastModifiedAt = :ts and id > :id)");
        var query = $"customers?where={where}&var.ts={Uri.EscapeDataString(ts)}&var.id={Uri.EscapeDataString(afterId)}" +
            $"&sort={Uri.EscapeDataString("lastModifiedAt asc")}&sort={Uri.EscapeDataString("id asc")}&limit={Math.Clamp(limit, 1, 500)}&withTotal=false";
        return GetAsync(query, CtClientJsonContext.Default.CtPageCtCustomer, cancellationToken);
    }

    private async Task<CtFetch<T>> GetAsync<T>(string relative, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
        where T : class
    {
        if (!Options.Enabled)
        {
            return new CtFetch<T>(null, 0, false, "The commercetools API is not configured (Commercetools:ProjectKey is empty).");
        }

        if (time.GetUtcNow() < session.PausedUntil)
        {
            return new CtFetch<T>(null, 0, false, $"Paused until {session.PausedUntil:u}: {session.PauseProblem}", CredentialsRefused: true);
        }

        var refreshed = false;
        for (var attempt = 1; ; attempt++)
        {
            var bearer = await TokenAsync(force: false, cancellationToken).ConfigureAwait(false);
            if (bearer.Problem is { } problem)
            {
                return bearer.Credentials ? Pause<T>(bearer.Status, problem) : new CtFetch<T>(null, bearer.Status, bearer.Transient, problem);
            }

            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Options.ApiUrl!, $"/{Options.ProjectKey}/{relative}"));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer.Token);
            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                if (attempt < MaxAttempts)
                {
                    await Task.Delay(Backoff(attempt, null), time, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                return new CtFetch<T>(null, 0, true, $"commercetools did not answer ({ex.GetType().Name}).");
            }

            using (response)
            {
                var status = (int)response.StatusCode;
                if (response.IsSuccessStatusCode)
                {
                    var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                    try
                    {
                        return JsonSerializer.Deserialize(body, typeInfo) is { } value
                            ? CtFetch<T>.Of(value)
                            : new CtFetch<T>(null, status, false, "commercetools answered an empty body.");
                    }
                    catch (JsonException ex)
                    {
                        return new CtFetch<T>(null, status, false, $"commercetools answered a body of an unexpected shape: {ex.Message}");
                    }
                }

                if (status == 401 && !refreshed)
                {
                    refreshed = true;
                    await TokenAsync(force: true, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (status is 429 or 502 or 503 or 504 && attempt < MaxAttempts)
                {
                    await Task.Delay(Backoff(attempt, response.Headers.RetryAfter?.Delta), time, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                return status is 401 or 403
                    ? Pause<T>(status, Describe(status, text))
                    : new CtFetch<T>(null, status, status is 429 or >= 500, Describe(status, text));
            }
        }
    }

    /// <summary>The credentials were refused: stop calling for <see cref="CredentialsPause"/>, and say so once, as an error to alert on.</summary>
    private CtFetch<T> Pause<T>(int status, string problem)
        where T : class
    {
        session.PausedUntil = time.GetUtcNow() + CredentialsPause;
        session.PauseProblem = problem;
        RelayLog.CommercetoolsCredentialsRefused(logger, status, CredentialsPause.TotalSeconds, problem);
        return new CtFetch<T>(null, status, false, problem, CredentialsRefused: true);
    }

    private static TimeSpan Backoff(int attempt, TimeSpan? retryAfter) =>
        retryAfter ?? TimeSpan.FromMilliseconds(Math.Min(5_000, 200 * Math.Pow(2, attempt - 1)) * (0.5 + (Random.Shared.NextDouble() / 2)));

    /// <summary>What a refused request means to an operator; any body shape (HTML from a proxy, a bare array) is tolerated.</summary>
    internal static string Describe(int status, string body)
    {
        var code = ErrorCode(body) is { Length: > 0 } c ? $" ({c})" : "";
        return status switch
        {
            400 => $"commercetools refused the request{code}; a predicate or parameter is wrong.",
            401 => "commercetools refused the token twice; check Commercetools:ClientId and the client secret setting.",
            403 => $"The API client lacks a scope{code}; grant view_orders, view_customers and view_payments (Commercetools:Scopes).",
            404 => "Not found in commercetools (deleted meanwhile?).",
            _ => $"commercetools answered {status}{code}.",
        };
    }

    /// <summary>The first <c>errors[].code</c> of a commercetools error body, or empty when the body has none.</summary>
    private static string ErrorCode(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            return root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0
                && errors[0].ValueKind == JsonValueKind.Object && errors[0].TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String
                ? code.GetString()!
                : "";
        }
        catch (JsonException)
        {
            return ""; // not JSON (a gateway's HTML page, say): the status alone explains the refusal
        }
    }

    private sealed record Bearer(string? Token, int Status, bool Transient, string? Problem, bool Credentials = false);

    private async Task<Bearer> TokenAsync(bool force, CancellationToken cancellationToken)
    {
        await session.TokenGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!force && session.Token is { } cached && time.GetUtcNow() < session.TokenExpires)
            {
                return new Bearer(cached, 200, false, null);
            }

            var secret = configuration[Options.ClientSecretSetting!];
            if (string.IsNullOrEmpty(secret))
            {
                return new Bearer(null, 0, false, $"The setting {Options.ClientSecretSetting} (Commercetools:ClientSecretSetting) holding the client secret is empty.", Credentials: true);
            }

            var scopes = Options.EffectiveScopes;
            var form = $"grant_type=client_credentials&scope={Uri.EscapeDataString(scopes)}";
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Options.AuthUrl!, "/oauth/token?" + form))
            {
                Content = new StringContent(form, Encoding.UTF8, "application/x-www-form-urlencoded"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Options.ClientId}:{secret}")));
            try
            {
                using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
                var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    var status = (int)response.StatusCode;
                    return status is 400 or 401 or 403
                        ? new Bearer(null, status, false, "commercetools refused the client credentials or scopes; check Commercetools:ClientId, the secret and Commercetools:Scopes.", Credentials: true)
                        : new Bearer(null, status, status is 429 or >= 500, $"The auth host answered {status}.");
                }

                var parsed = JsonSerializer.Deserialize(body, CtClientJsonContext.Default.TokenResponse)!;
                session.Token = parsed.AccessToken;
                // Reuse the token until shortly before it expires (48 h by default), never one per call.
                session.TokenExpires = time.GetUtcNow().AddSeconds(Math.Max(30, parsed.ExpiresIn - 300));
                return new Bearer(parsed.AccessToken, 200, false, null);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                return new Bearer(null, 0, true, $"The auth host did not answer ({ex.GetType().Name}).");
            }
        }
        finally
        {
            session.TokenGate.Release();
        }
    }

    internal sealed record TokenResponse(
        [property: JsonPropertyName("access_token")] string AccessToken,
        [property: JsonPropertyName("expires_in")] int ExpiresIn);
}

/// <summary>
/// What the client must remember across calls, for the process (a singleton): the access token and, after commercetools
/// refused the credentials, until when no call is made. The client itself is a typed HttpClient, created per use.
/// </summary>
internal sealed class CommercetoolsSession : IDisposable
{
    public SemaphoreSlim TokenGate { get; } = new(1, 1);

    public string? Token { get; set; }

    public DateTimeOffset TokenExpires { get; set; }

    public DateTimeOffset PausedUntil { get; set; }

    public string? PauseProblem { get; set; }

    public void Dispose() => TokenGate.Dispose();
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, RespectNullableAnnotations = true)]
[JsonSerializable(typeof(CtOrder))]
[JsonSerializable(typeof(CtCustomer))]
[JsonSerializable(typeof(CtPayment))]
[JsonSerializable(typeof(CtCart))]
[JsonSerializable(typeof(CtPage<CtOrder>))]
[JsonSerializable(typeof(CtPage<CtCustomer>))]
[JsonSerializable(typeof(CtPage<CtProductProjection>))]
[JsonSerializable(typeof(CommercetoolsClient.TokenResponse))]
internal sealed partial class CtClientJsonContext : JsonSerializerContext;
