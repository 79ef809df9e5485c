namespace CtMparticle.Storage;

/// <summary>Where unusable input goes, with its reason and the original bytes.</summary>
internal interface IQuarantine
{
    /// <summary>Writes the record (idempotently: the same input gives the same location); returns the location.</summary>
    Task<string> WriteAsync(QuarantineRecord record, CancellationToken cancellationToken);
}
