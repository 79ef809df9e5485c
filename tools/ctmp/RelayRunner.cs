using System.Diagnostics;
using CtMparticle.Pipeline;
using CtMparticle.Storage;

namespace CtMparticle.Tool;

/// <summary>What a relay run did, for the summary.</summary>
internal sealed class RelaySummary
{
    public long Inputs { get; set; }

    public long Redelivered { get; set; }

    public SortedDictionary<string, long> Outcomes { get; } = new(StringComparer.Ordinal);

    public long EventsStored { get; set; }

    public long EventsDelivered { get; set; }

    public long EventsWithdrawn { get; set; }

    public long EventsQuarantined { get; set; }

    /// <summary>Events resent inside requests that may already have reached mParticle (same bytes, same request id).</summary>
    public long EventsResent { get; set; }

    public long Requests { get; set; }

    public long PendingEvents { get; set; }

    /// <summary>Of the pending events, those waiting for their user's consent (Relay:ConsentWait).</summary>
    public long HeldEvents { get; set; }

    /// <summary>Why the run stopped before the end of its inputs (a dependency was unavailable), or null.</summary>
    public string? Interrupted { get; set; }

    public double Seconds { get; set; }

    public double InputsPerSecond { get; set; }

    public long PeakMemoryBytes { get; set; }

    public void Count(string outcome, string? reason)
    {
        var key = reason is null ? outcome : $"{outcome}:{reason}";
        Outcomes[key] = Outcomes.GetValueOrDefault(key) + 1;
    }
}

/// <summary>
/// The main job: stream deliveries through ingest, push as the outbox fills and once more at the end, and record
/// every input's outcome in the ledger. Memory stays flat: inputs are streamed, state lives in the store.
/// </summary>
internal sealed class RelayRunner(RunnerHost host, TextWriter progress, TimeProvider time)
{
    /// <summary>Push after this many inputs, so the outbox never grows with the corpus.</summary>
    private const int PushEvery = 5_000;

    /// <summary>Inputs per store transaction (the embedded store): a crash loses at most this many, and a rerun redoes them.</summary>
    private const int CommitEvery = 5_000;

    public async Task<RelaySummary> RunAsync(IEnumerable<InputItem> inputs, bool showProgress, CancellationToken cancellationToken)
    {
        var summary = new RelaySummary();
        var started = time.GetTimestamp();
        var lastProgress = started;
        var sinceLastPush = 0;
        var sinceLastCommit = 0;
        await BeginAsync(cancellationToken).ConfigureAwait(false);
        foreach (var input in inputs)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                await IngestOneAsync(input, summary, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && Faults.IsTransient(ex, cancellationToken))
            {
                // Storage or commercetools cannot serve now: stop here, keep what is done; a rerun redoes this input
                // (every stage is idempotent) and goes on. Nothing is quarantined for a dependency's outage.
                summary.Interrupted = $"{input.Source}: {ex.GetType().Name}: {ex.Message}";
                break;
            }

            if (++sinceLastCommit >= CommitEvery)
            {
                sinceLastCommit = 0;
                await CommitAsync(cancellationToken).ConfigureAwait(false);
                await BeginAsync(cancellationToken).ConfigureAwait(false);
            }

            if (++sinceLastPush >= PushEvery)
            {
                // Push outside the batch transaction: each request must be durably in flight before it is POSTed,
                // and its events durably removed once mParticle accepted it (a kill in between resends it identically).
                sinceLastPush = 0;
                sinceLastCommit = 0;
                await CommitAsync(cancellationToken).ConfigureAwait(false);
                await PushAsync(summary, drain: false, cancellationToken).ConfigureAwait(false);
                await BeginAsync(cancellationToken).ConfigureAwait(false);
            }

            if (showProgress && time.GetElapsedTime(lastProgress) > TimeSpan.FromSeconds(2))
            {
                lastProgress = time.GetTimestamp();
                var elapsed = time.GetElapsedTime(started).TotalSeconds;
                progress.WriteLine($"ctmp: {summary.Inputs:N0} inputs ({summary.Inputs / elapsed:N0}/s), {summary.EventsDelivered:N0} events delivered");
            }
        }

        await CommitAsync(cancellationToken).ConfigureAwait(false);
        await PushAsync(summary, drain: true, cancellationToken).ConfigureAwait(false);
        var pending = await host.Events.PendingStatsAsync(cancellationToken).ConfigureAwait(false);
        summary.PendingEvents = pending.Count;
        summary.HeldEvents = pending.Held;
        summary.Seconds = time.GetElapsedTime(started).TotalSeconds;
        summary.InputsPerSecond = summary.Seconds > 0 ? summary.Inputs / summary.Seconds : 0;
        using var process = Process.GetCurrentProcess();
        summary.PeakMemoryBytes = process.PeakWorkingSet64;
        return summary;
    }

    private Task BeginAsync(CancellationToken cancellationToken) =>
        host.Embedded?.BeginBatchAsync(cancellationToken) ?? Task.CompletedTask;

    private Task CommitAsync(CancellationToken cancellationToken) =>
        host.Embedded?.CommitBatchAsync(cancellationToken) ?? Task.CompletedTask;

    /// <summary>One input: ingest, then record it. A redelivered message (its id already recorded) counts as a duplicate.</summary>
    public async Task<IngestOutcome> IngestOneAsync(InputItem input, RelaySummary summary, CancellationToken cancellationToken)
    {
        var outcome = await host.Ingest.IngestAsync(new Inbound(input.Body), cancellationToken).ConfigureAwait(false);
        summary.Inputs++;
        if (host.Embedded is not { } ledger)
        {
            summary.EventsStored += outcome.EventsStored;
            summary.Count(outcome.KindCode, outcome.Reason);
            return outcome;
        }

        var messageId = outcome.Info?.MessageId;
        var earlier = messageId is null ? null : await ledger.FindInputAsync(messageId, cancellationToken).ConfigureAwait(false);
        if (earlier is not null)
        {
            // The same message again: the earlier input keeps the message's outcome. If it had been quarantined
            // and now went through (its order arrived meanwhile), the earlier input takes the new outcome.
            if (earlier.Outcome == "quarantined" && outcome.Kind != IngestOutcomeKind.Quarantined)
            {
                await ledger.UpdateInputAsync(earlier.Seq, outcome.KindCode, outcome.Reason, outcome.Detail, null, outcome.EventIds, outcome.Flags, cancellationToken).ConfigureAwait(false);
            }

            summary.Redelivered++;
            summary.Count("duplicate", "redelivered");
            await ledger.RecordInputAsync(input.Source, messageId, outcome.Info?.MessageType, "duplicate", "redelivered",
                "The same commercetools message was received before.", null, [], [], cancellationToken).ConfigureAwait(false);
            return outcome;
        }

        summary.EventsStored += outcome.EventsStored;
        summary.Count(outcome.KindCode, outcome.Reason);
        await ledger.RecordInputAsync(input.Source, messageId, outcome.Info?.MessageType, outcome.KindCode, outcome.Reason, outcome.Detail,
            outcome.QuarantineLocation, outcome.EventIds, outcome.Flags, cancellationToken).ConfigureAwait(false);
        return outcome;
    }

    /// <summary>Pushes until the outbox is empty or a run makes no progress (throttled, failing, misconfigured input).</summary>
    public async Task PushAsync(RelaySummary summary, bool drain, CancellationToken cancellationToken)
    {
        for (var round = 0; round < 1_000; round++)
        {
            var report = await host.Push.PushAsync(cancellationToken).ConfigureAwait(false);
            summary.Requests += report.Requests;
            summary.EventsDelivered += report.Delivered;
            summary.EventsWithdrawn += report.Withdrawn;
            summary.EventsQuarantined += report.Quarantined;
            summary.EventsResent += report.Resent;
            var progressed = report.Delivered + report.Withdrawn + report.Quarantined > 0;
            if (!progressed || (!drain && report.PendingRead < 1))
            {
                return;
            }

            if (!drain)
            {
                var stats = await host.Events.PendingStatsAsync(cancellationToken).ConfigureAwait(false);
                if (stats.Count < PushEvery)
                {
                    return;
                }
            }
        }
    }
}
