using System.Diagnostics;
using System.Threading.Channels;
using CtMparticle.Configuration;
using CtMparticle.Consent;
using CtMparticle.Delivery;
using CtMparticle.Embedded;
using CtMparticle.Pipeline;
using CtMparticle.Sources.Collector;
using CtMparticle.Storage;
using CtMparticle.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

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

    /// <summary>Events in persisted requests of an input no longer in the settings (at the last push).</summary>
    public long EventsStranded { get; set; }

    public long Requests { get; set; }

    public long PendingEvents { get; set; }

    /// <summary>Of the pending events, those waiting for their user's consent (Relay:ConsentWait).</summary>
    public long HeldEvents { get; set; }

    /// <summary>Why the run stopped before the end of its inputs (a dependency was unavailable), or null.</summary>
    public string? Interrupted { get; set; }

    public double Seconds { get; set; }

    public double InputsPerSecond { get; set; }

    public long PeakMemoryBytes { get; set; }

    /// <summary>
    /// Processor time the run used on all threads (user and system), per input in microseconds: on a shared machine
    /// steadier than the rate, since it does not count the time the run waited for a core another process had.
    /// </summary>
    public double CpuMicrosecondsPerInput { get; set; }

    /// <summary>
    /// Bytes the run allocated on the managed heap (all threads), per input: unlike time, the same on a fast and a slow
    /// machine, so builds can be compared by it across sessions (it moves only with the code, the corpus and the settings).
    /// </summary>
    public double AllocatedBytesPerInput { get; set; }

    /// <summary>
    /// Seconds the garbage collector held every thread of the run still (its pauses, summed): the part of the run no
    /// work could use, which fewer objects living from one collection to the next shortens (docs/performance.md).
    /// </summary>
    public double GcPauseSeconds { get; set; }

    public void Count(string outcome, string? reason)
    {
        var key = reason is null ? outcome : $"{outcome}:{reason}";
        Outcomes[key] = Outcomes.GetValueOrDefault(key) + 1;
    }

    /// <summary>Adds what <paramref name="ingested"/> counted while ingesting (a batch that is now stored).</summary>
    public void Add(RelaySummary ingested)
    {
        Inputs += ingested.Inputs;
        Redelivered += ingested.Redelivered;
        EventsStored += ingested.EventsStored;
        foreach (var (key, count) in ingested.Outcomes)
        {
            Outcomes[key] = Outcomes.GetValueOrDefault(key) + count;
        }
    }
}

/// <summary>
/// A quarantine record could not be written to the folder for --retry-for (or not at all: a failure that is not
/// transient). The batch that held its input was dropped, as a crash would drop it; a rerun redoes it.
/// </summary>
internal sealed class QuarantineUnwritableException(string folder, Exception inner) : Exception(
    $"A quarantine record could not be written to {folder} ({inner.GetType().Name}: {inner.Message}). The inputs since the last commit were not kept; " +
    "make the folder writable and run the same command again (nothing is lost or sent twice).", inner);

/// <summary>
/// The main job: stream deliveries through ingest, push as the outbox fills and once more at the end, and record
/// every input's outcome in the ledger. Memory stays flat: inputs are streamed, state lives in the store.
/// </summary>
internal sealed class RelayRunner(RunnerHost host, TextWriter progress, TimeProvider time)
{
    /// <summary>
    /// How long a run keeps retrying what failed transiently (an input whose storage or commercetools is down, events
    /// mParticle throttled or failed) before it stops: exit 5 for inputs, 4 for events. Zero stops at once.
    /// </summary>
    public TimeSpan RetryFor { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Push after this many inputs, so the outbox never grows with the corpus.</summary>
    public int PushEvery { get; init; } = 5_000;

    /// <summary>
    /// On the embedded store, each push during the run goes on beside the ingest of the next inputs, on the other core,
    /// instead of stopping it (<see cref="SnapshotPushStore"/>): it sends what a push at the same point would send.
    /// False pushes in turn with the ingest (tests compare the two).
    /// </summary>
    public bool PushBeside { get; init; } = true;

    /// <summary>Inputs per store transaction (the embedded store): a crash loses at most this many, and a rerun redoes them.</summary>
    private const int CommitEvery = 5_000;

    public async Task<RelaySummary> RunAsync(IEnumerable<InputItem> inputs, bool showProgress, CancellationToken cancellationToken)
    {
        var summary = new RelaySummary();
        var started = time.GetTimestamp();
        TimeSpan cpuAtStart;
        using (var self = Process.GetCurrentProcess())
        {
            cpuAtStart = self.TotalProcessorTime;
        }

        var allocatedAtStart = GC.GetTotalAllocatedBytes(precise: true);
        var pausedAtStart = GC.GetTotalPauseDuration();

        var lastProgress = started;
        var sinceLastPush = 0;
        var sinceLastCommit = 0;
        var quarantine = host.QuarantineBehind;
        await BeginAsync(cancellationToken).ConfigureAwait(false);
        // One thread reads and prepares the inputs (decode, resolve, map, plan check) up to PrepareAhead ahead, while
        // this loop settles them one at a time in their order: the store sees the same writes in the same order.
        var ahead = Channel.CreateBounded<Ahead>(new BoundedChannelOptions(Math.Max(1, PrepareAhead)) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _ = host.Ingest; // built here, before both threads use it
        await using var beside = PushBeside && host.Embedded is { } embedded ? new BesidePush(embedded, embedded.OpenPushSnapshots(), host.Services) : null;
        var preparing = Task.Factory.StartNew(() => PrepareAll(inputs, ahead.Writer, stop.Token), stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            await foreach (var next in ahead.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var input = next.Input;
                if (await IngestWithRetriesAsync(input, summary, showProgress, next, cancellationToken).ConfigureAwait(false) is { } failure)
                {
                    // Storage or commercetools could not serve within --retry-for: stop here, keep what is done; a rerun
                    // redoes this input (every stage is idempotent) and goes on. Nothing is quarantined for an outage.
                    summary.Interrupted = failure;
                    break;
                }

                sinceLastCommit++;
                if (++sinceLastPush >= PushEvery)
                {
                    // Each request must be durably in flight before it is POSTed (a kill then resends it identically):
                    // the in-flight journal keeps it at once, outside the batch. In turn: the batch commits, then the push
                    // runs. Beside: the previous push ends first, the batch commits, and the next push takes its snapshot
                    // of what is committed now.
                    sinceLastPush = 0;
                    sinceLastCommit = 0;
                    if (beside is not null)
                    {
                        await beside.EndAsync(summary).ConfigureAwait(false);
                        await CommitAsync(showProgress, cancellationToken).ConfigureAwait(false);
                        await beside.StartAsync(cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        await CommitAsync(showProgress, cancellationToken).ConfigureAwait(false);
                        await PushAsync(summary, drain: false, cancellationToken).ConfigureAwait(false);
                    }

                    await BeginAsync(cancellationToken).ConfigureAwait(false);
                }
                else if (sinceLastCommit >= CommitEvery || quarantine?.Failed == true)
                {
                    // A commit waits for the push running beside, as a push point does. That push decides on what was
                    // committed at its point; were part of its work made durable with the inputs since, a kill would
                    // leave the rest of it to the rerun, which decides it on those newer inputs' consent instead.
                    // A quarantine record that could not be written commits at once: its retries start there.
                    sinceLastCommit = 0;
                    if (beside is not null)
                    {
                        await beside.EndAsync(summary).ConfigureAwait(false);
                    }

                    await CommitAsync(showProgress, cancellationToken).ConfigureAwait(false);
                    await BeginAsync(cancellationToken).ConfigureAwait(false);
                }

                if (showProgress && time.GetElapsedTime(lastProgress) > TimeSpan.FromSeconds(2))
                {
                    lastProgress = time.GetTimestamp();
                    var elapsed = time.GetElapsedTime(started).TotalSeconds;
                    progress.WriteLine($"ctmp: {summary.Inputs:N0} inputs ({summary.Inputs / elapsed:N0}/s), {summary.EventsDelivered:N0} events delivered");
                }
            }
        }
        finally
        {
            // The preparing thread only reads; it stops at the next input and ends before the store closes.
            await stop.CancelAsync().ConfigureAwait(false);
            while (ahead.Reader.TryRead(out _))
            {
            }

            await preparing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (beside is not null)
        {
            await beside.EndAsync(summary).ConfigureAwait(false);
        }

        await CommitAsync(showProgress, cancellationToken).ConfigureAwait(false);
        await PushAsync(summary, drain: true, cancellationToken).ConfigureAwait(false);
        await RetryPendingAsync(summary, showProgress, cancellationToken).ConfigureAwait(false);
        var pending = await host.Events.PendingStatsAsync(cancellationToken).ConfigureAwait(false);
        summary.PendingEvents = pending.Count;
        summary.HeldEvents = pending.Held;
        summary.Seconds = time.GetElapsedTime(started).TotalSeconds;
        summary.InputsPerSecond = summary.Seconds > 0 ? summary.Inputs / summary.Seconds : 0;
        using var process = Process.GetCurrentProcess();
        summary.PeakMemoryBytes = process.PeakWorkingSet64;
        summary.CpuMicrosecondsPerInput = summary.Inputs > 0 ? (process.TotalProcessorTime - cpuAtStart).TotalMicroseconds / summary.Inputs : 0;
        summary.AllocatedBytesPerInput = summary.Inputs > 0 ? (double)(GC.GetTotalAllocatedBytes(precise: true) - allocatedAtStart) / summary.Inputs : 0;
        summary.GcPauseSeconds = (GC.GetTotalPauseDuration() - pausedAtStart).TotalSeconds;
        return summary;
    }

    /// <summary>
    /// One input, retried while it fails transiently and --retry-for lasts, backing off as the push does
    /// (Push:InitialBackoff doubling to Push:MaxBackoff); the failure when it gave up.
    /// </summary>
    private async Task<string?> IngestWithRetriesAsync(InputItem input, RelaySummary summary, bool showProgress, Ahead? ahead, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        Retrying? retrying = null;
        while (true)
        {
            try
            {
                // The first attempt settles what was prepared ahead, unless it failed or read an order context saved since.
                var watch = host.Get<OrderContextWatch>();
                var prepared = ahead?.Reads is { } reads && !watch.Changed(reads) ? ahead.Prepared : null;
                if (ahead?.Reads is { } done)
                {
                    watch.Settled(done);
                }

                ahead = null;
                if (prepared is null)
                {
                    await IngestOneAsync(input, summary, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await RecordAsync(input.Source, await host.Ingest.IngestAsync(prepared, cancellationToken).ConfigureAwait(false), summary, cancellationToken).ConfigureAwait(false);
                }

                return null;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && Faults.IsTransient(ex, cancellationToken))
            {
                retrying ??= RetryingFrom(started, $"{input.Source} failed transiently", showProgress);
                if (!await retrying.WaitAsync(ex, cancellationToken).ConfigureAwait(false))
                {
                    return $"{input.Source}: {ex.GetType().Name}: {ex.Message}";
                }
            }
        }
    }

    /// <summary>
    /// After the drain: while events other than those held for consent are still pending (throttled, 5xx, no answer)
    /// and --retry-for lasts, wait for the throttle (Retry-After, backoff) and push again.
    /// </summary>
    private async Task RetryPendingAsync(RelaySummary summary, bool showProgress, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var throttle = host.Get<CtMparticle.Delivery.PushThrottle>();
        while (true)
        {
            var stats = await host.Events.PendingStatsAsync(cancellationToken).ConfigureAwait(false);
            var inFlight = (await host.Events.ReadInFlightAsync(cancellationToken).ConfigureAwait(false)).Count;
            var left = RetryFor - time.GetElapsedTime(started);
            if ((stats.Count <= stats.Held && inFlight == 0) || left <= TimeSpan.Zero)
            {
                return;
            }

            var pause = throttle.NextCallIn() ?? TimeSpan.FromMilliseconds(500);
            pause = pause < TimeSpan.FromMilliseconds(100) ? TimeSpan.FromMilliseconds(100) : pause < left ? pause : left;
            if (showProgress)
            {
                progress.WriteLine($"ctmp: {stats.Count - stats.Held:N0} event(s) pending; next attempt in {pause.TotalSeconds:N1} s, retrying for {left.TotalSeconds:N0} s more (--retry-for)");
            }

            await Task.Delay(pause, time, cancellationToken).ConfigureAwait(false);
            await PushAsync(summary, drain: true, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// How many inputs are prepared ahead of the one being settled, on a thread of their own. Zero prepares each
    /// input only when its turn comes (one at a time, as before prepare-ahead; tests compare the two). 512 rather than
    /// 64 since the push's journal saves no longer hold the state log (2026-12-07): the writer's waits for the preparing
    /// thread (1.4 s of a 9 s run) are bursts a longer queue absorbs; faster in 8 of 12 alternating pairs, rate +4-5 %,
    /// CPU per input -3-4 %, about 8 MB more at peak.
    /// </summary>
    public int PrepareAhead { get; init; } = DefaultPrepareAhead;

    /// <summary>The default of <see cref="PrepareAhead"/>.</summary>
    public const int DefaultPrepareAhead = 512;

    /// <summary>
    /// An input, prepared ahead with the order contexts its preparing read; or not prepared (a storefront call, which
    /// its turn ingests whole, or a prepare that failed transiently, which its turn retries).
    /// </summary>
    private sealed record Ahead(InputItem Input, PreparedInput? Prepared, OrderContextWatch.Reads? Reads);

    /// <summary>The preparing thread: reads the inputs in order and prepares each commercetools delivery, until the run stops.</summary>
    private void PrepareAll(IEnumerable<InputItem> inputs, ChannelWriter<Ahead> ahead, CancellationToken stop)
    {
        Exception? failed = null;
        try
        {
            var watch = host.Get<OrderContextWatch>();
            var collector = host.Get<IOptions<CollectorOptions>>().Value.Sources.Length > 0;
            foreach (var input in inputs)
            {
                stop.ThrowIfCancellationRequested();
                Ahead item;
                if (PrepareAhead == 0 || (collector && !CollectorCalls.SurelyNotACall(input.Body) && CollectorCalls.AsStoredCall(input.Body, time.GetUtcNow()) is not null))
                {
                    item = new Ahead(input, null, null);
                }
                else
                {
                    var reads = watch.Watch();
                    try
                    {
                        item = new Ahead(input, host.Ingest.PrepareAsync(new Inbound(input.Body), stop).GetAwaiter().GetResult(), reads);
                    }
                    catch (Exception ex) when (!stop.IsCancellationRequested && Faults.IsTransient(ex, stop))
                    {
                        item = new Ahead(input, null, reads); // its turn ingests it whole; the reads tell the watch when it settled
                    }
                }

                if (!ahead.TryWrite(item))
                {
                    ahead.WriteAsync(item, stop).AsTask().GetAwaiter().GetResult();
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // Reading the inputs failed: the run stops with it, as it did when it read them itself.
            failed = ex;
        }
        finally
        {
            ahead.TryComplete(failed);
        }
    }

    /// <summary>Opens a batch; the quarantine records of its inputs are written behind the writer until it commits.</summary>
    private async Task BeginAsync(CancellationToken cancellationToken)
    {
        if (host.Embedded is { } embedded)
        {
            await embedded.BeginBatchAsync(cancellationToken).ConfigureAwait(false);
            host.QuarantineBehind?.Begin();
        }
    }

    /// <summary>
    /// Commits the batch once every quarantine record of its inputs is in the folder (an input is never committed as
    /// quarantined without its record). A record that cannot be written is tried again, backing off as an input is,
    /// for --retry-for; then the batch is dropped, as a crash would drop it, and <see cref="QuarantineUnwritableException"/>
    /// stops the run: a rerun redoes those inputs.
    /// </summary>
    private async Task CommitAsync(bool showProgress, CancellationToken cancellationToken)
    {
        if (host.Embedded is not { } embedded)
        {
            return;
        }

        if (host.QuarantineBehind is { } behind)
        {
            var retrying = RetryingFrom(time.GetTimestamp(), $"a quarantine record could not be written to {behind.Root}", showProgress);
            while (true)
            {
                try
                {
                    await behind.FlushAsync(cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    if (!Faults.IsTransient(ex, cancellationToken) || !await retrying.WaitAsync(ex, cancellationToken).ConfigureAwait(false))
                    {
                        behind.Abandon();
                        await embedded.RollbackBatchAsync(CancellationToken.None).ConfigureAwait(false);
                        throw new QuarantineUnwritableException(behind.Root, ex);
                    }
                }
            }
        }

        await embedded.CommitBatchAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The run's retrying of one thing: its --retry-for and the push's backoff settings.</summary>
    private Retrying RetryingFrom(long started, string what, bool showProgress) =>
        new(host.Get<IOptions<PushOptions>>().Value, time, RetryFor, started, showProgress ? progress : null, what);

    /// <summary>
    /// The waits between the attempts at one thing that fails transiently: Push:InitialBackoff, doubling up to
    /// Push:MaxBackoff, while --retry-for lasts from <paramref name="started"/>; each announced on the progress line.
    /// </summary>
    /// <param name="progress">Where each wait is announced, or null.</param>
    /// <param name="what">What failed, for the progress line ("c.ndjson:31 failed transiently").</param>
    private sealed class Retrying(PushOptions backoff, TimeProvider time, TimeSpan retryFor, long started, TextWriter? progress, string what)
    {
        private TimeSpan wait = backoff.InitialBackoff;

        /// <summary>Waits before the next attempt after <paramref name="failure"/>; false once --retry-for is over (no wait then).</summary>
        public async Task<bool> WaitAsync(Exception failure, CancellationToken cancellationToken)
        {
            var left = retryFor - time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            var pause = wait < left ? wait : left;
            progress?.WriteLine($"ctmp: {what} ({failure.GetType().Name}); retrying in {pause.TotalSeconds:N1} s, for {left.TotalSeconds:N0} s more (--retry-for)");
            await Task.Delay(pause, time, cancellationToken).ConfigureAwait(false);
            wait = wait * 2 < backoff.MaxBackoff ? wait * 2 : backoff.MaxBackoff;
            return true;
        }
    }

    /// <summary>One input: ingest, then record it. A redelivered message (its id already recorded) counts as a duplicate.</summary>
    public async Task<IngestOutcome> IngestOneAsync(InputItem input, RelaySummary summary, CancellationToken cancellationToken)
    {
        var outcome = await IngestAsync(input, cancellationToken).ConfigureAwait(false);
        await RecordAsync(input.Source, outcome, summary, cancellationToken).ConfigureAwait(false);
        return outcome;
    }

    private Task<IngestOutcome> IngestAsync(InputItem input, CancellationToken cancellationToken)
    {
        // A storefront call in a file (Segment NDJSON) goes through the collector's pipeline under the first
        // collector source; everything else is a commercetools delivery.
        var collector = host.Get<IOptions<CollectorOptions>>().Value.Sources.FirstOrDefault();
        return collector is not null && !CollectorCalls.SurelyNotACall(input.Body) && CollectorCalls.AsStoredCall(input.Body, time.GetUtcNow()) is { } call
            ? host.Get<CollectorIngest>().IngestAsync(new Inbound(call, Source: collector.Name), cancellationToken)
            : host.Ingest.IngestAsync(new Inbound(input.Body), cancellationToken);
    }

    /// <summary>
    /// A batch of inputs (one Service Bus receive) settled as one unit of storage work before any of them is
    /// completed, as the function app settles its batches: on the embedded store in one transaction (one commit
    /// instead of one per write), on Azure Tables written behind (<see cref="IBatchSettler"/>: one flush of
    /// entity-group transactions). A failure throws and leaves nothing of the batch stored or counted, for the
    /// transport to deliver it again (every stage is idempotent).
    /// </summary>
    public async Task SettleBatchAsync(IReadOnlyList<InputItem> inputs, RelaySummary summary, CancellationToken cancellationToken)
    {
        var ingested = new RelaySummary();
        if (host.Embedded is { } embedded)
        {
            await embedded.BeginBatchAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                foreach (var input in inputs)
                {
                    await IngestOneAsync(input, ingested, cancellationToken).ConfigureAwait(false);
                }

                await embedded.CommitBatchAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await embedded.RollbackBatchAsync(CancellationToken.None).ConfigureAwait(false);
                throw;
            }
        }
        else
        {
            var outcomes = await host.Get<IBatchSettler>().SettleAsync(inputs, IngestAsync, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < inputs.Count; i++)
            {
                await RecordAsync(inputs[i].Source, outcomes[i], ingested, cancellationToken).ConfigureAwait(false);
            }
        }

        summary.Add(ingested);
    }

    /// <summary>
    /// Records an input's outcome in the summary and the embedded ledger (any source: files, the collector). A message
    /// whose id was recorded before (a redelivery, a tracker's retry) counts as a duplicate.
    /// </summary>
    /// <returns>Whether the message was recorded before (and so counted as a duplicate now).</returns>
    public async Task<bool> RecordAsync(string source, IngestOutcome outcome, RelaySummary summary, CancellationToken cancellationToken)
    {
        summary.Inputs++;
        if (host.Embedded is not { } ledger)
        {
            summary.EventsStored += outcome.EventsStored;
            summary.Count(outcome.KindCode, outcome.Reason);
            return false;
        }

        var messageId = outcome.Info?.MessageId;
        var earlier = messageId is null ? null : await ledger.FindInputAsync(messageId, cancellationToken).ConfigureAwait(false);
        if (earlier is not null)
        {
            // The same message again: the earlier input keeps the message's outcome. If it had been quarantined
            // and now went through (its order arrived meanwhile), the earlier input takes the new outcome.
            if (earlier.Outcome == "quarantined" && outcome.Kind != IngestOutcomeKind.Quarantined)
            {
                await ledger.UpdateInputAsync(earlier.Seq, outcome.KindCode, outcome.Reason, outcome.Detail, null, outcome.EventIds, outcome.Flags, outcome.Info?.Unenriched, cancellationToken).ConfigureAwait(false);
            }

            summary.Redelivered++;
            summary.Count("duplicate", "redelivered");
            await ledger.RecordInputAsync(source, messageId, outcome.Info?.MessageType, "duplicate", "redelivered",
                "The same message was received before.", null, [], [], null, cancellationToken).ConfigureAwait(false);
            return true;
        }

        summary.EventsStored += outcome.EventsStored;
        summary.Count(outcome.KindCode, outcome.Reason);
        await ledger.RecordInputAsync(source, messageId, outcome.Info?.MessageType, outcome.KindCode, outcome.Reason, outcome.Detail,
            outcome.QuarantineLocation, outcome.EventIds, outcome.Flags, outcome.Info?.Unenriched, cancellationToken).ConfigureAwait(false);
        return false;
    }

    /// <summary>One push run (at most Push:MaxEventsPerRun events), tallied into the summary.</summary>
    public Task<PushReport> PushRoundAsync(RelaySummary summary, CancellationToken cancellationToken) => PushRoundAsync(host.Push, summary, cancellationToken);

    /// <summary>One run of <paramref name="push"/>, tallied into the summary.</summary>
    public static async Task<PushReport> PushRoundAsync(PushPipeline push, RelaySummary summary, CancellationToken cancellationToken)
    {
        var report = await push.PushAsync(cancellationToken).ConfigureAwait(false);
        Tally(summary, report);
        return report;
    }

    /// <summary>The push over another view of the store (a snapshot, turns with a writer), with the host's other parts.</summary>
    public static PushPipeline PushOver<TView>(IServiceProvider services, TView view)
        where TView : IEventStore, IConsentStore, IIdentityLinkStore =>
        new(view, services.GetRequiredService<IPushLease>(), view, services.GetRequiredService<IQuarantine>(), view,
            services.GetRequiredService<IdentityResolver>(), services.GetRequiredService<IEventsApi>(), services.GetRequiredService<BatchPacker>(),
            services.GetRequiredService<PushThrottle>(), services.GetRequiredService<ConsentRules>(), services.GetRequiredService<IOptions<PushOptions>>(),
            services.GetRequiredService<IOptions<MParticleOptions>>(), services.GetRequiredService<IOptions<RelayOptions>>(),
            services.GetRequiredService<RelayMetrics>(), services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ILogger<PushPipeline>>());

    private static void Tally(RelaySummary summary, PushReport report)
    {
        summary.Requests += report.Requests;
        summary.EventsDelivered += report.Delivered;
        summary.EventsWithdrawn += report.Withdrawn;
        summary.EventsQuarantined += report.Quarantined;
        summary.EventsResent += report.Resent;
        summary.EventsStranded = report.Stranded;
    }

    /// <summary>Pushes until the outbox is empty or a run makes no progress (throttled, failing, misconfigured input).</summary>
    public Task PushAsync(RelaySummary summary, bool drain, CancellationToken cancellationToken) =>
        PushRoundsAsync(host.Push, drain, report => Tally(summary, report), cancellationToken);

    /// <summary>
    /// Events a push point reads per push run: the push's working set (the events read back, their batches and
    /// bodies) stays small while the ingest goes on beside it (100,000 deliveries on SQLite, 3 runs each: 5,000 peaked
    /// at 242-258 MB, 2,500 at 214-216 MB and ran fastest, 1,000 at 183-187 MB with 27 % more requests). On the log
    /// store at 1,000,000 deliveries (2026-12-06, 6 and 5 runs) 1,250 peaked at 280-307 MB (median 293) against
    /// 309-345 (median 324) for 2,500, at the same rate; the same events are sent, in 9 % more requests (821 against
    /// 753 at 100,000: each run's last request is a partial one). The drain at the end reads Push:MaxEventsPerRun.
    /// </summary>
    private const int PushPointRound = 1_250;

    /// <summary>
    /// Push runs until one makes no progress. The drain reads Push:MaxEventsPerRun per run and goes on while runs
    /// progress; a push point reads <see cref="PushPointRound"/> per run and stops once a run finds fewer due.
    /// </summary>
    private static async Task PushRoundsAsync(PushPipeline push, bool drain, Action<PushReport> tally, CancellationToken cancellationToken)
    {
        for (var round = 0; round < 1_000; round++)
        {
            var report = drain
                ? await push.PushAsync(cancellationToken).ConfigureAwait(false)
                : await push.PushAsync(PushPointRound, cancellationToken).ConfigureAwait(false);
            tally(report);
            var progressed = report.Delivered + report.Withdrawn + report.Quarantined > 0;
            if (!progressed || report.PendingRead < 1 || (!drain && report.PendingRead < PushPointRound))
            {
                return;
            }
        }
    }

    /// <summary>
    /// The pushes of a run on the embedded store, each beside the ingest of the inputs after it: one at a time, on
    /// its own snapshot (<see cref="SnapshotPushStore"/>; on SQLite through its own reader connection). The writer ends one (and takes
    /// its tallies) before it commits and starts the next, so each starts from all that the one before it did.
    /// </summary>
    private sealed class BesidePush(IEmbeddedStore writer, IPushSnapshots snapshots, IServiceProvider services) : IAsyncDisposable
    {
        private Task<List<PushReport>>? running;

        /// <summary>Takes the snapshot (the writer has just committed) and starts the push on the thread pool.</summary>
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            var view = await SnapshotPushStore.BeginAsync(writer, snapshots, cancellationToken).ConfigureAwait(false);
            running = Task.Run(() => RunAsync(view, cancellationToken), cancellationToken);
            writer.ClaimOutbox(running);
        }

        /// <summary>Waits for the running push, if any, and adds what it did to the summary; its failure is thrown here.</summary>
        public async Task EndAsync(RelaySummary summary)
        {
            if (running is null)
            {
                return;
            }

            var reports = await running.ConfigureAwait(false);
            running = null;
            foreach (var report in reports)
            {
                Tally(summary, report);
            }
        }

        private async Task<List<PushReport>> RunAsync(SnapshotPushStore view, CancellationToken cancellationToken)
        {
            await using (view.ConfigureAwait(false))
            {
                var push = PushOver(services, view);
                var reports = new List<PushReport>();
                await PushRoundsAsync(push, drain: false, reports.Add, cancellationToken).ConfigureAwait(false);
                return reports;
            }
        }

        /// <summary>A run that stops early (an error, a cancellation) still waits for its push before the store closes.</summary>
        public async ValueTask DisposeAsync()
        {
            if (running is not null)
            {
                await ((Task)running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await snapshots.DisposeAsync().ConfigureAwait(false);
        }
    }
}
