using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace CtMparticle.Tool;

/// <summary>
/// <c>ctmp load</c>: a load generator for the collector (ctmp serve or the function app), bounded in count and time.
/// Sends generated storefront calls in <c>/v1/batch</c> requests from several concurrent clients, a share of them
/// repeated (a tracker's retries), and reports events/s and request latency percentiles. A measurement, not a test.
/// </summary>
internal static class LoadCommand
{
    public static Command Create()
    {
        var url = new Option<string>("--url") { Description = "The collector's base URL (ctmp serve prints it).", Required = true };
        var events = new Option<int>("--events") { Description = "Distinct calls to send.", DefaultValueFactory = _ => 20_000 };
        var batch = new Option<int>("--batch") { Description = "Calls per /v1/batch request.", DefaultValueFactory = _ => 50 };
        var concurrency = new Option<int>("--concurrency") { Description = "Concurrent clients.", DefaultValueFactory = _ => 8 };
        var repeat = new Option<double>("--repeat") { Description = "Share of calls sent a second time (0–1).", DefaultValueFactory = _ => 0.1 };
        var maxTime = new Option<TimeSpan>("--max-time") { Description = "Stop sending after this long (hh:mm:ss).", DefaultValueFactory = _ => TimeSpan.FromMinutes(2) };
        var seed = new Option<int>("--seed") { Description = "Random seed of the generated calls.", DefaultValueFactory = _ => 1 };
        var command = new Command("load", "Load-test a collector: generated storefront calls in batches from concurrent clients; reports events/s and latency. The write key comes from CTMP_COLLECTOR_WRITE_KEY.")
        {
            url, events, batch, concurrency, repeat, maxTime, seed,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetRequiredValue(url), parse.GetValue(events), parse.GetValue(batch),
            parse.GetValue(concurrency), parse.GetValue(repeat), parse.GetValue(maxTime), parse.GetValue(seed), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string baseUrl, int events, int batchSize, int concurrency, double repeat, TimeSpan maxTime, int seed, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(baseUrl.EndsWith('/') ? baseUrl : baseUrl + "/", UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            return Commands.Fail(ExitCodes.Usage, [$"--url '{baseUrl}' is not an http(s) URL, such as http://127.0.0.1:8321 (or https://relay.example.com/api for the function app)."]);
        }

        var key = RunnerHost.Settings(null)["COLLECTOR_WRITE_KEY"];
        if (string.IsNullOrEmpty(key))
        {
            return Commands.Fail(ExitCodes.Settings, ["Set the write key the collector expects: CTMP_COLLECTOR_WRITE_KEY=..."]);
        }

        if (events < 1 || batchSize is < 1 or > 1_000 || concurrency is < 1 or > 256 || repeat is < 0 or > 1)
        {
            return Commands.Fail(ExitCodes.Usage, ["--events ≥ 1, --batch 1–1000, --concurrency 1–256, --repeat 0–1."]);
        }

        var random = new Random(seed);
        var calls = Enumerable.Range(0, events).Select(i => Call(i, random)).ToList();
        calls.AddRange(Enumerable.Range(0, (int)(events * repeat)).Select(_ => calls[random.Next(events)]));
        var chunks = calls.OrderBy(_ => random.Next()).Chunk(batchSize).ToArray();
        var requests = chunks.Select(chunk => "{\"batch\":[" + string.Join(',', chunk) + "]}").ToArray();

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency }) { Timeout = TimeSpan.FromSeconds(60) };
        var auth = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(key + ":")));
        var target = new Uri(url, "v1/batch");
        var latencies = new List<double>(requests.Length);
        var statuses = new Dictionary<int, int>();
        long accepted = 0, duplicate = 0, quarantined = 0, sent = 0;
        var next = -1;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(maxTime);
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int index;
            while (!deadline.IsCancellationRequested && (index = Interlocked.Increment(ref next)) < requests.Length)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = new StringContent(requests[index], Encoding.UTF8, "application/json") };
                request.Headers.Authorization = auth;
                var started = Stopwatch.GetTimestamp();
                int status;
                JsonNode? body = null;
                try
                {
                    using var response = await http.SendAsync(request, deadline.Token).ConfigureAwait(false);
                    status = (int)response.StatusCode;
                    body = JsonNode.Parse(await response.Content.ReadAsStringAsync(deadline.Token).ConfigureAwait(false));
                }
                catch (OperationCanceledException) when (deadline.IsCancellationRequested)
                {
                    break;
                }
                catch (HttpRequestException)
                {
                    status = 0;
                }

                var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                lock (latencies)
                {
                    latencies.Add(elapsed);
                    statuses[status] = statuses.GetValueOrDefault(status) + 1;
                }

                Interlocked.Add(ref sent, chunks[index].Length);
                Interlocked.Add(ref accepted, (long?)body?["accepted"] ?? 0);
                Interlocked.Add(ref duplicate, (long?)body?["duplicate"] ?? 0);
                Interlocked.Add(ref quarantined, (long?)body?["quarantined"] ?? 0);
            }
        })).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;

        latencies.Sort();
        double Percentile(double p) => latencies.Count == 0 ? 0 : latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(p * latencies.Count) - 1)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ctmp load: {sent:N0} calls in {latencies.Count:N0} requests of {batchSize} in {seconds:N1} s: {sent / seconds:N0} calls/s; " +
            $"answers {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value:N0}"))}; accepted {accepted:N0}, duplicate {duplicate:N0}, quarantined {quarantined:N0}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"request latency: p50 {Percentile(0.50):N1} ms, p95 {Percentile(0.95):N1} ms, p99 {Percentile(0.99):N1} ms, max {Percentile(1):N1} ms ({concurrency} concurrent clients)"));
        return statuses.Keys.All(s => s == 200) && latencies.Count == requests.Length ? ExitCodes.Ok : ExitCodes.Failed;
    }

    /// <summary>
    /// A storefront call: a product view, an add to cart or a sign-in (with the shopper's customer id, so it links their
    /// browser to them) of one of 5,000 shoppers, consent given.
    /// </summary>
    internal static string Call(int i, Random random)
    {
        var shopper = random.Next(5_000).ToString(CultureInfo.InvariantCulture);
        var sku = "SKU-" + random.Next(2_000).ToString(CultureInfo.InvariantCulture);
        var (evt, properties, user) = (i % 10) switch
        {
            < 6 => ("Product Viewed", $"{{\"sku\":\"{sku}\",\"price\":{random.Next(100, 20_000) / 100m},\"currency\":\"EUR\"}}", ""),
            < 9 => ("Product Added", $"{{\"sku\":\"{sku}\",\"price\":{random.Next(100, 20_000) / 100m},\"quantity\":{random.Next(1, 4)},\"currency\":\"EUR\"}}", ""),
            _ => ("Signed In", "{\"type\":\"password\"}", $"\"userId\":\"c-{shopper}\","),
        };
        return string.Create(CultureInfo.InvariantCulture,
            $"{{\"type\":\"track\",\"event\":\"{evt}\",{user}\"anonymousId\":\"anon-{shopper}\",\"messageId\":\"load-{i}\",\"properties\":{properties},\"context\":{{\"sessionId\":\"s-{shopper}\",\"consent\":{{\"categoryPreferences\":{{\"analytics\":true}}}}}}}}");
    }
}
