using CtMparticle.Configuration;

namespace CtMparticle.Delivery;

/// <summary>The mParticle Events API, as push sees it.</summary>
internal interface IEventsApi
{
    /// <summary>Posts a JSON array of batches to <c>/bulkevents</c> of the route's input. Never throws for HTTP outcomes.</summary>
    Task<EventsApiResult> SendBulkAsync(InputRoute route, ReadOnlyMemory<byte> body, CancellationToken cancellationToken);
}

/// <summary>
/// The closed set of what a bulk request can come to. Push decides by kind, never by status code.
/// </summary>
/// <param name="Status">The HTTP status, or 0 when no answer arrived or nothing was sent.</param>
internal abstract record EventsApiResult(int Status)
{
    /// <summary>What mParticle answered, from its status line and headers (for tests and the fake in ctmp).</summary>
    public static EventsApiResult FromStatus(int status, string? body = null, TimeSpan? retryAfter = null, string? rateLimitExceeded = null, int? percentageUsed = null) => status switch
    {
        >= 200 and < 300 => new Accepted(status, percentageUsed),
        400 or 413 or 422 => new Rejected(status, body),
        401 or 403 => new Unauthorized(status),
        429 => new Throttled(retryAfter, rateLimitExceeded),
        _ => new Failed(status),
    };
}

/// <summary>2xx: mParticle took the request. <paramref name="PercentageUsed"/> is its <c>X-mp-rate-limit-percentage-used</c>.</summary>
internal sealed record Accepted(int Status, int? PercentageUsed = null) : EventsApiResult(Status);

/// <summary>400, 413, 422: the payload itself is refused; it is never resent unchanged.</summary>
internal sealed record Rejected(int Status, string? Body) : EventsApiResult(Status);

/// <summary>401, 403: the input's credentials were refused; nothing was accepted.</summary>
internal sealed record Unauthorized(int Status) : EventsApiResult(Status);

/// <summary>429, with mParticle's <c>Retry-After</c> and <c>X-mp-rate-limit-exceeded</c> when it sent them.</summary>
internal sealed record Throttled(TimeSpan? RetryAfter, string? RateLimitExceeded) : EventsApiResult(429);

/// <summary>Any other status (5xx above all): mParticle may or may not have kept it, so it is resent identically.</summary>
internal sealed record Failed(int Status) : EventsApiResult(Status);

/// <summary>No answer (timeout, reset): the request may have been accepted, so it is resent identically.</summary>
internal sealed record NoAnswer(string Error) : EventsApiResult(0);

/// <summary>Nothing was sent: the input's settings are incomplete (a person must fix them).</summary>
internal sealed record NotConfigured(string Problem) : EventsApiResult(0);
