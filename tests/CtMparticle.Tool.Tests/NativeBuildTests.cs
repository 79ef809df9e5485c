using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// The Native AOT publish of ctmp (docs/adr/0008) against the build the other tests run in-process: what it writes,
/// what it refuses and how it serves must be the same. It binds settings and validates them with generated code, and it
/// has no JIT to fall back on, so anything reflection-bound that trimming dropped shows here. Skipped unless
/// <see cref="NativeCtmp.Variable"/> names the executable (.ci/run sets it); the Azure commands are in
/// <see cref="CtmpAzureReplayTests"/>.
/// </summary>
public sealed class NativeBuildTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-native-").FullName;

    [NativeFact]
    public async Task Relay_NativeBuild_WritesTheSameRequestsQuarantineAndAccountingAsTheJitBuild()
    {
        // A generated corpus has redeliveries, duplicates, bad lines and consent out of order: every path of the relay.
        var corpus = Path.Combine(work, "corpus.ndjson");
        Assert.Equal(0, (await CtmpCommandTests.RunAsync("generate", "--count", "2000", "--out", corpus, "--seed", "13")).Exit);
        var (jit, native) = (Path.Combine(work, "jit"), Path.Combine(work, "native"));

        var jitRun = await CtmpCommandTests.RunAsync("relay", "--dry-run", "--out", Path.Combine(jit, "out"), "--store", Path.Combine(jit, "store"), "--quiet", corpus);
        var nativeRun = await NativeCtmp.RunAsync("relay", "--dry-run", "--out", Path.Combine(native, "out"), "--store", Path.Combine(native, "store"), "--quiet", corpus);

        Assert.True(nativeRun.Exit == jitRun.Exit, $"native exited {nativeRun.Exit} ({nativeRun.Stderr}), the JIT build {jitRun.Exit}");
        var files = Files(Path.Combine(jit, "out"));
        Assert.True(files.Length > 5, $"{files.Length} request files");
        Assert.Equal(files, Files(Path.Combine(native, "out")));
        Assert.All(files, name => Assert.Equal(File.ReadAllBytes(Path.Combine(jit, "out", name)), File.ReadAllBytes(Path.Combine(native, "out", name))));
        var quarantined = Files(Path.Combine(jit, "store", "quarantine"));
        Assert.NotEmpty(quarantined);
        Assert.Equal(quarantined, Files(Path.Combine(native, "store", "quarantine")));
        Assert.Equal(Lines(jitRun.Stdout, jit), Lines(nativeRun.Stdout, native)); // the summary, but for the timing line
        var report = await CtmpCommandTests.ReportWithoutPathAsync(Path.Combine(jit, "store"));
        Assert.True((bool)JsonNode.Parse(report)!["reconciled"]!, report);
        Assert.Equal(report, await CtmpCommandTests.ReportWithoutPathAsync(Path.Combine(native, "store"), NativeCtmp.RunAsync)); // the native build reads its own store
        Assert.Equal(report, await CtmpCommandTests.ReportWithoutPathAsync(Path.Combine(native, "store")));                      // and the JIT build reads it too

        // Plan validation builds its answer as JSON nodes: the same verdicts, as JSON and as text.
        var plan = Path.Combine("config", "plans", "ctmparticle_commerce.v3.json");
        var jitPlan = await CtmpCommandTests.RunAsync("plan", "validate", Path.Combine(AppContext.BaseDirectory, plan), Path.Combine(jit, "out"), "--json");
        var nativePlan = await NativeCtmp.RunAsync("plan", "validate", Path.Combine(Path.GetDirectoryName(NativeCtmp.Executable)!, plan), Path.Combine(native, "out"), "--json");
        Assert.Equal(jitPlan.Exit, nativePlan.Exit);
        Assert.Equal(jitPlan.Stdout.Replace(jit, "RUN", StringComparison.Ordinal), nativePlan.Stdout.Replace(native, "RUN", StringComparison.Ordinal));
    }

    public static TheoryData<string, string, string> BadSettings => new()
    {
        { "CTMP_Push__HttpTimeout", "00:10:00", "HttpTimeout" },                      // a TimeSpan out of its range
        { "CTMP_Push__MaxEventsPerRun", "many", "MaxEventsPerRun" },                  // not a number at all
        { "CTMP_MParticle__Stores__0__DefaultCountry", "de", "MParticle:Stores:0" },  // an entry of a list, across fields
        { "CTMP_MParticle__Inputs__0__ApiKeySetting", "a key pasted here", "NAME of a setting" }, // an entry's own attribute
        { "CTMP_Mapping__Identity__EmailMode", "Rot13", "EmailMode" },                // not one of the enum's names
    };

    [NativeTheory]
    [MemberData(nameof(BadSettings))]
    public async Task Settings_NativeBuild_RefusesWhatTheJitBuildRefuses_InTheSameWords(string name, string value, string named)
    {
        var samples = Path.Combine(AppContext.BaseDirectory, "Fixtures", "commercetools");
        string[] args = ["relay", "--dry-run", "--out", Path.Combine(work, "out"), "--store", Path.Combine(work, "store"), "--quiet", samples];
        (int Exit, string Stdout, string Stderr) jit, native;
        using (new CtmpAzureReplayTests.EnvironmentScope(new Dictionary<string, string> { [name] = value }))
        {
            jit = await CtmpCommandTests.RunAsync(args);
            native = await NativeCtmp.RunAsync(args);
        }

        Assert.Equal(ExitCodes.Settings, jit.Exit);
        Assert.Contains(named, jit.Stderr, StringComparison.Ordinal);
        Assert.Equal((jit.Exit, jit.Stderr), (native.Exit, native.Stderr));
        Assert.False(Directory.Exists(Path.Combine(work, "out")), "nothing is written with settings that are not usable");
    }

    [NativeFact]
    public async Task Serve_NativeBuild_AnswersEachKindOfCall_AndSummarizesOnStop()
    {
        const string key = "native-write-key";
        await using var server = await ServeProcess.StartAsync(
            ["--store", Path.Combine(work, "store"), "--dry-run", "--out", Path.Combine(work, "out"), "--push-every", "00:00:00.200"],
            new Dictionary<string, string> { ["CTMP_COLLECTOR_WRITE_KEY"] = key }, NativeCtmp.Executable);
        using var http = new HttpClient(new SocketsHttpHandler()) { BaseAddress = new Uri(server.BaseUrl), Timeout = TimeSpan.FromSeconds(30) };
        async Task<int> PostAsync(string json, string writeKey = key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/track") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(writeKey + ":")));
            using var response = await http.SendAsync(request);
            return (int)response.StatusCode;
        }

        const string signedIn = """{"type":"track","userId":"c-native","event":"Signed In","properties":{"type":"password"},"messageId":"m-native-1","context":{"consent":{"categoryPreferences":{"analytics":true}}}}""";
        var statuses = new[]
        {
            await PostAsync(signedIn),
            await PostAsync(signedIn),                                              // the same message again
            await PostAsync("""{"type":"track","userId":"c-native","event":"""),   // cut short
            await PostAsync("""{"type":"track","userId":"c-native","properties":{}}"""), // no event
            await PostAsync(signedIn, "wrong-key"),
        };
        var (exit, summary) = await server.StopAsync();

        Assert.Equal(new[] { 200, 200, 400, 400, 401 }, statuses);
        Assert.Equal(0, exit);
        Assert.Contains("4 call(s): accepted 1, duplicate:redelivered 1, quarantined:malformed_json 1, quarantined:missing_field 1", summary, StringComparison.Ordinal);
        var sent = Directory.GetFiles(Path.Combine(work, "out")).SelectMany(f => JsonNode.Parse(File.ReadAllText(f))!.AsArray())
            .SelectMany(b => b!["events"]!.AsArray()).ToArray();
        Assert.Equal("Signed In", (string?)Assert.Single(sent)!["data"]!["event_name"]);
    }

    public void Dispose() => Directory.Delete(work, recursive: true);

    private static string[] Files(string folder) =>
        [.. Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(folder, f)).Order(StringComparer.Ordinal)];

    private static string[] Lines(string stdout, string run) =>
        [.. stdout.Split('\n').Where(l => !l.Contains("inputs in", StringComparison.Ordinal)).Select(l => l.Replace(run, "RUN", StringComparison.Ordinal))];
}
