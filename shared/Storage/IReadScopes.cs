namespace CtMparticle.Storage;

/// <summary>
/// A push run's reads of per-user state, kept until the scope is disposed: a store that keeps a user's states together
/// (on Azure Tables a customer's consent beside their links) then reads them once for the run instead of once per
/// kind of state. Stores without it (the embedded store, whose reads are local) read as before.
/// </summary>
internal interface IReadScopes
{
    /// <summary>Opens a scope for the calling flow until it is disposed.</summary>
    IDisposable Begin();
}
