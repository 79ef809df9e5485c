using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CtMparticle.Configuration;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using CtMparticle.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Sources.Collector;

/// <summary>One HTTP request to the collector, as any host hands it over.</summary>
/// <param name="Method">HTTP method (POST, OPTIONS).</param>
/// <param name="Call">The path's last segment under <c>/v1/</c>: track, identify, page, screen, alias, group or batch (anything else is 404).</param>
internal sealed record CollectorRequest(string Method, string Call, string? Authorization, string? Origin, ReadOnlyMemory<byte> Body);

/// <summary>The answer, for the host to write: status, headers and a small JSON body.</summary>
internal sealed record CollectorResponse(int Status, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body);

/// <summary>What one request did: the answer, and each call's outcome (for the runner's ledger).</summary>
internal sealed record CollectorResult(CollectorResponse Response, IReadOnlyList<(Inbound Input, IngestOutcome Outcome)> Calls)
{
    /// <summary>
    /// The answer once a host with a ledger of the calls it received (<c>ctmp serve</c>) knows which of them came
    /// before (a tracker's retry whose answer it never got): those count as duplicates, as its report counts them,
    /// instead of as the outcome their message had the first time. Any other answer than 200 stays as it is.
    /// </summary>
    public CollectorResult WithReceivedBefore(IReadOnlyList<bool> receivedBefore)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(receivedBefore.Count, Calls.Count);
        return Response.Status != 200 || !receivedBefore.Contains(true)
            ? this
            : this with { Response = Response with { Body = CollectorCalls.Success(Calls.Select((c, i) => receivedBefore[i] ? IngestOutcomeKind.Duplicate : c.Outcome.Kind).ToList()) } };
    }
}

/// <summary>The storefront source's own ingest pipeline: the shared stages behind <see cref="CollectorSource"/>.</summary>
internal sealed class CollectorIngest(
    CollectorSource source, ConsentStage gate, GovernStage governor, StoreStage store, TimeProvider time, IdentityStage identities, LinkStage links, RelayMetrics metrics)
{
    private readonly IngestPipeline pipeline = new(source, gate, governor, store, time, identities, links, metrics);

    public Task<IngestOutcome> IngestAsync(Inbound inbound, CancellationToken cancellationToken) => pipeline.IngestAsync(inbound, cancellationToken);

    public Task<PreparedInput> PrepareAsync(Inbound inbound, CancellationToken cancellationToken) => pipeline.PrepareAsync(inbound, cancellationToken);

    public Task<IngestOutcome> SettleAsync(PreparedInput prepared, CancellationToken cancellationToken) => pipeline.SettleAsync(prepared, cancellationToken);
}

/// <summary>
/// A host's store writer: runs <c>settle</c> (every call's consent, plan and store writes for one request) as one
/// durable unit, one request at a time, and returns its result only once it is durable. The embedded store has one
/// writer; a host whose store takes concurrent writers (Table Storage) passes none.
/// </summary>
internal delegate Task<CollectorResult> WriterSection(Func<CancellationToken, Task<CollectorResult>> settle, CancellationToken cancellationToken);

/// <summary>
/// The Segment HTTP Tracking API, host-agnostic: authentication (Basic with the write key, or <c>writeKey</c> in the
/// body), size limits, the source's rate, CORS, and one ingest per call (a batch's calls one by one, so one bad call
/// never sinks the others). It answers 200 only once every call has a durable outcome. The function app and
/// <c>ctmp serve</c> are thin adapters around <c>HandleAsync</c>.
/// </summary>
/// <remarks>
/// A host with a <see cref="IBatchSettler"/> (the function app, on Azure Tables) settles a request's calls as one batch,
/// written behind; without one (the embedded store, whose host's writer commits a request's calls together) each
/// call is settled on its own.
/// </remarks>
internal sealed class CollectorCalls(
    CollectorIngest ingest,
    CollectorRateLimits limits,
    IOptions<CollectorOptions> options,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<CollectorCalls> logger,
    IBatchSettler? batches = null)
{
    /// <summary>Answers are JSON read by trackers and people: apostrophes and non-ASCII stay readable.</summary>
    private static readonly JsonWriterOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public Task<CollectorResult> HandleAsync(CollectorRequest request, CancellationToken cancellationToken) => HandleAsync(request, null, cancellationToken);

    /// <summary>
    /// Answers one request. Its calls are decoded, enriched, mapped and checked against the plan first, concurrently
    /// with other requests; only then does <paramref name="writer"/> (when given) settle them, one request at a time.
    /// </summary>
    public async Task<CollectorResult> HandleAsync(CollectorRequest request, WriterSection? writer, CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (request.Method == "OPTIONS")
        {
            return Answer(Preflight(request.Origin));
        }

        if (request.Method != "POST")
        {
            return Answer(Error(405, "Only POST (and OPTIONS for CORS) is served.", [new("Allow", "POST, OPTIONS")]));
        }

        // analytics.js and analytics-next post to one-letter paths (/v1/t, /v1/p, /v1/b, ...): the same calls.
        var callName = request.Call switch
        {
            "t" => SegmentTypes.Track,
            "i" => SegmentTypes.Identify,
            "p" => SegmentTypes.Page,
            "s" => SegmentTypes.Screen,
            "a" => SegmentTypes.Alias,
            "g" => SegmentTypes.Group,
            "b" => "batch",
            var name => name,
        };
        var batch = callName == "batch";
        if (!batch && !SegmentTypes.Endpoints.Contains(callName))
        {
            return Answer(Error(404, "Unknown endpoint: use /v1/track, /v1/identify, /v1/page, /v1/screen, /v1/alias, /v1/group or /v1/batch."));
        }

        if (request.Body.Length > o.MaxRequestBytes)
        {
            return Answer(Error(413, $"The request is larger than {o.MaxRequestBytes / 1024} KB; send fewer calls per batch."));
        }

        var (body, refusal) = SegmentDecoder.Parse(request.Body.Span);
        var source = Authenticate(request.Authorization, body);
        if (source is null)
        {
            return Answer(body is null && request.Authorization is null
                ? Error(400, $"The body is not a JSON object ({refusal!.Reason.Code()}): {refusal.Detail}")
                : Error(401, "A valid write key is required: HTTP Basic with the key as user name and an empty password, or writeKey in the body.",
                    [new("WWW-Authenticate", "Basic realm=\"ctmparticle\"")]));
        }

        var cors = Cors(source, request.Origin);
        if (cors is null)
        {
            return Answer(Error(403, "This origin may not send to this source (Collector:Sources:N:AllowedOrigins)."));
        }

        if (body is null)
        {
            // Not JSON from an authenticated source: the bytes are quarantined with the reason (any copy of the write key
            // in them blanked: it is never stored), and the tracker told.
            var unreadable = await PrepareAsync(new Inbound(WithoutKey(request.Body, configuration[source.WriteKeySetting]), Source: source.Name), cancellationToken).ConfigureAwait(false);
            return unreadable is null
                ? Unavailable(cors)
                : await SettleAsync([unreadable], writer, cors, results => new CollectorResult(Error(400, $"{refusal!.Reason.Code()}: {refusal.Detail}", cors), results), cancellationToken).ConfigureAwait(false);
        }

        var calls = batch ? Items(body) : [(JsonNode?)body];
        if (calls is null)
        {
            return Answer(Error(400, "batch is missing or not an array: the body of /v1/batch is {\"batch\": [...]}.", cors));
        }

        if (!limits.For(source).TryTake(calls.Count, out var retryAfter))
        {
            RelayLog.CollectorThrottled(logger, source.Name, calls.Count);
            return Answer(Error(429, $"Source '{source.Name}' sends more than {source.RateLimitPerSecond} events per second; retry later.",
                [.. cors, new("Retry-After", Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture))]));
        }

        if (!batch && request.Body.Length > o.MaxEventBytes) // a single call's body is the call
        {
            return Answer(Error(413, $"The call is larger than {o.MaxEventBytes / 1024} KB.", cors));
        }

        var receivedAt = time.GetUtcNow();
        var prepared = new List<PreparedInput>(calls.Count);
        foreach (var call in calls)
        {
            // A batch item that is not an object goes in as it is, and the decoder refuses it as not_an_object.
            var bytes = call is JsonObject obj
                ? Normalize(obj, batch ? null : callName, receivedAt, batch ? body : null)
                : Encoding.UTF8.GetBytes(call?.ToJsonString() ?? "null");
            if (await PrepareAsync(new Inbound(bytes, Source: source.Name), cancellationToken).ConfigureAwait(false) is not { } input)
            {
                return Unavailable(cors);
            }

            prepared.Add(input);
        }

        return await SettleAsync(prepared, writer, cors, results =>
            !batch && results[0].Outcome is { Kind: IngestOutcomeKind.Quarantined, Reason: { } reason } single && IsClientError(reason)
                ? new CollectorResult(Error(400, $"{reason}: {single.Detail}", cors), results)
                : new CollectorResult(new CollectorResponse(200, cors, Success(results.Select(r => r.Outcome.Kind).ToList())), results),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Settles the prepared calls in order (under the host's writer), and answers with <paramref name="answer"/>.</summary>
    private async Task<CollectorResult> SettleAsync(
        IReadOnlyList<PreparedInput> prepared, WriterSection? writer, KeyValuePair<string, string>[] cors,
        Func<IReadOnlyList<(Inbound Input, IngestOutcome Outcome)>, CollectorResult> answer, CancellationToken cancellationToken)
    {
        async Task<CollectorResult> Settle(CancellationToken token)
        {
            if (batches is not null)
            {
                try
                {
                    var outcomes = await batches.SettleAsync(prepared, ingest.SettleAsync, token).ConfigureAwait(false);
                    return answer([.. prepared.Select((input, i) => (input.Inbound, outcomes[i]))]);
                }
                catch (Exception ex) when (!token.IsCancellationRequested && Faults.IsTransient(ex, token))
                {
                    // Nothing of the batch was stored: the tracker's retry stores every call.
                    RelayLog.CollectorUnavailable(logger, ex.GetType().Name);
                    return Unavailable(cors);
                }
            }

            var results = new List<(Inbound Input, IngestOutcome Outcome)>(prepared.Count);
            foreach (var input in prepared)
            {
                try
                {
                    results.Add((input.Inbound, await ingest.SettleAsync(input, token).ConfigureAwait(false)));
                }
                catch (Exception ex) when (!token.IsCancellationRequested && Faults.IsTransient(ex, token))
                {
                    // The store could not take the write: trackers retry a 503, and the calls already stored are
                    // duplicates then (same messageId), so nothing is lost or doubled.
                    RelayLog.CollectorUnavailable(logger, ex.GetType().Name);
                    return Unavailable(cors) with { Calls = results };
                }
            }

            return answer(results);
        }

        return writer is null ? await Settle(cancellationToken).ConfigureAwait(false) : await writer(Settle, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A Segment call read from a file (NDJSON exported from a tracker, the bundled journey) in the form the collector
    /// stores, or null when the bytes are not one: a JSON object whose <c>type</c> is a Segment call type and that
    /// carries none of commercetools' envelope members (their message types are PascalCase, never <c>track</c>).
    /// </summary>
    public static byte[]? AsStoredCall(ReadOnlySpan<byte> bytes, DateTimeOffset receivedAt)
    {
        var (call, _) = SegmentDecoder.Parse(bytes);
        return call is not null
            && call["type"] is JsonValue type && type.GetValueKind() == JsonValueKind.String && SegmentTypes.Endpoints.Contains(type.GetValue<string>())
            && call["notificationType"] is null && call["specversion"] is null && call["resource"] is null
                ? Normalize(call, null, receivedAt)
                : null;
    }

    /// <summary>
    /// True when the bytes surely are not a Segment call (<see cref="AsStoredCall"/> would answer null): a top-level
    /// member <c>resource</c>, <c>notificationType</c> or <c>specversion</c> that is not null, as every commercetools
    /// message and CloudEvent has. Reads the top level only, without building it, so a runner can tell commercetools'
    /// deliveries from calls without parsing each delivery twice; when unsure (not JSON, cut off) it answers false.
    /// </summary>
    public static bool SurelyNotACall(ReadOnlySpan<byte> bytes)
    {
        try
        {
            var reader = new Utf8JsonReader(bytes);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var envelope = reader.ValueTextEquals("resource"u8) || reader.ValueTextEquals("notificationType"u8) || reader.ValueTextEquals("specversion"u8);
                if (!reader.Read())
                {
                    return false;
                }

                if (envelope && reader.TokenType != JsonTokenType.Null)
                {
                    return true;
                }

                reader.Skip();
            }

            return false;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>A request body, up to <paramref name="limit"/> bytes (hosts read one more than the collector accepts, so it can answer 413).</summary>
    public static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(Stream body, int limit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while (buffer.Length < limit && (read = await body.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, limit - buffer.Length)), cancellationToken).ConfigureAwait(false)) > 0)
        {
            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>The call prepared for settling, or null when a transient failure (commercetools down mid-resolve) means a 503.</summary>
    private async Task<PreparedInput?> PrepareAsync(Inbound inbound, CancellationToken cancellationToken)
    {
        try
        {
            return await ingest.PrepareAsync(inbound, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && Faults.IsTransient(ex, cancellationToken))
        {
            RelayLog.CollectorUnavailable(logger, ex.GetType().Name);
            return null;
        }
    }

    /// <summary>The source whose write key the request carries (Basic user name, else <c>writeKey</c> in the body).</summary>
    private CollectorSourceOptions? Authenticate(string? authorization, JsonObject? body)
    {
        string? key = null;
        if (authorization is { } header && header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
                key = decoded.Split(':', 2)[0];
            }
            catch (FormatException)
            {
                return null;
            }
        }
        else if (body?["writeKey"] is JsonValue value && value.GetValueKind() == JsonValueKind.String)
        {
            key = value.GetValue<string>();
        }

        if (string.IsNullOrEmpty(key))
        {
            return null;
        }

        var offered = Encoding.UTF8.GetBytes(key);
        foreach (var source in options.Value.Sources)
        {
            var expected = configuration[source.WriteKeySetting];
            if (!string.IsNullOrEmpty(expected) && CryptographicOperations.FixedTimeEquals(offered, Encoding.UTF8.GetBytes(expected)))
            {
                return source;
            }
        }

        return null;
    }

    /// <summary>CORS headers for a request from <paramref name="origin"/>, or null when the source does not allow it.</summary>
    private static KeyValuePair<string, string>[]? Cors(CollectorSourceOptions source, string? origin) =>
        origin is null ? []
        : source.AllowedOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase) ? [new("Access-Control-Allow-Origin", origin), new("Vary", "Origin")]
        : null;

    private CollectorResponse Preflight(string? origin)
    {
        if (origin is null || !options.Value.Sources.Any(s => s.AllowedOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase)))
        {
            return Error(403, "This origin is not allowed to call the collector.");
        }

        return new CollectorResponse(204,
        [
            new("Access-Control-Allow-Origin", origin),
            new("Vary", "Origin"),
            new("Access-Control-Allow-Methods", "POST, OPTIONS"),
            new("Access-Control-Allow-Headers", "Authorization, Content-Type"),
            new("Access-Control-Max-Age", "86400"),
        ], []);
    }

    /// <summary>A batch's calls (an item that is not an object stays as it is, to be refused as such), or null when <c>batch</c> is not an array.</summary>
    private static List<JsonNode?>? Items(JsonObject body) => body["batch"] is JsonArray items ? [.. items] : null;

    /// <summary>
    /// The call as the relay keeps it: the client's JSON without any <c>writeKey</c>, with <c>type</c> (from the
    /// endpoint when absent), a <c>messageId</c> (derived from the content when absent, so a retry keeps it) and the
    /// collector's <c>receivedAt</c>. A batch item also takes what the batch states for all of its calls, as Segment's
    /// batch endpoint does: the batch's <c>sentAt</c> (analytics-next sets it there; the clock-skew correction needs
    /// it) and the members of its <c>context</c> the item's own context does not have.
    /// </summary>
    internal static byte[] Normalize(JsonObject call, string? endpointType, DateTimeOffset receivedAt, JsonObject? batch = null)
    {
        var copy = (JsonObject)call.DeepClone();
        copy.Remove("writeKey");
        copy.Remove("receivedAt");
        if (batch is not null)
        {
            if (copy["sentAt"] is null && batch["sentAt"] is JsonValue sentAt)
            {
                copy["sentAt"] = sentAt.DeepClone();
            }

            if (batch["context"] is JsonObject shared && copy["context"] is null or JsonObject)
            {
                if (copy["context"] is not JsonObject context)
                {
                    copy["context"] = context = [];
                }

                foreach (var (name, value) in shared)
                {
                    if (!context.ContainsKey(name))
                    {
                        context[name] = value?.DeepClone();
                    }
                }
            }
        }

        if (endpointType is not null)
        {
            copy["type"] = endpointType;
        }

        if (copy["messageId"] is null)
        {
            var content = Encoding.UTF8.GetBytes(copy.ToJsonString());
            copy["messageId"] = "ctmp-" + Convert.ToHexStringLower(SHA256.HashData(content))[..32];
        }

        copy["receivedAt"] = receivedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        return Encoding.UTF8.GetBytes(copy.ToJsonString());
    }

    /// <summary>The bytes with every occurrence of the key replaced by asterisks of the same length.</summary>
    private static byte[] WithoutKey(ReadOnlyMemory<byte> body, string? key)
    {
        var bytes = body.ToArray();
        if (string.IsNullOrEmpty(key))
        {
            return bytes;
        }

        var needle = Encoding.UTF8.GetBytes(key);
        for (var at = bytes.AsSpan().IndexOf(needle); at >= 0;)
        {
            bytes.AsSpan(at, needle.Length).Fill((byte)'*');
            var next = bytes.AsSpan(at + needle.Length).IndexOf(needle);
            at = next < 0 ? -1 : at + needle.Length + next;
        }

        return bytes;
    }

    /// <summary>Refusals a tracker's single call gets as 400 (its data is wrong), not outcomes of the relay's own rules.</summary>
    private static bool IsClientError(string reason) => reason is "empty_body" or "not_utf8" or "malformed_json" or "not_an_object" or "too_deep"
        or "missing_field" or "wrong_type" or "body_too_large" or "invalid_currency" or "invalid_money" or "invalid_quantity" or "no_identity";

    private static CollectorResult Answer(CollectorResponse response) => new(response, []);

    private static CollectorResult Unavailable(IReadOnlyList<KeyValuePair<string, string>> cors) => Answer(StoreUnavailable(cors));

    /// <summary>503 with Retry-After: the store could not take the write (trackers retry; calls stored before are duplicates then).</summary>
    internal static CollectorResponse StoreUnavailable(IReadOnlyList<KeyValuePair<string, string>> headers) =>
        Error(503, "The relay's store is unavailable; retry.", [.. headers, new("Retry-After", "5")]);

    private static CollectorResponse Error(int status, string message, IReadOnlyList<KeyValuePair<string, string>>? headers = null)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, Relaxed))
        {
            json.WriteStartObject();
            json.WriteBoolean("success", false);
            json.WriteString("error", message);
            json.WriteEndObject();
        }

        return new CollectorResponse(status, headers ?? [], buffer.ToArray());
    }

    internal static byte[] Success(IReadOnlyList<IngestOutcomeKind> outcomes)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteBoolean("success", true);
            json.WriteNumber("accepted", outcomes.Count(o => o == IngestOutcomeKind.Accepted));
            json.WriteNumber("duplicate", outcomes.Count(o => o == IngestOutcomeKind.Duplicate));
            json.WriteNumber("filtered", outcomes.Count(o => o == IngestOutcomeKind.Filtered));
            json.WriteNumber("quarantined", outcomes.Count(o => o == IngestOutcomeKind.Quarantined));
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }
}

/// <summary>The sources' rate limits, kept for the life of the process (one token bucket per source).</summary>
internal sealed class CollectorRateLimits(TimeProvider time)
{
    private readonly Dictionary<string, TokenBucket> buckets = new(StringComparer.Ordinal);

    public TokenBucket For(CollectorSourceOptions source)
    {
        lock (buckets)
        {
            if (!buckets.TryGetValue(source.Name, out var bucket))
            {
                bucket = new TokenBucket(source.RateLimitPerSecond, time);
                buckets[source.Name] = bucket;
            }

            return bucket;
        }
    }

    /// <summary>Events per second with a burst of one second's worth; a batch larger than the burst may borrow.</summary>
    internal sealed class TokenBucket(int perSecond, TimeProvider time)
    {
        private readonly Lock gate = new();
        private double tokens = perSecond;
        private long last = time.GetTimestamp();

        public bool TryTake(int count, out TimeSpan retryAfter)
        {
            lock (gate)
            {
                var now = time.GetTimestamp();
                tokens = Math.Min(perSecond, tokens + (time.GetElapsedTime(last, now).TotalSeconds * perSecond));
                last = now;
                if (tokens >= Math.Min(count, perSecond))
                {
                    tokens -= count;
                    retryAfter = TimeSpan.Zero;
                    return true;
                }

                retryAfter = TimeSpan.FromSeconds((Math.Min(count, perSecond) - tokens) / perSecond);
                return false;
            }
        }
    }
}
