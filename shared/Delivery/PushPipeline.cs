using System.Diagnostics;
using System.Text.Json;
using CtMparticle.Configuration;
using CtMparticle.Consent;
using CtMparticle.Identity;
using CtMparticle.Storage;
using CtMparticle.Telemetry;
using CtMparticle.Tracking;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Delivery;

/// <summary>What one push run did.</summary>
/// <param name="Held">Events whose user's consent is not known yet, held for <c>Relay:ConsentWait</c> (checked again later).</param>
/// <param name="Resent">Events resent in requests that may already have reached mParticle (same bytes, same request id).</param>
internal sealed record PushReport(
    int PendingRead,
    int Requests,
    int Delivered,
    int Withdrawn,
    int Quarantined,
    int Deferred,
    TimeSpan OldestPendingAge,
    IReadOnlyDictionary<int, int> StatusCounts,
    int Held = 0,
    int Resent = 0)
{
    /// <summary>Events in persisted requests whose input is no longer configured: kept, waiting for it.</summary>
    public int Stranded { get; init; }
}

/// <summary>
/// Push: in-flight requests first, byte for byte → pending events → consent re-check → <see cref="BatchPacker"/>
/// (one user per batch, bulk requests per input) → Events API, settled by the kind of <see cref="EventsApiResult"/>.
/// A request is persisted before it is sent and its events leave the outbox only after mParticle's 2xx, so a crash
/// anywhere either resends the identical request (same bytes, same <c>source_request_id</c>) or sends nothing twice.
/// </summary>
internal sealed class PushPipeline(
    IEventStore events,
    IPushLease lease,
    IConsentStore consent,
    IQuarantine quarantine,
    IIdentityLinkStore identityLinks,
    IdentityResolver identities,
    IEventsApi api,
    BatchPacker packer,
    PushThrottle throttle,
    ConsentRules rules,
    IOptions<PushOptions> options,
    IOptions<MParticleOptions> routing,
    IOptions<RelayOptions> relay,
    RelayMetrics metrics,
    TimeProvider time,
    ILogger<PushPipeline> logger,
    IReadScopes? reads = null)
{
    /// <summary>How often an event held for consent is looked at again (a consent change releases it within this).</summary>
    public static readonly TimeSpan HoldRecheck = TimeSpan.FromMinutes(1);

    /// <summary>Links from one request's span to the ingests of its events, at most (Azure Monitor keeps 100 per span).</summary>
    public const int MaxIngestLinks = 64;

    private static readonly string RelayVersion = QuarantineRecord.RelayVersionOf(typeof(PushPipeline));

    // Named fields, so that a run (below) can reach them.
    private readonly IEventStore events = events;
    private readonly IPushLease lease = lease;
    private readonly IConsentStore consent = consent;
    private readonly IQuarantine quarantine = quarantine;
    private readonly IIdentityLinkStore identityLinks = identityLinks;
    private readonly IdentityResolver identities = identities;
    private readonly IEventsApi api = api;
    private readonly BatchPacker packer = packer;
    private readonly PushThrottle throttle = throttle;
    private readonly ConsentRules rules = rules;
    private readonly IOptions<PushOptions> options = options;
    private readonly IOptions<MParticleOptions> routing = routing;
    private readonly IOptions<RelayOptions> relay = relay;
    private readonly RelayMetrics metrics = metrics;
    private readonly TimeProvider time = time;
    private readonly ILogger<PushPipeline> logger = logger;
    private readonly IReadScopes? reads = reads;

    /// <summary>One push run, under the store's push lease; when another pusher holds it, nothing is read or sent.</summary>
    public Task<PushReport> PushAsync(CancellationToken cancellationToken) => PushAsync(options.Value.MaxEventsPerRun, cancellationToken);

    /// <summary>One push run that reads at most <paramref name="maxEvents"/> pending events (a caller's smaller round).</summary>
    public async Task<PushReport> PushAsync(int maxEvents, CancellationToken cancellationToken)
    {
        var held = await lease.TryAcquireAsync(cancellationToken).ConfigureAwait(false);
        if (held is null)
        {
            RelayLog.PushLeaseHeld(logger);
            return new PushReport(0, 0, 0, 0, 0, 0, TimeSpan.Zero, new Dictionary<int, int>());
        }

        await using (held.ConfigureAwait(false))
        {
            return await new Run(this, Math.Clamp(maxEvents, 1, options.Value.MaxEventsPerRun)).ExecuteAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One push run: its tallies and the inputs it may no longer call live here, not in the pipeline.</summary>
    private sealed class Run(PushPipeline push, int maxEvents)
    {
        private readonly Dictionary<int, int> statuses = [];
        private readonly Dictionary<string, int> sentPerInput = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> startedPerInput = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> allowances = new(StringComparer.Ordinal);
        private readonly HashSet<string> stoppedInputs = new(StringComparer.Ordinal);
        private readonly Dictionary<Guid, ActivityContext> ingestTraces = [];
        private int requests, delivered, withdrawn, quarantined, deferred, held, resent, stranded;

        // Requests awaiting mParticle's answer run their store writes and tallies one at a time, under this; only the
        // HTTP round trips overlap.
        private readonly SemaphoreSlim settling = new(1, 1);

        public async Task<PushReport> ExecuteAsync(CancellationToken cancellationToken)
        {
            var now = push.time.GetUtcNow();

            // 1. Requests a previous run persisted but did not finish go first, byte for byte.
            var inFlight = await push.events.ReadInFlightAsync(cancellationToken).ConfigureAwait(false);
            var busy = new HashSet<Guid>(inFlight.SelectMany(r => r.Events).Select(k => k.EventId));
            // Every one of them may have reached mParticle (the process died during the send, or no answer came), so it
            // goes again identically, whatever consent says now: a regrouped copy would be a second delivery.
            foreach (var request in inFlight.OrderBy(r => r.CreatedAt))
            {
                if (OutgoingRequest.TryFromInFlight(request) is not { } outgoing)
                {
                    // Its bytes cannot be rebuilt, so it cannot go again identically, and it may have arrived: its events
                    // are parked with the body for a person to decide, never regrouped automatically.
                    var keys = request.Events.ToArray();
                    if (keys.Length > 0)
                    {
                        await QuarantineAsync(keys, Reason.InFlightDamaged,
                            $"The persisted request {request.RequestId} could not be read back (its batches do not match its body); it may have reached mParticle, " +
                            "so its events are not resent: replaying this record sends them again under a new request id.",
                            [], request.Body, cancellationToken).ConfigureAwait(false);
                    }

                    await push.events.DeleteInFlightAsync(request.RequestId, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                RelayLog.Resending(push.logger, request.RequestId, request.InputName);
                resent += request.Events.Count();
                await ResendAsync(outgoing, cancellationToken).ConfigureAwait(false);
            }

            // 2. New work: pending events not already in a request, up to the run's size. An unanswered request's events
            //    are still pending: read past them, so they take no new work's place (a caller that pushes until a run
            //    reads fewer than its size would otherwise stop while new work waits).
            var pending = (await push.events.ReadPendingAsync(maxEvents + busy.Count, cancellationToken).ConfigureAwait(false))
                .Where(p => !busy.Contains(p.EventId))
                .Take(maxEvents)
                .ToArray();
            var oldest = pending.Length == 0 ? TimeSpan.Zero : now - pending.Min(p => p.EnqueuedAt);
            push.metrics.Outbox(pending.Length, oldest);

            // Consent and identities from one read of each user's state where the store keeps it together (on Azure a
            // customer's consent beside their links), kept for these two steps.
            List<(PendingEventKey Key, TrackingEvent Event)> sendable;
            using (push.reads?.Begin())
            {
                var allowed = await CheckConsentAsync(pending, cancellationToken).ConfigureAwait(false);
                sendable = await ResolveIdentitiesAsync(allowed, cancellationToken).ConfigureAwait(false);
            }

            foreach (var (key, trackingEvent) in sendable)
            {
                if (trackingEvent.Context.Trace is { } trace && ActivityContext.TryParse(trace, null, out var context))
                {
                    ingestTraces[key.EventId] = context;
                }
            }

            var (batches, unsendable) = push.packer.BuildBatches(sendable);
            foreach (var group in unsendable)
            {
                await QuarantineAsync(group.Events, group.Reason, group.Detail, [],
                    JsonSerializer.SerializeToUtf8Bytes(group.Tracking.ToList(), RelayJsonContext.Default.ListTrackingEvent), cancellationToken).ConfigureAwait(false);
            }

            // 3. Per input, in order of the oldest event, several requests awaiting their answers at once; an input that
            //    must not be called again defers the rest.
            foreach (var input in batches.GroupBy(b => b.InputName, StringComparer.Ordinal))
            {
                deferred += await SendAllAsync(push.packer.PackRequests(input.Key, input.ToArray()), cancellationToken).ConfigureAwait(false);
            }

            foreach (var input in sentPerInput.Keys)
            {
                push.throttle.RunCompleted(input);
            }

            var report = new PushReport(pending.Length, requests, delivered, withdrawn, quarantined, deferred, oldest, statuses, held, resent) { Stranded = stranded };
            RelayLog.PushSummary(push.logger, report.PendingRead, report.Requests, report.Delivered, report.Withdrawn, report.Quarantined, report.Deferred, oldest.TotalSeconds);
            return report;
        }

        /// <summary>
        /// Re-checks consent with the newest stored state: allowed events go on; refused ones are withdrawn; ones whose
        /// consent is still unknown are held until <c>Relay:ConsentWait</c> has passed since they were stored, then withdrawn.
        /// </summary>
        private async Task<List<(PendingEventKey Key, TrackingEvent Event, ConsentDecision Consent)>> CheckConsentAsync(IReadOnlyList<PendingEvent> pending, CancellationToken cancellationToken)
        {
            var now = push.time.GetUtcNow();
            var states = new Dictionary<string, UserConsent?>(StringComparer.Ordinal);
            var sendable = new List<(PendingEventKey, TrackingEvent, ConsentDecision)>(pending.Count);
            var withdraw = new List<PendingEventKey>();
            var hold = new List<PendingEventKey>();
            DateTimeOffset? holdUntil = null;
            foreach (var item in pending)
            {
                TrackingEvent? trackingEvent;
                try
                {
                    trackingEvent = item.Event ?? JsonSerializer.Deserialize(item.Json, RelayJsonContext.Default.TrackingEvent);
                }
                catch (JsonException ex)
                {
                    await QuarantineAsync([item.Key], Reason.StoredEventUnreadable, $"The stored event could not be read back: {ex.Message}", [], item.Json, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (trackingEvent is null)
                {
                    await QuarantineAsync([item.Key], Reason.StoredEventUnreadable, "The stored event is empty.", [], item.Json, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                // A storefront purchase waits for commercetools' message of the same order (its amounts win; the two
                // become one event when it arrives), up to Relay:StorefrontPurchaseWait, then goes as reported.
                var purchaseWaitEnds = item.EnqueuedAt + push.relay.Value.StorefrontPurchaseWait;
                if (trackingEvent is OrderCompleted { Origin: OrderOrigin.Storefront } && EventKeys.IsPurchase(trackingEvent.Context.DedupeKey) && now < purchaseWaitEnds)
                {
                    hold.Add(item.Key);
                    holdUntil = holdUntil is { } soonest && soonest < purchaseWaitEnds ? soonest : purchaseWaitEnds;
                    continue;
                }

                var userKey = UserKeys.Of(trackingEvent.Context.User);
                UserConsent? state = null;
                if (userKey is not null && !states.TryGetValue(userKey, out state))
                {
                    state = await push.consent.GetAsync(userKey, cancellationToken).ConfigureAwait(false);
                    states[userKey] = state;
                }

                var decision = ConsentGate.Decide(trackingEvent, state, push.rules, push.routing.Value);
                var waitEnds = item.EnqueuedAt + push.relay.Value.ConsentWait;
                if (decision.Verdict == ConsentVerdict.Unknown && now < waitEnds)
                {
                    var recheck = now + PushPipeline.HoldRecheck < waitEnds ? now + PushPipeline.HoldRecheck : waitEnds;
                    hold.Add(item.Key);
                    holdUntil = holdUntil is { } earliest && earliest < recheck ? earliest : recheck;
                    continue;
                }

                if (!decision.Allowed)
                {
                    withdraw.Add(item.Key);
                    RelayLog.Withdrawn(push.logger, trackingEvent.Context.EventId, trackingEvent.Name, decision.Detail);
                    continue;
                }

                // Send the newest consent known, not the one at ingest.
                sendable.Add((item.Key, trackingEvent with { Context = trackingEvent.Context with { Consent = decision.Consent } }, decision));
            }

            if (withdraw.Count > 0)
            {
                await push.events.RemovePendingAsync(withdraw, EventFate.Withdrawn, cancellationToken).ConfigureAwait(false);
                withdrawn += withdraw.Count;
                push.metrics.Events("withdrawn", withdraw.Count, Reason.ConsentWithdrawn.Code());
            }

            if (holdUntil is { } until)
            {
                await push.events.HoldPendingAsync(hold, until, cancellationToken).ConfigureAwait(false);
                held += hold.Count;
                push.metrics.Events("held", hold.Count, Reason.ConsentNotGiven.Code());
                RelayLog.Held(push.logger, hold.Count, until);
            }

            return sendable;
        }

        /// <summary>
        /// Identity resolution (<see cref="IdentityResolver"/>): each event gets the identities the rules allow beside
        /// its customer, from the links of its identifiers (read once per run), and the decision is kept for
        /// <c>ctmp identity explain</c> before any batch of it is built.
        /// </summary>
        private async Task<List<(PendingEventKey Key, TrackingEvent Event)>> ResolveIdentitiesAsync(
            List<(PendingEventKey Key, TrackingEvent Event, ConsentDecision Consent)> allowed, CancellationToken cancellationToken)
        {
            // Each customer's own links first (one read per customer holds every identifier's link to them), then every
            // link of the identifiers whose link to the event's customer does not decide alone, and of anonymous
            // events' identifiers (one read per identifier): the same decisions as reading every identifier's links.
            var customers = allowed.Select(a => UserKeys.CustomerIdOf(a.Event.Context.User)).OfType<string>().Distinct(StringComparer.Ordinal).ToArray();
            var own = customers.Length == 0 ? new Dictionary<string, IReadOnlyList<IdentityLink>>() : await push.identityLinks.ByCustomersAsync(customers, cancellationToken).ConfigureAwait(false);
            IReadOnlyList<IdentityLink> OwnOf(UserIds user) => UserKeys.CustomerIdOf(user) is { } customer ? own.GetValueOrDefault(customer, []) : [];
            var wanted = allowed.SelectMany(a => IdentityResolver.NeedingEveryLink(a.Event.Context.User, OwnOf(a.Event.Context.User))).Distinct().ToArray();
            var links = await push.identityLinks.ByIdentifiersAsync(wanted, cancellationToken).ConfigureAwait(false);

            IReadOnlyList<IdentityLink> LinksOf(string type, string value) => links.GetValueOrDefault((type, value), []);
            IReadOnlyList<IdentityLink>? EveryLinkOf(string type, string value) => links.GetValueOrDefault((type, value));

            // An anonymous event joins a customer only where the customer's own stored consent does not refuse it: the
            // browser's choice speaks for the browser, the customer's for the profile the event would land in.
            // Keyed by customer and the event's region (the gate's first source of where the user is).
            var refusals = new Dictionary<(string Customer, string? Region), string?>();
            var customerStates = new Dictionary<string, UserConsent?>(StringComparer.Ordinal);
            var candidates = new IdentityLink?[allowed.Count];
            for (var i = 0; i < allowed.Count; i++)
            {
                var (_, trackingEvent, consent) = allowed[i];
                var region = trackingEvent.Context.Region?.Code;
                candidates[i] = push.identities.Candidate(trackingEvent.Context.User, trackingEvent.Context.OccurredAt, consent, LinksOf);
                if (candidates[i]?.CustomerId is not { } candidate || refusals.ContainsKey((candidate, region)))
                {
                    continue;
                }

                if (!customerStates.TryGetValue(candidate, out var state))
                {
                    customerStates[candidate] = state = await push.consent.GetAsync(UserKeys.Customer(candidate), cancellationToken).ConfigureAwait(false);
                }

                var asCustomer = trackingEvent with { Context = trackingEvent.Context with { User = new UserIds(candidate), Consent = null } };
                var decision = ConsentGate.Decide(asCustomer, state, push.rules, push.routing.Value);
                // Refused, not merely unknown: a customer who never stated a choice is the person whose browser consented.
                refusals[(candidate, region)] = decision.Verdict == ConsentVerdict.Refuse ? $"the customer's own consent refuses it ({decision.Detail})" : null;
            }

            var now = push.time.GetUtcNow();
            var version = push.identities.Rules.Version;
            var resolved = new List<(PendingEventKey, TrackingEvent)>(allowed.Count);
            var decisions = new List<IdentityDecision>(allowed.Count);
            var (joined, withheld) = (0, 0);
            for (var i = 0; i < allowed.Count; i++)
            {
                var (key, trackingEvent, consent) = allowed[i];
                var context = trackingEvent.Context;
                var identity = push.identities.Resolve(context.User, consent, IdentityResolver.LinksFor(context.User, OwnOf(context.User), EveryLinkOf), candidates[i],
                    customer => refusals.GetValueOrDefault((customer, context.Region?.Code)));
                decisions.Add(new IdentityDecision(context.EventId, trackingEvent.Name, now, version, consent.Regime, identity.Choices));
                if (identity.JoinedBy is { } by)
                {
                    joined++;
                    RelayLog.IdentityAttached(push.logger, context.EventId, identity.User.CustomerId!, by, version);
                }

                foreach (var choice in identity.Choices.Where(c => !c.Sent))
                {
                    withheld++;
                    RelayLog.IdentityWithheld(push.logger, context.EventId, choice.Type, choice.Rule, version);
                    push.metrics.Events("identity_withheld", 1, choice.Type);
                }

                resolved.Add((key, ReferenceEquals(identity.User, context.User) ? trackingEvent : trackingEvent with { Context = context with { User = identity.User } }));
            }

            if (decisions.Count > 0)
            {
                await push.identityLinks.SaveDecisionsAsync(decisions, cancellationToken).ConfigureAwait(false);
            }

            if (joined + withheld > 0)
            {
                push.metrics.Events("identity_joined", joined);
                RelayLog.IdentityApplied(push.logger, joined, withheld, version);
            }

            return resolved;
        }

        /// <summary>
        /// Sends one input's requests, up to <c>Push:MaxRequestsInFlight</c> awaiting an answer at once, each as early as
        /// its order allows: a request waits while an unanswered or earlier waiting one carries any of its users (so a
        /// user's batches reach mParticle in their order), and requests of other users go past it. Once the input is
        /// stopped (a 429, a 5xx, no answer) the rest return at once, unsent. Every request started is settled before
        /// this returns, even when one fails. Returns how many events were deferred to a later run.
        /// </summary>
        private async Task<int> SendAllAsync(IReadOnlyList<OutgoingRequest> requests, CancellationToken cancellationToken)
        {
            var limit = push.options.Value.MaxRequestsInFlight;
            // Batches read back from the store name no user (null): such a request goes alone, and nothing overtakes it.
            var waiting = requests
                .Select(r => (Request: r, Users: r.Batches.All(b => b.User is not null) ? r.Batches.Select(b => b.User!).ToHashSet(StringComparer.Ordinal) : null))
                .ToList();
            var inFlight = new List<(OutgoingRequest Request, HashSet<string>? Users, Task<bool> Sent)>(limit);
            var deferredEvents = 0;
            Exception? failure = null;

            // Takes the answered requests out of the window, counting the events of those that were not sent.
            void Collect()
            {
                foreach (var done in inFlight.Where(f => f.Sent.IsCompleted).ToArray())
                {
                    inFlight.Remove(done);
                    if (done.Sent.IsCompletedSuccessfully)
                    {
                        deferredEvents += done.Sent.Result ? 0 : done.Request.Events.Count;
                    }
                    else
                    {
                        failure ??= done.Sent.Exception?.InnerException ?? new OperationCanceledException(cancellationToken);
                    }
                }
            }

            try
            {
                var starting = new List<(OutgoingRequest Request, HashSet<string>? Users, InputRoute Route)>(limit);
                while (waiting.Count > 0 && failure is null)
                {
                    var blocked = inFlight.Where(f => f.Users is not null).SelectMany(f => f.Users!).ToHashSet(StringComparer.Ordinal);
                    var alone = inFlight.Any(f => f.Users is null);
                    starting.Clear();
                    await settling.WaitAsync(cancellationToken).ConfigureAwait(false);
                    try
                    {
                        for (var i = 0; i < waiting.Count && inFlight.Count + starting.Count < limit && !alone;)
                        {
                            var (request, users) = waiting[i];
                            if (users is null ? i == 0 && inFlight.Count + starting.Count == 0 : !users.Overlaps(blocked))
                            {
                                waiting.RemoveAt(i);
                                if (Admit(request) is { } route)
                                {
                                    starting.Add((request, users, route));
                                }
                                else
                                {
                                    deferredEvents += request.Events.Count;
                                }

                                alone = users is null;
                                blocked.UnionWith(users ?? []);
                                continue;
                            }

                            // It waits; a later request of its users must not overtake it.
                            if (users is null)
                            {
                                break;
                            }

                            blocked.UnionWith(users);
                            i++;
                        }

                        // Every request starting now is durably in flight before the first of them is POSTed, in one
                        // save: one commit (one fsync) for them all, where a save per request held the push up for 2.2 s
                        // of a 10 s run of 100,000 deliveries (docs/performance.md, "a twenty-first session").
                        if (starting.Count > 0)
                        {
                            var now = push.time.GetUtcNow();
                            await push.events.SaveInFlightAsync(starting.Select(s => s.Request.ToInFlight(now)).ToList(), cancellationToken).ConfigureAwait(false);
                        }
                    }
                    catch (Exception ex)
                    {
                        // Nothing of them was sent: they fail as one request whose save failed did.
                        failure ??= ex;
                        break;
                    }
                    finally
                    {
                        settling.Release();
                    }

                    foreach (var (request, users, route) in starting)
                    {
                        inFlight.Add((request, users, PostAsync(request, route, persisted: false, cancellationToken)));
                    }

                    if (inFlight.Count > 0)
                    {
                        await Task.WhenAny(inFlight.Select(f => f.Sent)).ConfigureAwait(false);
                    }

                    Collect();
                }

                deferredEvents += waiting.Sum(w => w.Request.Events.Count);
            }
            finally
            {
                // No request outlives the run: its writes belong to this run (and to its lease).
                await Task.WhenAll(inFlight.Select(f => (Task)f.Sent)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                Collect();
            }

            if (failure is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
            }

            return deferredEvents;
        }

        /// <summary>
        /// Sends again a request that is in flight already (a previous run's, or a part of a split one), identically, and
        /// settles it by the answer. False when the input must not be called again in this run. New requests go through
        /// <see cref="SendAllAsync"/>, which saves those a window starts together.
        /// </summary>
        private async Task<bool> ResendAsync(OutgoingRequest request, CancellationToken cancellationToken)
        {
            InputRoute? route;
            await settling.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                route = Admit(request);
            }
            finally
            {
                settling.Release();
            }

            return route is not null && await PostAsync(request, route, persisted: true, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// Whether the request may go now (under <see cref="settling"/>): its input's route, counted as started, or null
        /// when this run must not call the input (again), or the input is no longer configured.
        /// </summary>
        private InputRoute? Admit(OutgoingRequest request)
        {
            var input = request.InputName;
            if (!MayCall(input))
            {
                return null;
            }

            if (push.packer.RouteOf(input) is not { } configured)
            {
                // A request persisted for an input since removed from the settings: kept (it may have reached
                // mParticle), counted and logged on every run, so it never hides; restoring the input sends it.
                stranded += request.Events.Count;
                push.metrics.Events("stranded", request.Events.Count);
                RelayLog.InputMisconfigured(push.logger, input, "the input is no longer configured (MParticle:Inputs); its persisted requests wait for it");
                Stop(input);
                return null;
            }

            startedPerInput[input] = startedPerInput.GetValueOrDefault(input) + 1;
            return configured;
        }

        /// <summary>POSTs a request admitted and durably in flight, and settles it by the answer. False when the input must not be called again in this run.</summary>
        private async Task<bool> PostAsync(OutgoingRequest request, InputRoute route, bool persisted, CancellationToken cancellationToken)
        {
            var input = request.InputName;

            // The request's span links to the ingests that stored its events, so a delivery is followed from its trigger
            // to this request (a resent request's events were not read in this run: it has no links).
            using var span = RelayTracing.Source.StartActivity("ctmp.push.request", ActivityKind.Client, parentContext: default, links: IngestLinks(request));
            span?.SetTag("ctmp.request_id", request.RequestId);
            span?.SetTag("ctmp.input", input);
            span?.SetTag("ctmp.batches", request.Batches.Count);
            span?.SetTag("ctmp.resend", persisted);
            var started = push.time.GetTimestamp();
            var result = await push.api.SendBulkAsync(route, request.Body, cancellationToken).ConfigureAwait(false);
            span?.SetTag("http.response.status_code", result.Status);
            IReadOnlyList<OutgoingRequest> parts;
            await settling.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (result is not Rejected rejected)
                {
                    return await SettleAsync(request, persisted, result, started, cancellationToken).ConfigureAwait(false);
                }

                Count(request, result, push.time.GetElapsedTime(started));
                if (request.Batches.Count == 1)
                {
                    var batch = request.Batches[0];
                    await QuarantineAsync(batch.Events, Reason.MParticleRejected,
                        $"mParticle answered {rejected.Status} for this batch; it is not retried unchanged.",
                        [rejected.Body ?? $"HTTP {rejected.Status} without a body"], batch.Json, cancellationToken).ConfigureAwait(false);
                    await push.events.DeleteInFlightAsync(request.RequestId, cancellationToken).ConfigureAwait(false);
                    return true;
                }

                parts = await SplitAsync(request, rejected, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                settling.Release();
            }

            // A 4xx for the payload with several batches: the halves go one after the other, to find the bad one.
            foreach (var part in parts)
            {
                if (!await ResendAsync(part, cancellationToken).ConfigureAwait(false))
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>Settles a request by an answer other than a 4xx for its payload. False when the input must not be called again in this run.</summary>
        private async Task<bool> SettleAsync(OutgoingRequest request, bool persisted, EventsApiResult result, long started, CancellationToken cancellationToken)
        {
            var input = request.InputName;
            if (result is NotConfigured notConfigured)
            {
                // Nothing was sent: the request is dropped (its events stay pending) until a person fixes the settings.
                await push.events.DeleteInFlightAsync(request.RequestId, cancellationToken).ConfigureAwait(false);
                RelayLog.InputMisconfigured(push.logger, input, notConfigured.Problem);
                push.throttle.Pause(input);
                return Stop(input);
            }

            Count(request, result, push.time.GetElapsedTime(started));
            switch (result)
            {
                case Accepted accepted:
                    var sent = request.Events;
                    await push.events.RemovePendingAsync(sent, EventFate.Delivered, cancellationToken).ConfigureAwait(false);
                    await push.events.DeleteInFlightAsync(request.RequestId, cancellationToken).ConfigureAwait(false);
                    delivered += sent.Count;
                    push.metrics.Events("delivered", sent.Count);
                    push.throttle.Succeeded(input, accepted.PercentageUsed);
                    return true;

                case Unauthorized unauthorized:
                    await SettleRefusedAsync(request, persisted, cancellationToken).ConfigureAwait(false);
                    RelayLog.AuthFailed(push.logger, input, unauthorized.Status);
                    push.throttle.Pause(input);
                    return Stop(input);

                case Throttled throttled:
                    await SettleRefusedAsync(request, persisted, cancellationToken).ConfigureAwait(false);
                    var wait = push.throttle.RateLimited(input, throttled.RetryAfter, throttled.RateLimitExceeded);
                    RelayLog.RateLimited(push.logger, input, throttled.RateLimitExceeded, wait.TotalSeconds);
                    return Stop(input);

                case Failed:
                    await SettleRefusedAsync(request, persisted, cancellationToken).ConfigureAwait(false);
                    RelayLog.Transient(push.logger, input, result.Status, null, push.throttle.Failed(input).TotalSeconds);
                    return Stop(input);

                default:
                    // No answer (timeout, reset): mParticle may have accepted it, so it stays in flight and is resent identically.
                    var backoff = push.throttle.Failed(input);
                    RelayLog.Transient(push.logger, input, result.Status, result is NoAnswer noAnswer ? $", {noAnswer.Error}" : null, backoff.TotalSeconds);
                    return Stop(input);
            }
        }

        private List<ActivityLink>? IngestLinks(OutgoingRequest request)
        {
            List<ActivityLink>? links = null;
            var seen = new HashSet<ActivityTraceId>();
            foreach (var key in request.Events)
            {
                if (ingestTraces.TryGetValue(key.EventId, out var context) && seen.Add(context.TraceId))
                {
                    (links ??= []).Add(new ActivityLink(context));
                    if (links.Count == MaxIngestLinks)
                    {
                        break;
                    }
                }
            }

            return links;
        }

        /// <summary>
        /// mParticle answered and did not accept (429, 5xx, 401/403). A request sent for the first time is dropped: its
        /// events stay pending and are checked for consent and regrouped before the next send. A resent request may
        /// have been accepted by an earlier attempt that got no answer, so it stays in flight, to go again identically.
        /// </summary>
        private async Task SettleRefusedAsync(OutgoingRequest request, bool persisted, CancellationToken cancellationToken)
        {
            if (!persisted)
            {
                await push.events.DeleteInFlightAsync(request.RequestId, cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>Whether this run may call the input again (its throttle and this run's allowance).</summary>
        private bool MayCall(string input)
        {
            if (!allowances.TryGetValue(input, out var allowance))
            {
                // Read once per run: successes during the run do not raise it.
                allowances[input] = allowance = push.throttle.Allowance(input);
            }

            return !stoppedInputs.Contains(input) && push.throttle.MayCall(input) && startedPerInput.GetValueOrDefault(input) < allowance
                || Stop(input);
        }

        private bool Stop(string input)
        {
            stoppedInputs.Add(input);
            return false;
        }

        private void Count(OutgoingRequest request, EventsApiResult result, TimeSpan latency)
        {
            requests++;
            sentPerInput[request.InputName] = sentPerInput.GetValueOrDefault(request.InputName) + 1;
            statuses[result.Status] = statuses.GetValueOrDefault(result.Status) + 1;
            push.metrics.Request(request.InputName, result.Status, latency);
            RelayLog.Sent(push.logger, request.RequestId, request.InputName, request.Batches.Count, request.Body.Length, result.Status, latency.TotalMilliseconds);
        }

        /// <summary>
        /// A 4xx for the payload: never retried unchanged. A request of several batches is split in halves, each persisted
        /// in flight before the original is dropped, to be sent in turn until the bad batch stands alone (then quarantined
        /// with mParticle's answer) and the rest goes on.
        /// </summary>
        private async Task<IReadOnlyList<OutgoingRequest>> SplitAsync(OutgoingRequest request, Rejected rejected, CancellationToken cancellationToken)
        {
            RelayLog.Splitting(push.logger, request.InputName, request.RequestId, rejected.Status, request.Batches.Count);
            var half = request.Batches.Count / 2;
            var parts = new[] { OutgoingRequest.Of(request.InputName, request.Batches.Take(half).ToArray()), OutgoingRequest.Of(request.InputName, request.Batches.Skip(half).ToArray()) };
            foreach (var part in parts)
            {
                await push.events.SaveInFlightAsync(part.ToInFlight(push.time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
            }

            await push.events.DeleteInFlightAsync(request.RequestId, cancellationToken).ConfigureAwait(false);
            return parts;
        }

        private async Task QuarantineAsync(
            IReadOnlyCollection<PendingEventKey> keys, Reason reason, string detail, IReadOnlyList<string> errors, byte[] payload, CancellationToken cancellationToken)
        {
            var first = keys.First();
            var record = new QuarantineRecord(
                [reason.Code()],
                $"{detail} Events: {string.Join(", ", keys.Select(k => k.EventId))}.",
                errors,
                new QuarantineSource(first.EventId.ToString("D"), "push", null, null, null, null, first.EnqueuedAt, push.time.GetUtcNow(), "EventsApiBatch"),
                Convert.ToBase64String(payload),
                RelayVersion,
                "push")
            {
                EventIds = keys.Select(k => k.EventId).ToArray(),
                TraceId = QuarantineRecord.CurrentTraceId(),
            };
            var location = await push.quarantine.WriteAsync(record, cancellationToken).ConfigureAwait(false);
            await push.events.RemovePendingAsync(keys, EventFate.Quarantined, cancellationToken).ConfigureAwait(false);
            quarantined += keys.Count;
            push.metrics.Events("quarantined", keys.Count, reason.Code());
            RelayLog.Quarantined(push.logger, "push", first.EventId.ToString("D"), null, null, "push", reason.Code(), location);
        }
    }
}
