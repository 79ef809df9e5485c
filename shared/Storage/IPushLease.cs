namespace CtMparticle.Storage;

/// <summary>
/// Exactly one pusher per store: two pushers reading the same outbox would send the same events in different
/// requests. Held for a push run, kept alive while held, released at the end; a holder that dies loses it (the
/// operating system's file lock on the embedded store; the blob lease's expiry on Azure).
/// </summary>
internal interface IPushLease
{
    /// <summary>The lease for one push run, or null when another pusher holds it now.</summary>
    Task<IAsyncDisposable?> TryAcquireAsync(CancellationToken cancellationToken);
}
