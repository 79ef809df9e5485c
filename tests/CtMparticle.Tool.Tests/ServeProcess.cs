using System.Diagnostics;
using System.Globalization;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// The real <c>ctmp serve</c> as a child process on loopback (<c>--port 0</c>): started with its arguments and
/// environment, ready once it printed <c>listening on URL</c>; stopped as a service manager would (SIGTERM: it drains
/// and prints its summary) or killed when the test ends.
/// </summary>
internal sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> errors;

    private ServeProcess(Process process, string baseUrl, System.Collections.Concurrent.ConcurrentQueue<string> errors)
    {
        this.process = process;
        this.errors = errors;
        BaseUrl = baseUrl;
    }

    /// <summary>The server's base URL, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string BaseUrl { get; }

    public int Id => process.Id;

    /// <summary>What the server wrote to standard error so far, a line each.</summary>
    public IReadOnlyCollection<string> Errors => errors;

    /// <summary>What the server prints after its first line (the demo's line, the closing summary).</summary>
    public StreamReader Output => process.StandardOutput;

    /// <param name="arguments">After <c>serve --port 0</c>.</param>
    /// <param name="executable">A native ctmp (<see cref="NativeCtmp"/>); the build beside the tests when null.</param>
    public static async Task<ServeProcess> StartAsync(IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string? executable = null)
    {
        var start = new ProcessStartInfo(executable ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        var program = executable is null ? [Path.Combine(AppContext.BaseDirectory, "ctmp.dll")] : Array.Empty<string>();
        foreach (var argument in program.Concat(["serve", "--port", "0"]).Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start)!;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.ErrorDataReceived += (_, e) => // drained as it comes, so a chatty stderr never blocks the server
        {
            if (e.Data is { } errorLine)
            {
                errors.Enqueue(errorLine);
            }
        };
        process.BeginErrorReadLine();
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.NotNull(line);
        Assert.StartsWith("listening on http://127.0.0.1:", line, StringComparison.Ordinal);
        return new ServeProcess(process, line["listening on ".Length..], errors);
    }

    /// <summary>SIGTERM, then the rest of its output once it exited (after draining), and its exit code.</summary>
    public async Task<(int Exit, string Stdout)> StopAsync()
    {
        using (var term = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }

        var rest = await process.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, rest);
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
    }
}
