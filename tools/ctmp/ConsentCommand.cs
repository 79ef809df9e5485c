using System.CommandLine;
using CtMparticle.Sources.Commercetools;
using Microsoft.Extensions.DependencyInjection;

namespace CtMparticle.Tool;

/// <summary><c>ctmp consent reconcile</c>: the scheduled reconciliation, run once by hand.</summary>
internal static class ConsentCommand
{
    public static Command Create(Option<DirectoryInfo> store, Option<FileInfo?> settings, Option<bool> verbose)
    {
        var consent = new Command("consent", "Consent reconciliation with commercetools.");
        var dryRun = new Option<bool>("--dry-run") { Description = "Send nothing: write request bodies to --out instead." };
        var output = new Option<DirectoryInfo?>("--out") { Description = "With --dry-run: the folder for the request bodies." };
        var pageSize = new Option<int>("--page-size") { Description = "Customers per page (at most 500).", DefaultValueFactory = _ => 500 };
        var reconcile = new Command("reconcile", "Read customers changed since the last run (Commercetools:* settings), send every real consent change, withdraw pending events that lost consent.")
        {
            dryRun, output, pageSize, store, settings, verbose,
        };
        reconcile.SetAction(async (parse, cancellationToken) =>
        {
            await using var host = Commands.TryCreateHost(new RunnerOptions(parse.GetValue(settings), parse.GetRequiredValue(store),
                parse.GetValue(dryRun) ? parse.GetValue(output) ?? new DirectoryInfo(Path.Combine("out", "consent")) : null, Verbose: parse.GetValue(verbose)), out var exit);
            if (host is null)
            {
                return exit;
            }

            var reconciler = host.Services.GetRequiredService<ConsentReconciler>();
            if (!reconciler.IsConfigured)
            {
                return Commands.Fail(ExitCodes.Settings, ["The commercetools API is not configured: set Commercetools:ProjectKey, ApiUrl, AuthUrl, ClientId and ClientSecretSetting (CTMP_Commercetools__ProjectKey=...)."]);
            }

            try
            {
                var report = await reconciler.RunAsync(Math.Clamp(parse.GetValue(pageSize), 1, 500), cancellationToken).ConfigureAwait(false);
                var summary = new RelaySummary();
                await new RelayRunner(host, Console.Error, TimeProvider.System).PushAsync(summary, drain: true, cancellationToken).ConfigureAwait(false);
                Console.WriteLine($"ctmp consent reconcile: {report.CustomersRead:N0} customer(s) read, {report.Changed:N0} changed, {report.Unchanged:N0} unchanged; " +
                    $"{report.EventsStored:N0} consent update(s) stored, {summary.EventsDelivered:N0} event(s) delivered, {report.Withdrawn:N0} pending event(s) withdrawn; checkpoint {report.Checkpoint:u}");
                return ExitCodes.Ok;
            }
            catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException)
            {
                return Commands.Fail(ExitCodes.Pending, [$"Reconciliation stopped: {ex.Message} The checkpoint did not move; run it again."]);
            }
        });
        consent.Subcommands.Add(reconcile);
        return consent;
    }
}
