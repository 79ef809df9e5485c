using CtMparticle.Configuration;
using CtMparticle.Embedded;
using CtMparticle.Storage;
using Microsoft.Extensions.Options;

namespace CtMparticle.Tool;

/// <summary>
/// The function app's daily retention (<see cref="RetentionJob"/>: dedupe records, parked events, identity links and
/// decisions, order contexts and consent states past their Relay:*RetentionDays) on the embedded store, and the
/// quarantine folder's records past Relay:QuarantineRetentionDays (on Azure the container's lifecycle rule deletes
/// those). <c>ctmp serve</c> and <c>ctmp worker</c> run it at their first push interval and every <see cref="Every"/>;
/// <c>ctmp store purge</c> runs it once.
/// </summary>
internal static class EmbeddedRetention
{
    /// <summary>How often a long-running command runs it (the function app's RetentionSchedule is daily too).</summary>
    public static readonly TimeSpan Every = TimeSpan.FromHours(24);

    /// <summary>What one run forgot: the store's records by kind, and the quarantine records deleted.</summary>
    internal sealed record Forgotten(RetentionResult Store, int QuarantineRecords);

    /// <summary>One run. Nothing else may write to the store meanwhile (the caller holds the writer's turn).</summary>
    public static async Task<Forgotten> RunAsync(RunnerHost host, CancellationToken cancellationToken)
    {
        var store = await host.Get<RetentionJob>().RunAsync(cancellationToken).ConfigureAwait(false);
        var days = host.Get<IOptions<RelayOptions>>().Value.QuarantineRetentionDays;
        var quarantine = host.Get<FolderQuarantine>().PurgeOlderThan(host.Get<TimeProvider>().GetUtcNow().AddDays(-days));
        return new Forgotten(store, quarantine);
    }

    /// <summary>One run inside <paramref name="turn"/> (the writer's), told on <paramref name="errors"/> when it forgot anything.</summary>
    public static async Task RunInTurnAsync(RunnerHost host, SemaphoreSlim turn, string command, TextWriter errors, CancellationToken cancellationToken)
    {
        await turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        Forgotten forgotten;
        try
        {
            forgotten = await RunAsync(host, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            turn.Release();
        }

        if (Total(forgotten) > 0)
        {
            await errors.WriteLineAsync($"ctmp {command}: retention {Describe(forgotten)}").ConfigureAwait(false);
        }
    }

    public static int Total(Forgotten f) =>
        f.Store.Seen + f.Store.Parked + f.Store.Links + f.Store.Decisions + f.Store.Orders + f.Store.Consent + f.QuarantineRecords;

    public static string Describe(Forgotten f) =>
        $"forgot {f.Store.Seen:N0} dedupe record(s), {f.Store.Orders:N0} order context(s), {f.Store.Consent:N0} consent state(s), " +
        $"{f.Store.Links:N0} identity link(s), {f.Store.Decisions:N0} identity decision(s), {f.Store.Parked:N0} event(s) parked at push " +
        $"and {f.QuarantineRecords:N0} quarantine record(s)";
}

/// <summary>
/// <see cref="EmbeddedRetention"/> for a long-running command: at its first call, then once <see cref="EmbeddedRetention.Every"/>
/// has passed, each run inside the writer's <paramref name="turn"/>. A run the store could not serve is told and waits
/// for the next day (or the next start).
/// </summary>
internal sealed class DailyRetention(RunnerHost host, SemaphoreSlim turn, string command, TextWriter errors)
{
    private readonly TimeProvider time = host.Get<TimeProvider>();
    private long? last;

    public async Task RunIfDueAsync(CancellationToken cancellationToken)
    {
        if (last is { } at && time.GetElapsedTime(at) < EmbeddedRetention.Every)
        {
            return;
        }

        last = time.GetTimestamp();
        try
        {
            await EmbeddedRetention.RunInTurnAsync(host, turn, command, errors, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException or TransientFailureException)
        {
            await errors.WriteLineAsync($"ctmp {command}: retention failed ({ex.GetType().Name}); it runs again in {EmbeddedRetention.Every.TotalHours:N0} h or at the next start").ConfigureAwait(false);
        }
    }
}
