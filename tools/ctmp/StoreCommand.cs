using System.CommandLine;
using CtMparticle.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace CtMparticle.Tool;

/// <summary><c>ctmp store downgrade --azure</c>: before a rollback, moves what this version's storage layout keeps elsewhere back to where older versions look.</summary>
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
        return command;
    }
}
