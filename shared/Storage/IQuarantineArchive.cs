namespace CtMparticle.Storage;

/// <summary>The quarantine as an operator works it: list the records, and remove one once its replay resolved it.</summary>
internal interface IQuarantineArchive
{
    /// <summary>Every readable record with its path (relative to the folder or container), oldest day first.</summary>
    IAsyncEnumerable<(string Path, QuarantineRecord Record)> ListAsync(CancellationToken cancellationToken);

    Task DeleteAsync(string path, CancellationToken cancellationToken);
}
