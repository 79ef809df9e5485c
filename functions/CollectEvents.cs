using System.Net;
using CtMparticle.Configuration;
using CtMparticle.Sources.Collector;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Http;
using Microsoft.Extensions.Options;

namespace CtMparticle.Functions;

/// <summary>
/// The storefront collector (Segment HTTP Tracking API) under the host's route prefix: <c>POST /api/v1/track</c>,
/// <c>/api/v1/batch</c>, … and their CORS preflight. Anonymous at the host: each source's write key authenticates.
/// </summary>
internal sealed class CollectEvents(CollectorCalls collector, IOptions<CollectorOptions> options)
{
    [Function(nameof(CollectEvents))]
    public async Task<HttpResponseData> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", "options", Route = "v1/{call}")] HttpRequestData request,
        string call,
        CancellationToken cancellationToken)
    {
        var body = await CollectorCalls.ReadBodyAsync(request.Body, options.Value.MaxRequestBytes + 1, cancellationToken).ConfigureAwait(false);
        var result = await collector.HandleAsync(
            new CollectorRequest(request.Method.ToUpperInvariant(), call, Header(request, "Authorization"), Header(request, "Origin"), body),
            cancellationToken).ConfigureAwait(false);
        var response = request.CreateResponse((HttpStatusCode)result.Response.Status);
        foreach (var (name, value) in result.Response.Headers)
        {
            response.Headers.Add(name, value);
        }

        if (result.Response.Body.Length > 0)
        {
            response.Headers.Add("Content-Type", "application/json");
            await response.Body.WriteAsync(result.Response.Body, cancellationToken).ConfigureAwait(false);
        }

        return response;
    }

    private static string? Header(HttpRequestData request, string name) =>
        request.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}
