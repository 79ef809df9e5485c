using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace CtMparticle.Tool.Tests;

/// <summary><c>ctmp relay --otlp URL</c>: the run's logs, metrics and spans reach an OTLP/HTTP endpoint on loopback.</summary>
public sealed class CtmpOtlpTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-otlp-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    [Fact]
    public async Task Relay_WithOtlp_ExportsLogsMetricsAndSpans_AsProtobufOverHttp()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var http = new HttpListener();
        http.Prefixes.Add($"http://127.0.0.1:{port}/");
        http.Start();
        var received = new ConcurrentBag<(string Path, string? ContentType, long Length)>();
        var serving = Task.Run(async () =>
        {
            while (http.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await http.GetContextAsync();
                }
                catch (HttpListenerException)
                {
                    return;
                }
                catch (ObjectDisposedException)
                {
                    return;
                }

                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                received.Add((context.Request.Url!.AbsolutePath, context.Request.ContentType, body.Length));
                context.Response.StatusCode = 200;
                context.Response.Close();
            }
        });
        var samples = Path.Combine(AppContext.BaseDirectory, "Fixtures", "commercetools");
        var bad = Path.Combine(work, "bad.json");
        await File.WriteAllTextAsync(bad, "{not json");

        var (exit, _, stderr) = await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", Path.Combine(work, "out"), "--store", Path.Combine(work, "store"),
            "--otlp", $"http://127.0.0.1:{port}/", samples, bad);
        http.Stop();
        await serving;

        Assert.True(exit == 0, stderr);
        var paths = received.Select(r => r.Path).ToHashSet(StringComparer.Ordinal);
        Assert.Superset(new HashSet<string>(StringComparer.Ordinal) { "/v1/logs", "/v1/metrics", "/v1/traces" }, paths);
        Assert.All(received, r => Assert.Equal("application/x-protobuf", r.ContentType));
        Assert.All(received, r => Assert.True(r.Length > 0));
        Assert.NotEqual(0, (await CtmpCommandTests.RunAsync("relay", "--otlp", "not-a-url", samples)).Exit); // usage: says what --otlp takes

        // A traced run's quarantine record names its trace, which the exported spans and logs carry.
        var record = Assert.Single(Directory.GetFiles(Path.Combine(work, "store"), "*.json", SearchOption.AllDirectories), f => f.Contains("malformed_json", StringComparison.Ordinal));
        var traceId = (string?)System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(record))!["trace_id"];
        Assert.Matches("^[0-9a-f]{32}$", traceId);
        var (showExit, shown, _) = await CtmpCommandTests.RunAsync("quarantine", "show", Path.GetFileNameWithoutExtension(record), "--store", Path.Combine(work, "store"));
        Assert.Equal(0, showExit);
        Assert.Contains($"trace      {traceId}", shown, StringComparison.Ordinal);
    }
}
