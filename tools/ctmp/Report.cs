using System.Text.Json.Serialization;
using CtMparticle.Embedded;

namespace CtMparticle.Tool;

public sealed record ReasonCounts(long Total, SortedDictionary<string, long> ByReason);

public sealed record PendingReport(long Inputs, long Events, double? OldestAgeSeconds);

/// <summary>Inputs sent although the plan's policy flagged a violation (invalid values, by default), by error.</summary>
public sealed record FlaggedReport(long Inputs, SortedDictionary<string, long> ByError);

/// <param name="Held">Of <paramref name="Pending"/>, events waiting for their user's consent (Relay:ConsentWait).</param>
/// <param name="Withheld">Events consent refused at ingest: recorded so no replay sends them, never stored for push.</param>
public sealed record EventReport(long Stored, long Delivered, long Pending, long Withdrawn, long Quarantined, long InFlightRequests, long Held = 0, long Withheld = 0);

/// <summary>
/// The accounting of a store: every input received ends delivered, duplicate, filtered (by reason), quarantined (by
/// reason) or is still pending, and the events reconcile with what was delivered.
/// </summary>
public sealed record Report(
    string Store,
    long Received,
    long Delivered,
    long Duplicate,
    ReasonCounts Filtered,
    ReasonCounts Quarantined,
    PendingReport Pending,
    EventReport Events,
    FlaggedReport Flagged,
    bool Reconciled,
    IReadOnlyList<string> Problems)
{
    /// <summary>
    /// Accepted inputs that went without the commercetools details the relay would have added (a storefront product
    /// or cart commercetools did not answer for), by reason. Informational: they are delivered or pending as sent.
    /// </summary>
    public ReasonCounts Unenriched { get; init; } = new(0, []);

    internal static async Task<Report> BuildAsync(IEmbeddedStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var rows = await store.LedgerAsync(cancellationToken).ConfigureAwait(false);
        var totals = await store.EventTotalsAsync(cancellationToken).ConfigureAwait(false);
        var pendingStats = await store.Events.PendingStatsAsync(cancellationToken).ConfigureAwait(false);
        var flags = await store.FlagsAsync(cancellationToken).ConfigureAwait(false);
        var unenriched = await store.UnenrichedAsync(cancellationToken).ConfigureAwait(false);
        long delivered = 0, duplicate = 0, pending = 0;
        var filtered = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var quarantined = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            switch (row.Outcome)
            {
                case "accepted" when row.Pending > 0 || row.Events == 0:
                    pending++;
                    break;
                case "accepted" when row.Delivered > 0:
                    delivered++;
                    break;
                case "accepted" when row.Withdrawn > 0 && row.QuarantinedAtPush == 0:
                    Add(filtered, "consent_withdrawn");
                    break;
                case "accepted":
                    Add(quarantined, "rejected_at_push");
                    break;
                case "duplicate":
                    duplicate++;
                    break;
                case "filtered":
                    Add(filtered, row.Reason ?? "unknown");
                    break;
                default:
                    Add(quarantined, row.Reason ?? "unknown");
                    break;
            }
        }

        var filteredTotal = filtered.Values.Sum();
        var quarantinedTotal = quarantined.Values.Sum();
        var problems = new List<string>();
        var accounted = delivered + duplicate + filteredTotal + quarantinedTotal + pending;
        if (accounted != rows.Count)
        {
            problems.Add($"received {rows.Count} ≠ delivered {delivered} + duplicate {duplicate} + filtered {filteredTotal} + quarantined {quarantinedTotal} + pending {pending}");
        }

        var settled = totals.Delivered + totals.Pending + totals.Withdrawn + totals.Quarantined;
        if (settled != totals.Stored)
        {
            problems.Add($"events stored {totals.Stored} ≠ delivered {totals.Delivered} + pending {totals.Pending} + withdrawn {totals.Withdrawn} + quarantined {totals.Quarantined} (differs after a retention purge)");
        }

        var oldest = pendingStats.OldestEnqueuedAt is { } at ? (time.GetUtcNow() - at).TotalSeconds : (double?)null;
        return new Report(
            store.Folder,
            rows.Count, delivered, duplicate,
            new ReasonCounts(filteredTotal, filtered),
            new ReasonCounts(quarantinedTotal, quarantined),
            new PendingReport(pending, totals.Pending, oldest),
            new EventReport(totals.Stored, totals.Delivered, totals.Pending, totals.Withdrawn, totals.Quarantined, totals.InFlightRequests, totals.Held, totals.Withheld),
            new FlaggedReport(flags.Inputs, flags.ByError),
            problems.Count == 0,
            problems)
        {
            Unenriched = new ReasonCounts(unenriched.Values.Sum(), unenriched),
        };

        static void Add(SortedDictionary<string, long> counts, string reason) => counts[reason] = counts.GetValueOrDefault(reason) + 1;
    }

    public void Print(TextWriter output)
    {
        output.WriteLine($"Store: {Store}");
        output.WriteLine($"Inputs received  {Received,10:N0}");
        output.WriteLine($"  delivered      {Delivered,10:N0}");
        output.WriteLine($"  duplicate      {Duplicate,10:N0}");
        output.WriteLine($"  filtered       {Filtered.Total,10:N0}{Reasons(Filtered)}");
        output.WriteLine($"  quarantined    {Quarantined.Total,10:N0}{Reasons(Quarantined)}");
        output.WriteLine($"  pending        {Pending.Inputs,10:N0}");
        output.WriteLine($"Events stored    {Events.Stored,10:N0}: delivered {Events.Delivered:N0}, pending {Events.Pending:N0}" +
            $"{(Pending.OldestAgeSeconds is { } age ? $" (oldest {age:N0} s)" : "")}{(Events.Held > 0 ? $" of which {Events.Held:N0} held for consent" : "")}, withdrawn {Events.Withdrawn:N0}, quarantined {Events.Quarantined:N0}" +
            $"{(Events.Withheld > 0 ? $"; {Events.Withheld:N0} refused at ingest (never stored)" : "")}");
        if (Flagged.Inputs > 0)
        {
            // Sent, but not as the plan says: the policy allows these errors (invalid values, by default).
            output.WriteLine($"Flagged          {Flagged.Inputs,10:N0} input(s) sent with plan violations the policy allows:");
            foreach (var (error, count) in Flagged.ByError.OrderByDescending(e => e.Value).ThenBy(e => e.Key, StringComparer.Ordinal).Take(10))
            {
                output.WriteLine($"  {count,8:N0}  {error}");
            }
        }

        if (Unenriched.Total > 0)
        {
            // Sent as the storefront reported it: commercetools did not answer for the product or cart in time.
            output.WriteLine($"Unenriched       {Unenriched.Total,10:N0} input(s) sent without commercetools details{Reasons(Unenriched)}");
        }

        output.WriteLine(Reconciled
            ? $"Reconciles: yes ({Received:N0} = {Delivered:N0} + {Duplicate:N0} + {Filtered.Total:N0} + {Quarantined.Total:N0} + {Pending.Inputs:N0})"
            : "Reconciles: NO: " + string.Join("; ", Problems));
    }

    private static string Reasons(ReasonCounts counts) =>
        counts.Total == 0 ? "" : "   " + string.Join(", ", counts.ByReason.Select(r => $"{r.Key} {r.Value:N0}"));
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(Report))]
[JsonSerializable(typeof(RelaySummary))]
[JsonSerializable(typeof(QuarantineListItem))]
[JsonSerializable(typeof(List<QuarantineListItem>))]
internal sealed partial class ToolJsonContext : JsonSerializerContext;

public sealed record QuarantineListItem(string Path, string Reason, string Stage, string? MessageId, string? MessageType, DateTimeOffset ReceivedAt, string Message);
