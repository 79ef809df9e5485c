using System.CommandLine;
using System.Text;
using System.Text.Json;
using CtMparticle.Embedded;
using CtMparticle.Embedded.Log;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using Microsoft.Extensions.Options;

namespace CtMparticle.Tool;

/// <summary>Exit codes, documented in the README.</summary>
internal static class ExitCodes
{
    /// <summary>Done; every input has an outcome and nothing is left pending.</summary>
    public const int Ok = 0;

    /// <summary>Something unexpected failed (the message says what).</summary>
    public const int Failed = 1;

    /// <summary>Bad arguments: a path that does not exist, a missing value.</summary>
    public const int Usage = 2;

    /// <summary>Invalid settings; each bad setting is named.</summary>
    public const int Settings = 3;

    /// <summary>Done, but events are still pending: mParticle was unreachable, throttling, or refused the credentials, or events wait for consent.</summary>
    public const int Pending = 4;

    /// <summary>Stopped before the end of the inputs: storage, commercetools or the quarantine folder was unavailable. Rerun to continue; nothing is lost or doubled.</summary>
    public const int Interrupted = 5;
}

internal static class Commands
{
    private static readonly Option<DirectoryInfo> StoreOption = new("--store")
    {
        Description = "Where the embedded state lives (SQLite file and quarantine folder).",
        DefaultValueFactory = _ => new DirectoryInfo(".ctmp"),
    };

    private static readonly Option<FileInfo?> SettingsOption = new("--settings") { Description = "A settings JSON file replacing the embedded default." };

    private static readonly Option<bool> JsonOption = new("--json") { Description = "Print JSON (for scripts) instead of text." };

    private static readonly Option<bool> VerboseOption = new("--verbose") { Description = "Log every decision (ids only) to standard error." };

    /// <summary>Sends the run's logs, metrics and spans to an OTLP/HTTP endpoint (a collector, Jaeger, the Aspire dashboard).</summary>
    internal static readonly Option<string?> OtlpOption = new("--otlp")
    {
        Description = "Also send the run's logs, metrics and spans to this OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318/), as the function app sends them to Application Insights.",
    };

    /// <summary>The format of a new store (<c>ctmp relay</c>, <c>serve</c>, <c>worker</c>); an existing store keeps its own.</summary>
    internal static readonly Option<StoreFormat?> StoreFormatOption = new("--store-format")
    {
        Description = "For a new store: log (the default: an append-only log with in-memory indexes, ADR 0007; ctmp relay compacts it at the end of a " +
            "run once it doubled since its last compaction, ctmp store compact at any time) or sqlite (one SQLite file). An existing store keeps its format.",
    };

    /// <summary>A usage failure when <paramref name="format"/> names another format than the existing store's (none named: the store's own, or the default for a new one).</summary>
    internal static int? FormatClash(DirectoryInfo store, StoreFormat? format) =>
        EmbeddedStore.FormatIn(store.FullName) is { } existing && format is { } named && existing != named
            ? Fail(ExitCodes.Usage, [$"The store in {store.FullName} is a {existing.ToString().ToLowerInvariant()} store: --store-format {named.ToString().ToLowerInvariant()} applies to a new store only. Pass another --store."])
            : null;

    /// <summary>
    /// Before a long-running command (<c>ctmp serve</c>, <c>ctmp worker</c>) opens its store: compacts a log store that
    /// doubled since its last compaction, saying so on standard error. They do not compact when they stop (a kill timer
    /// runs then), so a log they grew is compacted at their next start, or by the next <c>ctmp relay</c>.
    /// </summary>
    /// <param name="compactFromBytes">The least the log must hold (<see cref="LogStore.CompactFromBytes"/>; tests compact small logs).</param>
    /// <returns>A failure to exit with (another process has the store open), or null.</returns>
    internal static int? CompactBeforeStart(DirectoryInfo store, string command, long compactFromBytes = LogStore.CompactFromBytes)
    {
        if (EmbeddedStore.FormatIn(store.FullName) != StoreFormat.Log || !LogStore.ShouldCompactIn(store.FullName, compactFromBytes))
        {
            return null;
        }

        var started = TimeProvider.System.GetTimestamp();
        try
        {
            var result = LogStore.Compact(store.FullName, TimeProvider.System);
            Console.Error.WriteLine($"ctmp {command}: {RunnerHost.Describe((result, TimeProvider.System.GetElapsedTime(started)))}");
            return null;
        }
        catch (IOException ex)
        {
            return Fail(ExitCodes.Failed, [ex.Message]);
        }
    }

    /// <summary>
    /// How long a command may take to stop after Ctrl-C or SIGTERM before the process ends anyway (System.CommandLine's
    /// own default is 2 s, shorter than <c>ctmp serve</c>'s drain): under the 30 s a container orchestrator grants.
    /// </summary>
    public static readonly TimeSpan TerminationGrace = TimeSpan.FromSeconds(25);

    public static RootCommand Root()
    {
        var root = new RootCommand("ctmp: the CtMparticle relay (commercetools → mParticle) on your machine, without Azure.");
        root.Subcommands.Add(Relay());
        root.Subcommands.Add(Report());
        root.Subcommands.Add(Quarantine());
        root.Subcommands.Add(WorkerCommand.Create(StoreOption, SettingsOption, VerboseOption));
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(PlanCommand.Create());
        root.Subcommands.Add(ConsentCommand.Create(StoreOption, SettingsOption, VerboseOption));
        root.Subcommands.Add(ServeCommand.Create(StoreOption, SettingsOption, VerboseOption));
        root.Subcommands.Add(LoadCommand.Create());
        root.Subcommands.Add(IdentityCommand.Create(StoreOption, SettingsOption));
        root.Subcommands.Add(StoreCommand.Create(StoreOption, SettingsOption));
        return root;
    }

    private static Command Relay()
    {
        var paths = new Argument<string[]>("paths")
        {
            Description = "Delivery files, folders of them, NDJSON files (one delivery a line), or - for standard input.",
            Arity = ArgumentArity.OneOrMore,
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "Send nothing: write each bulk request body to --out instead." };
        var output = new Option<DirectoryInfo?>("--out") { Description = "With --dry-run: the folder for the request bodies (default out/requests)." };
        var quiet = new Option<bool>("--quiet") { Description = "No progress lines." };
        var retryFor = new Option<TimeSpan>("--retry-for")
        {
            Description = "How long to keep retrying what fails transiently (throttling, 5xx, no answer, storage or commercetools down) before stopping (hh:mm:ss).",
            DefaultValueFactory = _ => TimeSpan.FromMinutes(2),
        };
        var pushInTurn = new Option<bool>("--push-in-turn")
        {
            Description = "Stop reading inputs while each push runs (slower) instead of pushing beside them. Both send the same requests, " +
                "and a run killed during a push ends, when run again, where an uninterrupted run ends.",
        };
        var command = new Command("relay", "Run deliveries through the relay: ingest, dedupe, consent, push to mParticle (or to files with --dry-run).")
        {
            paths, dryRun, output, StoreOption, SettingsOption, JsonOption, quiet, VerboseOption, retryFor, pushInTurn, OtlpOption, StoreFormatOption,
        };
        command.SetAction((parse, cancellationToken) => RunRelayAsync(
            parse.GetRequiredValue(paths), parse.GetValue(dryRun), parse.GetValue(output), parse.GetRequiredValue(StoreOption),
            parse.GetValue(SettingsOption), parse.GetValue(JsonOption), parse.GetValue(quiet), parse.GetValue(VerboseOption), parse.GetValue(retryFor),
            parse.GetValue(pushInTurn), parse.GetValue(OtlpOption), parse.GetValue(StoreFormatOption), cancellationToken));
        return command;
    }

    private static async Task<int> RunRelayAsync(
        string[] paths, bool dryRun, DirectoryInfo? output, DirectoryInfo store, FileInfo? settings, bool json, bool quiet, bool verbose,
        TimeSpan retryFor, bool pushInTurn, string? otlpUrl, StoreFormat? format, CancellationToken cancellationToken)
    {
        if (retryFor < TimeSpan.Zero)
        {
            return Fail(ExitCodes.Usage, ["--retry-for cannot be negative (00:00:00 stops at the first transient failure)."]);
        }

        var problems = InputFiles.Problems(paths).ToArray();
        if (problems.Length > 0)
        {
            return Fail(ExitCodes.Usage, problems);
        }

        if (!dryRun && output is not null)
        {
            return Fail(ExitCodes.Usage, ["--out goes with --dry-run (without it, requests are sent to mParticle)."]);
        }

        if (!TryOtlp(otlpUrl, out var otlp))
        {
            return Fail(ExitCodes.Usage, [OtlpUsage]);
        }

        if (FormatClash(store, format) is { } clash)
        {
            return clash;
        }

        await using var host = TryCreateHost(new RunnerOptions(settings, store, dryRun ? output ?? new DirectoryInfo(Path.Combine("out", "requests")) : null, Verbose: verbose, Otlp: otlp,
            NewStoreFormat: format ?? EmbeddedStore.DefaultFormat), out var exit);
        if (host is null)
        {
            return exit;
        }

        if (!dryRun && MissingCredentials(host) is { Length: > 0 } missing)
        {
            return Fail(ExitCodes.Settings, [$"No mParticle credentials: the settings {missing} are empty. Set them as environment variables with the CTMP_ prefix (CTMP_{missing.Split(',')[0].Trim()}=...), or use --dry-run --out DIR."]);
        }

        var runner = new RelayRunner(host, Console.Error, TimeProvider.System) { RetryFor = retryFor, PushBeside = !pushInTurn };
        RelaySummary summary;
        try
        {
            summary = await runner.RunAsync(InputFiles.Read(paths), showProgress: !quiet && !json, cancellationToken).ConfigureAwait(false);
        }
        catch (QuarantineUnwritableException ex)
        {
            return Fail(ExitCodes.Interrupted, [ex.Message]);
        }

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(summary, ToolJsonContext.Default.RelaySummary));
        }
        else
        {
            PrintSummary(summary, host);
        }

        if (!cancellationToken.IsCancellationRequested && host.CompactIfGrown(TimeProvider.System) is { } compaction)
        {
            (json ? Console.Error : Console.Out).WriteLine($"  {RunnerHost.Describe(compaction)}");
        }

        return summary.Interrupted is not null ? ExitCodes.Interrupted : summary.PendingEvents > summary.HeldEvents ? ExitCodes.Pending : ExitCodes.Ok;
    }

    private static void PrintSummary(RelaySummary summary, RunnerHost host)
    {
        var o = Console.Out;
        o.WriteLine($"ctmp relay: {summary.Inputs:N0} inputs in {summary.Seconds:N1} s ({summary.InputsPerSecond:N0} inputs/s, {summary.CpuMicrosecondsPerInput:N0} µs CPU per input), peak memory {summary.PeakMemoryBytes / (1024 * 1024):N0} MB, {summary.AllocatedBytesPerInput / 1024:N1} KB allocated per input, {summary.GcPauseSeconds:N2} s paused for garbage collection");
        foreach (var (outcome, count) in summary.Outcomes)
        {
            o.WriteLine($"  {outcome,-48} {count,10:N0}");
        }

        var destination = host.DryRun is { } dry ? $"written as {dry.Written:N0} request file(s) to {host.Options.DryRunOutput!.FullName}" : $"sent in {summary.Requests:N0} request(s)";
        o.WriteLine($"  events stored {summary.EventsStored:N0}, delivered {summary.EventsDelivered:N0} ({destination}), withdrawn {summary.EventsWithdrawn:N0}, quarantined at push {summary.EventsQuarantined:N0}, pending {summary.PendingEvents:N0}");
        o.WriteLine($"  store {host.Options.Store.FullName}; run 'ctmp report --store {host.Options.Store.FullName}' for the accounting");
        if (summary.EventsResent > 0)
        {
            o.WriteLine($"  {summary.EventsResent:N0} event(s) were resent inside requests that may already have reached mParticle (no answer came): byte for byte, same source_request_id, so mParticle drops any copy.");
        }

        if (summary.EventsStranded > 0)
        {
            o.WriteLine($"  {summary.EventsStranded:N0} event(s) wait in requests for an mParticle input that is no longer configured (see the log); restore the input to send them.");
        }

        if (summary.HeldEvents > 0)
        {
            o.WriteLine($"  {summary.HeldEvents:N0} pending event(s) wait for their user's consent (opt-in region, consent not known yet); they go, or are withdrawn, within Relay:ConsentWait; run ctmp relay on this store again later.");
        }

        if (summary.PendingEvents > summary.HeldEvents)
        {
            o.WriteLine($"  {summary.PendingEvents - summary.HeldEvents:N0} event(s) are still pending: mParticle was unreachable, throttled or refused the credentials (see the log). Run ctmp relay again to retry.");
        }

        if (summary.Interrupted is { } why)
        {
            o.WriteLine($"  stopped early, a dependency was unavailable ({why}). What was done is kept; run the same command again to continue (nothing is lost or sent twice).");
        }
    }

    private static Command Report()
    {
        var command = new Command("report", "Print the accounting of a store: received, delivered, duplicate, filtered and quarantined by reason, pending.")
        {
            StoreOption, JsonOption,
        };
        command.SetAction((parse, cancellationToken) => RunReportAsync(parse.GetRequiredValue(StoreOption), parse.GetValue(JsonOption), cancellationToken));
        return command;
    }

    private static async Task<int> RunReportAsync(DirectoryInfo store, bool json, CancellationToken cancellationToken)
    {
        if (EmbeddedStore.FormatIn(store.FullName) is null)
        {
            return Fail(ExitCodes.Usage, [$"There is no store at {store.FullName} (neither {RunnerHost.DatabasePath(store)} nor a state log). Run ctmp relay first, or pass --store."]);
        }

        await using var embedded = TryOpenToRead(store, out var exit);
        if (embedded is null)
        {
            return exit;
        }

        var report = await CtMparticle.Tool.Report.BuildAsync(embedded, TimeProvider.System, cancellationToken).ConfigureAwait(false);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(report, ToolJsonContext.Default.Report));
        }
        else
        {
            report.Print(Console.Out);
        }

        return report.Reconciled ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static Command Quarantine()
    {
        var quarantine = new Command("quarantine", "List, show and replay quarantined inputs of a store.");

        var reason = new Option<string?>("--reason") { Description = "Only records with this reason code." };
        var list = new Command("list", "List quarantined records.") { StoreOption, reason, JsonOption };
        list.SetAction(parse => ListQuarantine(parse.GetRequiredValue(StoreOption), parse.GetValue(reason), parse.GetValue(JsonOption)));
        quarantine.Subcommands.Add(list);

        var id = new Argument<string>("record") { Description = "The record's path (as listed) or id (commercetools message id)." };
        var show = new Command("show", "Show one record, with its payload decoded.") { id, StoreOption };
        show.SetAction(parse => ShowQuarantine(parse.GetRequiredValue(StoreOption), parse.GetRequiredValue(id)));
        quarantine.Subcommands.Add(show);

        var records = new Argument<string[]>("records") { Description = "Records to replay (paths or ids); none with --all.", Arity = ArgumentArity.ZeroOrMore };
        var all = new Option<bool>("--all") { Description = "Replay every record (with --reason: every record of that reason)." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Send nothing: write request bodies to --out instead." };
        var output = new Option<DirectoryInfo?>("--out") { Description = "With --dry-run: the folder for the request bodies." };
        var beyond = new Option<bool>("--beyond-dedupe-window")
        {
            Description = "Also replay records received longer ago than Relay:DedupeRetentionDays (their events' dedupe records may be gone, so one delivered meanwhile could go twice).",
        };
        var azure = new Option<bool>("--azure")
        {
            Description = "Replay the function app's quarantine: records in the blob container, state in Azure Tables (Storage:* settings, e.g. CTMP_Storage__ConnectionString).",
        };
        var replay = new Command("replay", "Run records through the relay again (dedupe-aware: a replay never delivers twice).")
        {
            records, all, reason, dryRun, output, beyond, azure, StoreOption, SettingsOption, JsonOption, VerboseOption,
        };
        replay.SetAction((parse, cancellationToken) => ReplayAsync(
            parse.GetValue(records) ?? [], parse.GetValue(all), parse.GetValue(reason), parse.GetValue(dryRun), parse.GetValue(output),
            parse.GetRequiredValue(StoreOption), parse.GetValue(SettingsOption), parse.GetValue(VerboseOption), parse.GetValue(beyond), parse.GetValue(azure),
            cancellationToken));
        quarantine.Subcommands.Add(replay);
        return quarantine;
    }

    private static int ListQuarantine(DirectoryInfo store, string? reason, bool json)
    {
        var folder = new FolderQuarantine(RunnerHost.QuarantinePath(store));
        var items = folder.List()
            .Where(r => reason is null || r.Record.Reasons.Contains(reason))
            .Select(r => new QuarantineListItem(r.Path, r.Record.Reasons[0], r.Record.Stage, r.Record.Source.MessageId, r.Record.Source.MessageType, r.Record.Source.ReceivedAt, r.Record.Message))
            .ToList();
        foreach (var path in folder.Unreadable())
        {
            Console.Error.WriteLine($"ctmp: {path} is not a readable quarantine record (edited or damaged?); it is not listed. Inspect it, then delete or restore it by hand.");
        }

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(items, ToolJsonContext.Default.ListQuarantineListItem));
            return ExitCodes.Ok;
        }

        foreach (var item in items)
        {
            Console.WriteLine($"{item.Path}  {item.MessageType ?? "-"} {item.MessageId ?? "-"}");
            Console.WriteLine($"    {item.Message}");
        }

        Console.WriteLine($"{items.Count:N0} record(s) in {folder.Root}");
        return ExitCodes.Ok;
    }

    private static int ShowQuarantine(DirectoryInfo store, string id)
    {
        var folder = new FolderQuarantine(RunnerHost.QuarantinePath(store));
        if (folder.Find(id) is not { } found)
        {
            return Fail(ExitCodes.Usage, [$"No quarantined record '{id}' in {folder.Root}. 'ctmp quarantine list' shows what is there."]);
        }

        var record = found.Record;
        var o = Console.Out;
        o.WriteLine($"record     {found.Path}");
        o.WriteLine($"reasons    {string.Join(", ", record.Reasons)} (stage {record.Stage})");
        o.WriteLine($"message    {record.Message}");
        foreach (var error in record.Errors)
        {
            o.WriteLine($"error      {error}");
        }

        o.WriteLine($"source     message {record.Source.MessageId ?? "-"} ({record.Source.MessageType ?? "-"}) on {record.Source.ResourceTypeId ?? "-"} {record.Source.ResourceId ?? "-"}, received {record.Source.ReceivedAt:u}");
        o.WriteLine($"relay      {record.RelayVersion}");
        if (record.TraceId is { } traceId)
        {
            o.WriteLine($"trace      {traceId} (the operation id of its logs and spans)");
        }

        var payload = Convert.FromBase64String(record.PayloadBase64);
        o.WriteLine($"payload    {payload.Length:N0} bytes{(System.Text.Unicode.Utf8.IsValid(payload) ? ":" : " (not UTF-8; base64 below):")}");
        o.WriteLine(System.Text.Unicode.Utf8.IsValid(payload) ? Encoding.UTF8.GetString(payload) : record.PayloadBase64);
        return ExitCodes.Ok;
    }

    private static async Task<int> ReplayAsync(
        string[] ids, bool all, string? reason, bool dryRun, DirectoryInfo? output, DirectoryInfo store, FileInfo? settings, bool verbose, bool beyondDedupeWindow,
        bool azure, CancellationToken cancellationToken)
    {
        if (ids.Length == 0 && !all)
        {
            return Fail(ExitCodes.Usage, ["Name the records to replay, or pass --all (optionally with --reason CODE)."]);
        }

        await using var host = TryCreateHost(
            new RunnerOptions(settings, store, dryRun ? output ?? new DirectoryInfo(Path.Combine("out", "replay")) : null, AzureStorage: azure, Verbose: verbose), out var exit);
        if (host is null)
        {
            return exit;
        }

        var archive = host.Get<IQuarantineArchive>();
        var records = new List<(string Path, QuarantineRecord Record)>();
        await foreach (var item in archive.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            records.Add(item);
        }

        var selected = all
            ? records.Where(r => reason is null || r.Record.Reasons.Contains(reason)).ToList()
            : ids.Select(id => records.FirstOrDefault(r => QuarantineRecord.IsNamed(r.Path, r.Record, id))).Where(r => r.Record is not null).ToList();
        if (!all && selected.Count != ids.Length)
        {
            return Fail(ExitCodes.Usage, ["Some records were not found; 'ctmp quarantine list' shows what is there."]);
        }

        var window = host.Get<IOptions<CtMparticle.Configuration.RelayOptions>>().Value.DedupeRetentionDays;
        var dedupeHorizon = TimeProvider.System.GetUtcNow().AddDays(-window);
        var summary = new RelaySummary();
        int resolved = 0, still = 0;
        foreach (var (path, record) in selected)
        {
            if (record.Stage == "push")
            {
                // Its events never left the store: they are parked with their dedupe records, and go back to the outbox
                // as they were, to be sent with today's settings (a fixed key, plan or mapping).
                if (record.EventIds is not { Count: > 0 } eventIds)
                {
                    Console.WriteLine($"{path}: skipped (written by a relay version that did not record its events; send them again by hand)");
                    continue;
                }

                var restored = await host.Get<IEventStore>().RestoreParkedAsync(eventIds, cancellationToken).ConfigureAwait(false);
                if (restored == 0)
                {
                    still++;
                    Console.WriteLine($"{path}: nothing to restore (its events were restored before, or forgotten after Relay:QuarantineRetentionDays)");
                    continue;
                }

                await archive.DeleteAsync(path, cancellationToken).ConfigureAwait(false);
                resolved++;
                Console.WriteLine($"{path}: {restored:N0} event(s) back in the outbox");
                continue;
            }

            if (!beyondDedupeWindow && record.Source.ReceivedAt < dedupeHorizon)
            {
                // Its events' dedupe records may have been purged: a copy delivered meanwhile would not be recognized.
                Console.WriteLine($"{path}: skipped (received {record.Source.ReceivedAt:yyyy-MM-dd}, before the {window} days dedupe remembers; --beyond-dedupe-window replays it anyway)");
                continue;
            }

            byte[] payload;
            try
            {
                payload = Convert.FromBase64String(record.PayloadBase64);
            }
            catch (FormatException)
            {
                Console.WriteLine($"{path}: skipped (its payload_base64 is not base64; the record was edited or damaged)");
                continue;
            }

            IngestOutcome outcome;
            try
            {
                // A storefront call goes back through the collector's pipeline, under the source that sent it.
                outcome = record.Source.Format == CtMparticle.Sources.Collector.CollectorSource.Format
                    ? await host.Get<CtMparticle.Sources.Collector.CollectorIngest>().IngestAsync(new Inbound(payload, Source: record.Source.ResourceId), cancellationToken).ConfigureAwait(false)
                    : await host.Ingest.IngestAsync(new Inbound(payload), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && Faults.IsTransient(ex, cancellationToken))
            {
                // A dependency's outage is not the record's fault: stop, keep it quarantined, and say how to go on.
                Console.WriteLine($"{path}: not replayed now ({ex.GetType().Name}: {ex.Message}); run the replay again later");
                Console.WriteLine($"replayed {resolved + still:N0}: {resolved:N0} resolved, {still:N0} still quarantined; stopped early");
                return ExitCodes.Interrupted;
            }

            // The embedded store's ledger links the record to its input; on Azure there is no ledger to update.
            var seqs = host.Embedded is { } ledger ? await ledger.InputsQuarantinedAsAsync(path, cancellationToken).ConfigureAwait(false) : [];
            if (outcome.Kind == IngestOutcomeKind.Quarantined)
            {
                still++;
                Console.WriteLine($"{path}: still quarantined ({outcome.Reason}) {outcome.Detail}");
                continue;
            }

            foreach (var seq in seqs)
            {
                await host.Embedded!.UpdateInputAsync(seq, outcome.KindCode, outcome.Reason, outcome.Detail, null, outcome.EventIds, outcome.Flags, outcome.Info?.Unenriched, cancellationToken).ConfigureAwait(false);
            }

            await archive.DeleteAsync(path, cancellationToken).ConfigureAwait(false);
            resolved++;
            Console.WriteLine($"{path}: {outcome.KindCode}{(outcome.Reason is null ? "" : $" ({outcome.Reason})")}");
        }

        await new RelayRunner(host, Console.Error, TimeProvider.System).PushAsync(summary, drain: true, cancellationToken).ConfigureAwait(false);
        Console.WriteLine($"replayed {resolved + still:N0}: {resolved:N0} resolved, {still:N0} still quarantined; {summary.EventsDelivered:N0} event(s) delivered");
        return ExitCodes.Ok;
    }

    /// <summary>Names the credential settings of the configured inputs that are empty.</summary>
    private static string MissingCredentials(RunnerHost host)
    {
        var routing = host.Get<IOptions<CtMparticle.Configuration.MParticleOptions>>().Value;
        return string.Join(", ", routing.Inputs
            .SelectMany(i => new[] { i.ApiKeySetting, i.ApiSecretSetting })
            .Where(setting => string.IsNullOrEmpty(host.Configuration[setting]))
            .Distinct(StringComparer.Ordinal));
    }

    internal const string OtlpUsage = "--otlp is the OTLP/HTTP endpoint's base URL, e.g. http://127.0.0.1:4318/ (signals go to v1/logs, v1/metrics, v1/traces under it).";

    /// <summary>The --otlp endpoint: absent, or an absolute http(s) URL.</summary>
    internal static bool TryOtlp(string? text, out Uri? endpoint)
    {
        endpoint = null;
        if (text is null)
        {
            return true;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            return false;
        }

        endpoint = uri.AbsolutePath.EndsWith('/') ? uri : new Uri(uri + "/");
        return true;
    }

    internal static RunnerHost? TryCreateHost(RunnerOptions options, out int exitCode)
    {
        try
        {
            exitCode = ExitCodes.Ok;
            return RunnerHost.Create(options);
        }
        catch (OptionsValidationException ex)
        {
            exitCode = Fail(ExitCodes.Settings, ex.Failures.Prepend("The settings are not usable:"));
            return null;
        }
        catch (Exception ex) when (ex is InvalidDataException or FileNotFoundException or FormatException or JsonException or InvalidOperationException or StoreLayoutException)
        {
            exitCode = Fail(ExitCodes.Settings, [$"The settings are not usable: {ex.Message}"]);
            return null;
        }
        catch (IOException ex)
        {
            // A log store another process has open (a ctmp serve still running), or a disk that refuses: said, not thrown.
            exitCode = Fail(ExitCodes.Failed, [ex.Message]);
            return null;
        }
    }

    /// <summary>
    /// Opens the embedded store in <paramref name="folder"/> to read it whatever it was written with (the report, the
    /// identity look-ups); null with the failure said when it cannot (another process has a log store open).
    /// </summary>
    internal static IEmbeddedStore? TryOpenToRead(DirectoryInfo folder, out int exitCode)
    {
        try
        {
            exitCode = ExitCodes.Ok;
            return EmbeddedStore.Open(folder.FullName, TimeProvider.System, partitions: 16, checkLayout: false);
        }
        catch (IOException ex)
        {
            exitCode = Fail(ExitCodes.Failed, [ex.Message]);
            return null;
        }
    }

    internal static int Fail(int exitCode, IEnumerable<string> lines)
    {
        foreach (var line in lines)
        {
            Console.Error.WriteLine($"ctmp: {line}");
        }

        return exitCode;
    }
}
