using CtMparticle.Governance;
using CtMparticle.Storage;
using CtMparticle.Telemetry;
using CtMparticle.Tracking;

namespace CtMparticle.Pipeline;

/// <summary>
/// An input after the stages that read nothing the relay stores (decode → resolve → map, and each event's check
/// against the plan), ready for the ones that do. A failure of the relay itself on it is carried, to be settled as
/// <c>internal_error</c> with the stage it happened in.
/// </summary>
internal sealed record PreparedInput(
    Inbound Inbound,
    DateTimeOffset ReceivedAt,
    Flow<MappedEvents>? Mapped,
    IReadOnlyDictionary<TrackingEvent, GovernanceDecision> Checked,
    InputInfo? Info,
    string Stage,
    Exception? Failure)
{
    /// <summary>
    /// What preparing it counted (placeholder identities dropped, products enriched), counted when it is settled: an
    /// input prepared but never settled (the host answered 503, the runner prepared it again) counts nothing.
    /// </summary>
    public IReadOnlyList<HeldCount> Counted { get; init; } = [];
}

/// <summary>
/// Ingest, for any source: decode → resolve → map (the source's) → identity (placeholders dropped) → gate (consent)
/// → govern (the plan) → store → link (identity links the stored events show).
/// Bad input never throws: it ends filtered or quarantined with a reason, and so does a failure of the relay itself
/// on one input (<c>internal_error</c>, with the original bytes), so one input never holds up the ones behind it.
/// Only transient infrastructure failures throw, so the transport redelivers; every stage is idempotent, so a
/// redelivery after a crash at any point stores each event exactly once.
/// </summary>
/// <remarks>
/// <see cref="PrepareAsync"/> touches no stored state, so a host with a single store writer (the embedded store)
/// runs it for many inputs at once and only <see cref="SettleAsync"/> (consent, dedupe, outbox, quarantine) one
/// writer at a time; <see cref="IngestAsync(Inbound, CancellationToken)"/> is both in a row.
/// </remarks>
internal sealed class IngestPipeline(
    ISource source, ConsentStage gate, GovernStage governor, StoreStage store, TimeProvider time, IdentityStage? identities = null, LinkStage? links = null,
    RelayMetrics? metrics = null)
{
    public Task<IngestOutcome> IngestAsync(Inbound inbound, CancellationToken cancellationToken) =>
        TracedAsync(async () => await SettleAsync(await PrepareAsync(inbound, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false));

    /// <summary>Settles an input prepared ahead, on another thread (the runner's prepare-ahead); its span covers the settling.</summary>
    public Task<IngestOutcome> IngestAsync(PreparedInput prepared, CancellationToken cancellationToken) =>
        TracedAsync(() => SettleAsync(prepared, cancellationToken));

    private static async Task<IngestOutcome> TracedAsync(Func<Task<IngestOutcome>> ingest)
    {
        using var span = RelayTracing.Source.StartActivity("ctmp.ingest", System.Diagnostics.ActivityKind.Consumer);
        var outcome = await ingest().ConfigureAwait(false);
        span?.SetTag("ctmp.outcome", outcome.Kind.ToString().ToLowerInvariant());
        span?.SetTag("ctmp.reason", outcome.Reason);
        span?.SetTag("messaging.message.id", outcome.Info?.MessageId);
        return outcome;
    }

    /// <summary>Decode, resolve and map the input, drop placeholder identities, and check its events against the plan; reads and writes nothing stored.</summary>
    public async Task<PreparedInput> PrepareAsync(Inbound inbound, CancellationToken cancellationToken)
    {
        var receivedAt = time.GetUtcNow();
        var stage = "decode";
        InputInfo? info = null;
        using var counted = metrics?.Hold();
        try
        {
            var decoded = source.Decode(inbound);
            info = decoded.Info;
            stage = "resolve";
            var resolved = await source.ResolveAsync(decoded, cancellationToken).ConfigureAwait(false);
            stage = "map";
            var mapped = source.Map(resolved);
            stage = "identity";
            mapped = identities?.Apply(mapped) ?? mapped;
            stage = "govern";
            var checkedEvents = governor.Check(mapped);
            return new PreparedInput(inbound, receivedAt, mapped, checkedEvents, mapped.Info, "gate", null) { Counted = counted?.Take() ?? [] };
        }
        catch (Exception ex) when (!Faults.IsTransient(ex, cancellationToken))
        {
            return new PreparedInput(inbound, receivedAt, null, GovernStage.NothingChecked, info, stage, ex) { Counted = counted?.Take() ?? [] };
        }
    }

    /// <summary>
    /// Consent, the plan's policy and the store: the input's one durable outcome; then what preparing it counted. May
    /// run again for the same input (settled again after a write-behind flush, whose host drops the first counts).
    /// </summary>
    public async Task<IngestOutcome> SettleAsync(PreparedInput prepared, CancellationToken cancellationToken)
    {
        var outcome = await SettledAsync(prepared, cancellationToken).ConfigureAwait(false);
        foreach (var count in prepared.Counted)
        {
            metrics?.Count(count);
        }

        return outcome;
    }

    private async Task<IngestOutcome> SettledAsync(PreparedInput prepared, CancellationToken cancellationToken)
    {
        var stage = prepared.Stage;
        try
        {
            if (prepared.Failure is { } failure)
            {
                return await store.FailedAsync(prepared.Inbound, prepared.Info, stage, failure, prepared.ReceivedAt, cancellationToken).ConfigureAwait(false);
            }

            var gated = await gate.ApplyAsync(prepared.Mapped!, cancellationToken).ConfigureAwait(false);
            stage = "govern";
            var governed = governor.Apply(gated, prepared.Checked);
            stage = "store";
            var outcome = await store.SettleAsync(prepared.Inbound, governed, prepared.ReceivedAt, cancellationToken).ConfigureAwait(false);
            if (links is not null && outcome.Withheld.Count > 0)
            {
                stage = "link";
                await links.RecordWithheldAsync(governed, outcome.Withheld, cancellationToken).ConfigureAwait(false);
            }

            // A duplicate still shows its identifiers (the storefront's copy of a purchase commercetools reported first
            // carries the browser's anonymous id); recording a link is idempotent.
            if (links is not null && (outcome.Kind is IngestOutcomeKind.Accepted or IngestOutcomeKind.Duplicate
                    || governed.Halt is Filter { Reason: Reason.CustomerDeletion } or Filter { Aliases: not null }))
            {
                stage = "link";
                await links.RecordAsync(governed, cancellationToken).ConfigureAwait(false);
            }

            return outcome;
        }
        catch (Exception ex) when (!Faults.IsTransient(ex, cancellationToken))
        {
            return await store.FailedAsync(prepared.Inbound, prepared.Info, stage, ex, prepared.ReceivedAt, cancellationToken).ConfigureAwait(false);
        }
    }
}
