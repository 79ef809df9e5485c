using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace CtMparticle.Tests.Infrastructure;

/// <summary>One request the fake Events API received.</summary>
public sealed record RecordedRequest(string Path, string? Authorization, byte[] Body, int AnsweredStatus)
{
    /// <summary>The W3C trace context the client sent (the relay's push span), if any.</summary>
    public string? TraceParent { get; init; }

    /// <summary>The request's number in the order of arrival (0-based), as <see cref="EventsApiServer.Respond"/> was given it.</summary>
    public int Number { get; init; }

    /// <summary>When the request arrived and when it was answered, on the server's own sequence (one counter for both).</summary>
    public long Arrived { get; init; }

    /// <inheritdoc cref="Arrived"/>
    public long Answered { get; init; }

    public JsonArray Batches => JsonNode.Parse(Body)!.AsArray();

    public IEnumerable<string> SourceMessageIds =>
        Batches.SelectMany(b => b!["events"]!.AsArray()).Select(e => (string)e!["data"]!["source_message_id"]!);

    public IEnumerable<string> SourceRequestIds => Batches.Select(b => (string)b!["source_request_id"]!);
}

/// <summary>How the fake answers one request.</summary>
public sealed record ScriptedResponse(int Status, string? Body = null, IReadOnlyDictionary<string, string>? Headers = null, TimeSpan? Delay = null)
{
    public static readonly ScriptedResponse Accepted = new(202);
}

/// <summary>
/// A local HTTP server on 127.0.0.1 that speaks the mParticle Events API (<c>POST /v2/bulkevents</c>) and records
/// what it received. Answers come from <see cref="Respond"/> (default 202), so tests can script 400 with an error
/// body, 401, 429 with and without Retry-After, 503 and slow answers.
/// </summary>
public sealed class EventsApiServer : IAsyncDisposable
{
    private readonly HttpListener listener = new();
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;

    public EventsApiServer()
    {
        Port = AzuriteFixture.FreePort();
        listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        listener.Start();
        loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public Uri BaseUrl => new($"http://127.0.0.1:{Port}/v2");

    public ConcurrentQueue<RecordedRequest> Received { get; } = new();

    private readonly SemaphoreSlim recorded = new(0);

    /// <summary>Decides each answer; the argument is the request number (0-based) and the body.</summary>
    public Func<int, byte[], ScriptedResponse> Respond { get; set; } = (_, _) => ScriptedResponse.Accepted;

    /// <summary>Answers for any other path (by path), so the server can stand in for another API; 404 when unset.</summary>
    public Func<string, ScriptedResponse>? RespondOther { get; set; }

    /// <summary>Waits (on the server's own signal, not a clock) until it has recorded at least <paramref name="count"/> requests.</summary>
    public async Task WaitForRequestsAsync(int count)
    {
        while (Received.Count < count)
        {
            if (!await recorded.WaitAsync(TimeSpan.FromSeconds(30)))
            {
                throw new TimeoutException($"The Events API fake recorded {Received.Count} request(s), not {count}.");
            }
        }
    }

    public IReadOnlyList<RecordedRequest> Accepted => Received.Where(r => r.AnsweredStatus is >= 200 and < 300).ToArray();

    private int count;
    private long sequence;
    private int unanswered;
    private int mostUnanswered;

    /// <summary>The most requests this server held unanswered at once (received, answer not yet sent).</summary>
    public int MostAtOnce => Volatile.Read(ref mostUnanswered);

    private async Task LoopAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }

            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.InputStream.CopyToAsync(buffer);
        var body = buffer.ToArray();
        var arrived = Interlocked.Increment(ref sequence);
        var atOnce = Interlocked.Increment(ref unanswered);
        for (var most = Volatile.Read(ref mostUnanswered); atOnce > most; most = Volatile.Read(ref mostUnanswered))
        {
            Interlocked.CompareExchange(ref mostUnanswered, atOnce, most);
        }

        var number = Interlocked.Increment(ref count) - 1;
        var path = context.Request.Url?.AbsolutePath ?? "";
        var answer = path == "/v2/bulkevents" ? Respond(number, body)
            : RespondOther?.Invoke(path) ?? new ScriptedResponse(404, "{\"errors\":[{\"code\":\"NOT_FOUND\",\"message\":\"unknown path\"}]}");
        if (answer.Delay is { } delay)
        {
            try
            {
                await Task.Delay(delay, stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        Interlocked.Decrement(ref unanswered);
        Received.Enqueue(new RecordedRequest(context.Request.Url!.AbsolutePath, context.Request.Headers["Authorization"], body, answer.Status)
        {
            TraceParent = context.Request.Headers["traceparent"],
            Number = number,
            Arrived = arrived,
            Answered = Interlocked.Increment(ref sequence),
        });
        recorded.Release();
        try
        {
            context.Response.StatusCode = answer.Status;
            foreach (var (name, value) in answer.Headers ?? new Dictionary<string, string>())
            {
                context.Response.Headers[name] = value;
            }

            if (answer.Body is { } text)
            {
                var bytes = Encoding.UTF8.GetBytes(text);
                context.Response.ContentType = "application/json";
                await context.Response.OutputStream.WriteAsync(bytes);
            }

            context.Response.Close();
        }
        catch (HttpListenerException)
        {
            // The client gave up (a timeout test); nothing to answer.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        listener.Stop();
        listener.Close();
        try
        {
            await loop;
        }
        catch (ObjectDisposedException)
        {
        }

        stop.Dispose();
    }
}
