using CtMparticle.Tracking;

namespace CtMparticle.Pipeline;

/// <summary>Why an input's path ended before it reached the store.</summary>
internal abstract record Halt(Reason Reason, string Detail);

/// <summary>Deliberately not forwarded: counted and logged, nothing kept.</summary>
internal sealed record Filter(Reason Reason, string Detail) : Halt(Reason, Detail)
{
    /// <summary>An <c>alias</c> call's statement that its identifiers are one person: recorded as identity links, never sent.</summary>
    public EventContext? Aliases { get; init; }

    /// <summary>What the input, though it sends nothing, changes for its order's later follow-ups: stored as a sent one's would be.</summary>
    public OrderContext? OrderContext { get; init; }
}

/// <summary>Unusable as it is: quarantined at <paramref name="Stage"/> with the original bytes, for a person to act on.</summary>
/// <param name="Stage">Where it was refused (<c>decode</c>, <c>fetch</c>, <c>map</c>, <c>govern</c>); part of the quarantine record's name.</param>
internal sealed record Reject(string Stage, Reason Reason, string Detail, IReadOnlyList<string> Errors) : Halt(Reason, Detail)
{
    public Reject(string stage, Reason reason, string detail)
        : this(stage, reason, detail, [])
    {
    }
}

/// <summary>
/// What one ingest stage hands the next: its result, or the halt that ends the input's path here. A halted flow
/// passes through every later stage untouched, so <see cref="IngestPipeline.IngestAsync(Inbound, CancellationToken)"/> reads top to bottom.
/// </summary>
internal sealed record Flow<T>(InputInfo Info, T? Value, Halt? Halt)
    where T : class
{
    public static Flow<T> Go(InputInfo info, T value) => new(info, value, null);

    public static Flow<T> Stop(InputInfo info, Halt halt) => new(info, null, halt);

    /// <summary>This flow's halt, carried on as a flow of the next stage's type.</summary>
    public Flow<TNext> Halted<TNext>()
        where TNext : class => new(Info, null, Halt ?? throw new InvalidOperationException("The flow did not halt."));
}

/// <summary>What the map stage produces: the canonical events, and the order context later messages of the order need.</summary>
internal sealed record MappedEvents(IReadOnlyList<TrackingEvent> Events, OrderContext? OrderContext = null);
