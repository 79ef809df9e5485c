namespace CtMparticle.Pipeline;

/// <summary>What a source carries between its own decode, resolve and map stages.</summary>
internal abstract record SourceItem;

/// <summary>
/// A source of inputs (commercetools messages; the storefront collector next). A source owns the first three stages,
/// which need its knowledge of the wire format; consent, governance and storage are shared by every source.
/// Nothing here throws for bad input: it halts with a reason. Only transient infrastructure failures throw.
/// </summary>
internal interface ISource
{
    /// <summary>Decode: bytes to a typed item, or a halt (filtered, or rejected to quarantine). Pure.</summary>
    Flow<SourceItem> Decode(Inbound inbound);

    /// <summary>Resolve: fetch what the item left out, and look up the stored context it needs.</summary>
    Task<Flow<SourceItem>> ResolveAsync(Flow<SourceItem> decoded, CancellationToken cancellationToken);

    /// <summary>Map: the resolved item to the tracking plan's canonical events. Pure.</summary>
    Flow<MappedEvents> Map(Flow<SourceItem> resolved);
}
