using System.CommandLine;
using System.Globalization;
using CtMparticle.Embedded;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace CtMparticle.Tool;

/// <summary>
/// <c>ctmp store downgrade --azure</c>: before a rollback, moves what this version's storage layout keeps elsewhere back
/// to where older versions look. <c>ctmp store compact</c>: rewrites an embedded log store with what still counts.
/// <c>ctmp store salvage</c>: cuts a damaged log store that no backup can give back.
/// </summary>
internal static class StoreCommand
{
    public static Command Create(Option<DirectoryInfo> store, Option<FileInfo?> settings)
    {
        var command = new Command("store", "The function app's storage layout.");
        var azure = new Option<bool>("--azure")
        {
            Description = "The function app's state in Azure Tables (Storage:* settings, e.g. CTMP_Storage__ConnectionString). Required: the embedded store has nothing to move.",
        };
        var downgrade = new Command("downgrade",
            "Before rolling the function app back to a version older than this one's storage layout (docs/deploy.md, Roll back): move what this version keeps " +
            "elsewhere (users' consent states, kept beside their identity links) back to where older versions look. Stop the function app first; " +
            "the next start of this version moves them again.")
        {
            azure, store, settings,
        };
        downgrade.SetAction(async (parse, cancellationToken) =>
        {
            if (!parse.GetValue(azure))
            {
                return Commands.Fail(ExitCodes.Usage, ["ctmp store downgrade works on the function app's storage: add --azure and the Storage:* settings (CTMP_Storage__ConnectionString=...)."]);
            }

            await using var host = Commands.TryCreateHost(new RunnerOptions(parse.GetValue(settings), parse.GetRequiredValue(store), null, AzureStorage: true), out var exit);
            if (host is null)
            {
                return exit;
            }

            foreach (var upgrade in host.Services.GetServices<IStoreUpgrade>())
            {
                var moved = await upgrade.DowngradeAsync(cancellationToken).ConfigureAwait(false);
                Console.WriteLine($"ctmp store downgrade: {moved:N0} record(s) moved back ({upgrade.Upgrade}, undone). Deploy the older version now; starting this one again moves them again.");
            }

            return ExitCodes.Ok;
        });
        command.Subcommands.Add(downgrade);
        command.Subcommands.Add(Compact(store));
        command.Subcommands.Add(Salvage(store));
        command.Subcommands.Add(Purge(store, settings));
        return command;
    }

    private static Command Purge(Option<DirectoryInfo> store, Option<FileInfo?> settings)
    {
        var purge = new Command("purge",
            "Forget what the retention settings say is over, as the function app's daily job does: dedupe records and identity decisions older " +
            "than Relay:DedupeRetentionDays, identity links, order contexts and consent states past their Relay:*RetentionDays (a consent that " +
            "refuses something is kept), events parked at push and quarantine records past Relay:QuarantineRetentionDays. ctmp serve and " +
            "ctmp worker do this when they start and daily; run it after ctmp relay runs on a store kept for long. Either store format.")
        {
            store, settings,
        };
        purge.SetAction(async (parse, cancellationToken) =>
        {
            var folder = parse.GetRequiredValue(store);
            if (EmbeddedStore.FormatIn(folder.FullName) is null)
            {
                return Commands.Fail(ExitCodes.Usage, [$"{folder.FullName} holds no store (neither state.db nor a state log): nothing to purge."]);
            }

            await using var host = Commands.TryCreateHost(new RunnerOptions(parse.GetValue(settings), folder, null), out var exit);
            if (host is null)
            {
                return exit;
            }

            var time = host.Get<TimeProvider>();
            var started = time.GetTimestamp();
            var forgotten = await EmbeddedRetention.RunAsync(host, cancellationToken).ConfigureAwait(false);
            Console.WriteLine($"ctmp store purge: {EmbeddedRetention.Describe(forgotten)}, in {time.GetElapsedTime(started).TotalSeconds:N1} s; " +
                "ctmp store compact gives the space back (ctmp relay does at the end of a run once the log doubled).");
            return ExitCodes.Ok;
        });
        return purge;
    }

    private static Command Salvage(Option<DirectoryInfo> store)
    {
        var salvage = new Command("salvage",
            "Cut a damaged log store (one every command refuses, saying 'The state log is damaged') after its last good batch before the damage, " +
            "when there is no backup to restore: what was committed after the damage is lost, and inputs and events sent again are then taken as new " +
            "(delivered again). Stop the relay or serve using the store first. On a whole log it changes nothing.")
        {
            store,
        };
        salvage.SetAction(parse =>
        {
            var folder = parse.GetRequiredValue(store).FullName;
            if (EmbeddedStore.FormatIn(folder) != StoreFormat.Log)
            {
                return Commands.Fail(ExitCodes.Usage, [$"There is no log store at {folder}. Pass the folder of a log store with --store."]);
            }

            LogSalvage result;
            try
            {
                result = LogStore.Salvage(folder);
            }
            catch (IOException ex)
            {
                return Commands.Fail(ExitCodes.Failed, [ex.Message]);
            }

            var (recovery, file, end) = result;
            Console.WriteLine(recovery.Problem is null && recovery.CutBytes == 0
                ? $"ctmp store salvage: the log in {folder} is whole ({recovery.Batches:N0} batch(es)): nothing cut."
                : string.Create(CultureInfo.InvariantCulture,
                    $"ctmp store salvage: {recovery.Problem ?? "damage"}; the log now ends at byte {end} of {file}, after {recovery.Batches:N0} batch(es) " +
                    $"of {recovery.Records:N0} record(s), and {recovery.CutBytes:N0} byte(s) after it are gone. Inputs and events that were only in them " +
                    $"are unknown to the store now: sent again, they are taken as new. Run 'ctmp report --store {folder}' for what it holds."));
            return ExitCodes.Ok;
        });
        return salvage;
    }

    private static Command Compact(Option<DirectoryInfo> store)
    {
        var compact = new Command("compact",
            "Rewrite a log store (the default format) with only what still counts: each key's newest state, without the versions before it, " +
            "the JSON of events already sent and what retention forgot. Stop the relay or serve using the store first. A crash or Ctrl-C " +
            "leaves the store as it was or compacted, never in between.")
        {
            store,
        };
        compact.SetAction(parse =>
        {
            var folder = parse.GetRequiredValue(store).FullName;
            switch (EmbeddedStore.FormatIn(folder))
            {
                case null:
                    return Commands.Fail(ExitCodes.Usage, [$"There is no store at {folder}. Pass the folder of a log store with --store."]);
                case StoreFormat.Sqlite:
                    return Commands.Fail(ExitCodes.Usage, [$"The store in {folder} is a SQLite store: it reuses the space of what it deletes and has no log to compact."]);
            }

            var started = TimeProvider.System.GetTimestamp();
            LogCompactionResult result;
            try
            {
                result = LogStore.Compact(folder, TimeProvider.System);
            }
            catch (IOException ex)
            {
                return Commands.Fail(ExitCodes.Failed, [ex.Message]);
            }

            var seconds = TimeProvider.System.GetElapsedTime(started).TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ctmp store compact: {result.RecordsKept:N0} of {result.RecordsBefore:N0} records kept; the log went from {RunnerHost.Megabytes(result.BytesBefore):N1} MB to {RunnerHost.Megabytes(result.BytesAfter):N1} MB in {seconds:N1} s."));
            return ExitCodes.Ok;
        });
        return compact;
    }
}
