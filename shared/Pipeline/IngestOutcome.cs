namespace CtMparticle.Pipeline;

internal enum IngestOutcomeKind
{
    /// <summary>At least one event was stored for push.</summary>
    Accepted,
    /// <summary>Every event was stored before (a redelivery, a second subscription, a replay).</summary>
    Duplicate,
    /// <summary>Deliberately not forwarded (with a reason): filtered messages and consent blocks.</summary>
    Filtered,
    /// <summary>Written to quarantine with a reason.</summary>
    Quarantined,
}

/// <summary>The one outcome of one input.</summary>
internal sealed record IngestOutcome(IngestOutcomeKind Kind, string? Reason, string Detail, int EventsStored = 0, string? QuarantineLocation = null)
{
    /// <summary>What the envelope said (ids only), when it could be read.</summary>
    public InputInfo? Info { get; init; }

    /// <summary>The events this input stored (or had stored before): the link from inputs to event fates.</summary>
    public IReadOnlyList<Guid> EventIds { get; init; } = [];

    /// <summary>Plan violations the policy allowed on the stored events (sent anyway, flagged): one line per error.</summary>
    public IReadOnlyList<string> Flags { get; init; } = [];

    /// <summary>
    /// The events consent refused that this input decided first (or decided before, redelivered): withheld, never sent.
    /// A refused copy of an event another message decided earlier is not among them: an event is decided once.
    /// </summary>
    public IReadOnlyList<Guid> Withheld { get; init; } = [];

    public string KindCode => Kind switch
    {
        IngestOutcomeKind.Accepted => "accepted",
        IngestOutcomeKind.Duplicate => "duplicate",
        IngestOutcomeKind.Filtered => "filtered",
        _ => "quarantined",
    };
}
