using System.CommandLine;
using CtMparticle.Embedded;
using CtMparticle.Identity;
using CtMparticle.Storage;

namespace CtMparticle.Tool;

/// <summary>
/// <c>ctmp identity show ID</c>: what an identifier links to, since when, in which state, under which rules;
/// <c>ctmp identity explain EVENT_ID</c>: which identities an event was sent with, and the rule behind each;
/// <c>ctmp identity unlink CUSTOMER ID</c>: revokes a link for good (a later sighting does not bring it back).
/// </summary>
internal static class IdentityCommand
{
    public static Command Create(Option<DirectoryInfo> store, Option<FileInfo?> settings)
    {
        var azure = new Option<bool>("--azure")
        {
            Description = "Read the function app's links and decisions in Azure Tables (Storage:* settings, e.g. CTMP_Storage__ConnectionString) instead of the embedded store.",
        };
        var identity = new Command("identity", "Identity links: which identifiers were seen with which customer, and why.");
        var id = new Argument<string>("id") { Description = "A customer id, an anonymous or device id, or an e-mail address (looked up by its hash)." };
        var show = new Command("show", "Print every link of an identifier or customer: the other side, state, first and last seen, the event that showed it, the rules version.")
        {
            id, store, settings, azure,
        };
        show.SetAction((parse, cancellationToken) => WithLinksAsync(parse, store, settings, azure, async links =>
        {
            var found = await FindAsync(links, parse.GetRequiredValue(id).Trim(), cancellationToken).ConfigureAwait(false);
            if (found.Count == 0)
            {
                Console.WriteLine("No identity links for this identifier.");
                return ExitCodes.Ok;
            }

            foreach (var link in found)
            {
                Console.WriteLine($"customer {link.CustomerId}  {link.Type} {link.Value}  {link.State.ToString().ToLowerInvariant()}  " +
                    $"first {link.FirstSeen:u}  last {link.LastSeen:u}  event {link.SourceEventId}  rules {link.RulesVersion}");
            }

            return ExitCodes.Ok;
        }));
        identity.Subcommands.Add(show);

        var eventId = new Argument<string>("event-id") { Description = "The event's id: the source_message_id of its event in the batch mParticle received." };
        var explain = new Command("explain", "Print the identities an event was sent with, those withheld, and the rule behind each.")
        {
            eventId, store, settings, azure,
        };
        explain.SetAction((parse, cancellationToken) => !Guid.TryParse(parse.GetRequiredValue(eventId).Trim(), out var guid)
            ? Task.FromResult(Commands.Fail(ExitCodes.Usage, ["The event id is a UUID: the source_message_id of the event in the batch sent to mParticle (or in ctmp relay --dry-run's files)."]))
            : WithLinksAsync(parse, store, settings, azure, async links =>
        {
            if (await links.DecisionAsync(guid, cancellationToken).ConfigureAwait(false) is not { } decision)
            {
                Console.WriteLine($"No identity decision for event {guid:D}: no batch of it was built (it is still pending, was withdrawn or quarantined before push), or it was forgotten after Relay:DedupeRetentionDays.");
                return ExitCodes.Ok;
            }

            Console.WriteLine($"event {decision.EventId:D} ({decision.EventName})  decided {decision.DecidedAt:u}  identity rules {decision.RulesVersion}  consent regime {decision.Regime}");
            foreach (var choice in decision.Choices)
            {
                Console.WriteLine($"  {(choice.Sent ? "sent    " : "withheld")}  {choice.Type} {choice.Value}  {choice.Rule}");
            }

            return ExitCodes.Ok;
        }));
        identity.Subcommands.Add(explain);

        var customer = new Argument<string>("customer") { Description = "The customer id." };
        var other = new Argument<string>("id") { Description = "The identifier to detach: an anonymous or device id, or an e-mail address." };
        var unlink = new Command("unlink", "Revoke the links between a customer and an identifier: they are kept as revoked (for the record) and never used again.")
        {
            customer, other, store, settings, azure,
        };
        unlink.SetAction((parse, cancellationToken) => WithLinksAsync(parse, store, settings, azure, async store =>
        {
            var customerId = parse.GetRequiredValue(customer).Trim();
            var value = ValueOf(parse.GetRequiredValue(other).Trim());
            var links = (await store.ByCustomerAsync(customerId, cancellationToken).ConfigureAwait(false)).Where(l => l.Value == value).ToList();
            if (links.Count == 0)
            {
                return Commands.Fail(ExitCodes.Usage, [$"Customer {customerId} has no link to that identifier; 'ctmp identity show {customerId}' lists theirs."]);
            }

            foreach (var link in links)
            {
                await store.SetStateAsync(link, LinkState.Revoked, "unlinked by hand", cancellationToken).ConfigureAwait(false);
                Console.WriteLine($"revoked: customer {link.CustomerId}  {link.Type} {link.Value}");
            }

            return ExitCodes.Ok;
        }));
        identity.Subcommands.Add(unlink);
        return identity;
    }

    private static async Task<IReadOnlyList<IdentityLink>> FindAsync(IIdentityLinkStore links, string id, CancellationToken cancellationToken)
    {
        var found = new List<IdentityLink>(await links.ByCustomerAsync(id, cancellationToken).ConfigureAwait(false));
        var value = ValueOf(id);
        foreach (var type in IdentifierTypes.Linkable)
        {
            found.AddRange(await links.ByIdentifierAsync(type, value, cancellationToken).ConfigureAwait(false));
        }

        return [.. found.Distinct()];
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the links: the embedded store's file (never created here: a missing one is a
    /// wrong --store), or with --azure the function app's table, through the relay's own registration and settings.
    /// </summary>
    private static async Task<int> WithLinksAsync(
        ParseResult parse, Option<DirectoryInfo> store, Option<FileInfo?> settings, Option<bool> azure, Func<IIdentityLinkStore, Task<int>> work)
    {
        if (parse.GetValue(azure))
        {
            await using var host = Commands.TryCreateHost(new RunnerOptions(parse.GetValue(settings), parse.GetRequiredValue(store), null, AzureStorage: true), out var exit);
            return host is null ? exit : await work(host.Get<IIdentityLinkStore>()).ConfigureAwait(false);
        }

        var folder = parse.GetRequiredValue(store);
        if (EmbeddedStore.FormatIn(folder.FullName) is null)
        {
            return Commands.Fail(ExitCodes.Usage, [$"There is no store at {RunnerHost.DatabasePath(folder)} (nor a state log in {folder.FullName}). Run ctmp relay or ctmp serve first, or pass --store (or --azure for the function app's)."]);
        }

        await using var embedded = Commands.TryOpenToRead(folder, out var refused);
        return embedded is null ? refused : await work(embedded.Links).ConfigureAwait(false);
    }

    /// <summary>How an identifier is stored: an e-mail address as its hash, anything else as given.</summary>
    private static string ValueOf(string id) =>
        id.Contains('@', StringComparison.Ordinal) && Emails.Normalize(id) is { } email ? Emails.Sha256Hex(email) : id;
}
