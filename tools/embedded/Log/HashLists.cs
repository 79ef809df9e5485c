namespace CtMparticle.Embedded.Log;

/// <summary>
/// Each owner's set of member hashes (a customer's or an identifier's link keys, <see cref="LogLinkStore"/>), held in a
/// <see cref="SpillingKeyIndex"/>: one entry per member, under the owner's hash, whose "address" is the member's hash.
/// Most owners are seen once and never asked for again (anonymous identifiers), so the older entries go to the index's
/// files with the rest. Two dictionaries (a lone member in the owner's entry, a list for several) held 19 MB of the
/// 128 MB live at 1,000,000 deliveries.
/// <para>
/// A member comes back without its hash's top bit (an index's address is a positive number), which the link index
/// does not read: its tag is the low 32 bits. Two members of one owner that differ only in that bit would be taken
/// for one (a chance of one in 2^63 a pair). An owner's set may name another owner's members whose hash shares its
/// tag (one in four billion a look-up): the caller reads each link and keeps its own, as it does for any hash
/// collision. Members come back in no set order. One thread at a time (the log's lock).
/// </para>
/// </summary>
internal sealed class HashLists(SpillingKeyIndex index)
{
    /// <summary>Adds the member to the owner's set; false when it was there.</summary>
    public bool Add(ulong owner, ulong member)
    {
        var value = Value(member);
        if (index.Holds(owner, value))
        {
            return false;
        }

        index.Insert(owner, value);
        return true;
    }

    /// <summary>Takes the member out of the owner's set; false when it was not there.</summary>
    public bool Remove(ulong owner, ulong member) => index.Move(owner, Value(member), 0);

    /// <summary>Records with <paramref name="core"/> how to undo an <see cref="Add"/> (<paramref name="added"/>) or a <see cref="Remove"/> of the member.</summary>
    public void Remember(LogCore core, ulong owner, ulong member, bool added) =>
        core.RememberPoint(index, owner, added ? 0 : Value(member), added ? Value(member) : 0);

    /// <summary>The owner's members (empty when it has none), and perhaps a few of another owner's with the same tag.</summary>
    public IEnumerable<ulong> Of(ulong owner) => index.All(owner).Select(value => (ulong)value);

    // The hash without its top bit, never 0 (which marks an empty slot): the low 32 bits, the link index's tag, are kept.
    private static long Value(ulong member) => (long)(member & long.MaxValue) is var value and not 0 ? value : 1L << 32;
}
