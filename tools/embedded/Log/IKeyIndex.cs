namespace CtMparticle.Embedded.Log;

/// <summary>
/// An index of ADR 0007 from a key's hash to the log address of the key's newest record: what the log's stores and
/// <see cref="LogCore"/> ask of it. A hash match is only a candidate, confirmed by the caller reading the record (see
/// <see cref="KeyIndex"/>); an entry is changed by its address, never by its key. One thread at a time.
/// </summary>
internal interface IKeyIndex
{
    /// <summary>The number of entries.</summary>
    int Count { get; }

    /// <summary>The bytes of memory the index takes (what ADR 0007's memory budget counts).</summary>
    long TableBytes { get; }

    /// <summary>The address of <paramref name="isKey"/>'s key, or 0 when it is not indexed.</summary>
    long Find<TState>(ulong hash, TState state, Func<TState, long, bool> isKey);

    /// <summary>Adds an entry the caller knows is new (its record says so): no key is read.</summary>
    void Insert(ulong hash, long address);

    /// <summary>Points the entry that holds <paramref name="from"/> at <paramref name="to"/>, or with 0 removes it; false when none holds it.</summary>
    bool Move(ulong hash, long from, long to);

    /// <summary>Every entry's address that may be <paramref name="hash"/>'s: candidates, for the caller to confirm.</summary>
    List<long> All(ulong hash);

    /// <summary>Whether an entry of <paramref name="hash"/> holds exactly <paramref name="address"/> (no key is read).</summary>
    bool Holds(ulong hash, long address);
}
