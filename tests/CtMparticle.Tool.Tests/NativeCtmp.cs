using System.Diagnostics;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// The Native AOT publish of ctmp (<c>dotnet publish -c Release -r linux-x64 tools/ctmp</c>, docs/adr/0008), named by
/// <c>CTMP_NATIVE_CTMP</c>. <c>.ci/run</c> publishes it and sets the variable, so CI runs every <see cref="NativeFactAttribute"/>
/// test against the executable users get; a plain <c>dotnet test</c> skips them and says why. A variable naming a file
/// that is not there fails them.
/// </summary>
internal static class NativeCtmp
{
    public const string Variable = "CTMP_NATIVE_CTMP";

#pragma warning disable RS0030 // a test machine's setting, not the relay's
    public static string? Executable => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } path ? path : null;
#pragma warning restore RS0030

    /// <summary>Why a native test does not run here, or null when it does.</summary>
    public static string? SkipReason => Executable is null
        ? $"{Variable} is not set: .ci/run publishes the native ctmp and runs these against it."
        : null;

    /// <summary>Runs the native ctmp with <paramref name="args"/> in this process's environment; its exit code and output.</summary>
    public static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var executable = Executable ?? throw new InvalidOperationException($"{Variable} is not set.");
        Assert.True(File.Exists(executable), $"{Variable} names {executable}, which is not there: publish ctmp with -r linux-x64 first.");
        var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in args)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(5));
        return (process.ExitCode, await stdout, await stderr);
    }
}

/// <summary>A test of the native ctmp: skipped, with the reason, unless <see cref="NativeCtmp.Variable"/> is set.</summary>
internal sealed class NativeFactAttribute : FactAttribute
{
    public NativeFactAttribute()
    {
        Skip = NativeCtmp.SkipReason;
    }
}

/// <summary>A theory of the native ctmp, skipped as <see cref="NativeFactAttribute"/> is.</summary>
internal sealed class NativeTheoryAttribute : TheoryAttribute
{
    public NativeTheoryAttribute()
    {
        Skip = NativeCtmp.SkipReason;
    }
}
