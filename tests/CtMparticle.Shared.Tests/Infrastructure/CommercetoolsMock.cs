using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace CtMparticle.Tests.Infrastructure;

/// <summary>
/// npm <c>@labdigital/commercetools-mock</c> (installed by <c>npm ci</c>), started for the tests on 127.0.0.1 with
/// authentication and credential validation on (<c>tests/mocks/commercetools-mock.mjs</c>), stopped afterwards.
/// It emits no messages and ignores <c>sort</c>: the tests feed messages themselves and page with limits above the data.
/// </summary>
public sealed class CommercetoolsMockFixture : IAsyncLifetime
{
    public const string ProjectKey = "acme-test";
    public const string ClientId = "relay-tests";
    public const string ClientSecret = "not-a-real-secret";

    private Process? process;
    private HttpClient? http;
    private string? token;

    public Uri BaseUrl { get; private set; } = new("http://127.0.0.1/");

    /// <summary>The relay's Commercetools:* settings for this mock (or for <paramref name="apiUrl"/>, e.g. an unreachable port).</summary>
    public void Connect(Dictionary<string, string?> settings, string? apiUrl = null)
    {
        settings["Commercetools:ProjectKey"] = ProjectKey;
        settings["Commercetools:ApiUrl"] = apiUrl ?? BaseUrl.ToString();
        settings["Commercetools:AuthUrl"] = apiUrl ?? BaseUrl.ToString();
        settings["Commercetools:ClientId"] = ClientId;
        settings["Commercetools:ClientSecretSetting"] = "TestCommercetoolsSecret";
        settings["TestCommercetoolsSecret"] = ClientSecret;
    }

    public async Task InitializeAsync()
    {
        var root = RepositoryRoot.Find();
        var start = new ProcessStartInfo("node")
        {
            ArgumentList = { Path.Combine(root, "tests", "mocks", "commercetools-mock.mjs") },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        start.Environment["CT_PROJECT_KEY"] = ProjectKey;
        process = Process.Start(start) ?? throw new InvalidOperationException("Could not start node for the commercetools mock.");
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60))
            ?? throw new InvalidOperationException("The commercetools mock did not start: " + await process.StandardError.ReadToEndAsync() + " (run 'npm ci')");
        BaseUrl = new Uri($"http://127.0.0.1:{(int)JsonNode.Parse(line)!["port"]!}/");
        http = new HttpClient(new SocketsHttpHandler()) { BaseAddress = BaseUrl };
    }

    /// <summary>Calls the mock's API as an admin client (test setup only).</summary>
    public async Task<JsonNode> SendAsync(HttpMethod method, string path, JsonNode? body = null)
    {
        token ??= await TokenAsync();
        using var request = new HttpRequestMessage(method, $"{ProjectKey}/{path}") { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http!.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{method} {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    private async Task<string> TokenAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"oauth/token?grant_type=client_credentials&scope=manage_project:{ProjectKey}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("admin:admin"u8));
        using var response = await http!.SendAsync(request);
        return (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["access_token"]!;
    }

    public Task DisposeAsync()
    {
        http?.Dispose();
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }

        process?.Dispose();
        return Task.CompletedTask;
    }
}
