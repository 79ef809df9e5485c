namespace CtMparticle.Embedded.Log;

/// <summary>
/// Each owner's set of member hashes (a customer's or an identifier's link keys, <see cref="LogLinkStore"/>), kept small
/// because most owners have one member: a lone member is held in the owner's entry itself, and only an owner with
/// several gets a list. At 1,000,000 deliveries this took the two link lists from about 60 to about 30 MB (a list per
/// owner costs some 90 bytes more than an entry). Members come back in no set order. One thread at a time.
/// </summary>
internal sealed class HashLists
{
    private readonly Dictionary<ulong, ulong> single = [];
    private readonly Dictionary<ulong, List<ulong>> several = [];

    /// <summary>The owners with at least one member.</summary>
    public int Count => single.Count + several.Count;

    /// <summary>Adds the member to the owner's set; false when it was there.</summary>
    public bool Add(ulong owner, ulong member)
    {
        if (several.TryGetValue(owner, out var members))
        {
            if (members.Contains(member))
            {
                return false;
            }

            members.Add(member);
            return true;
        }

        if (single.Remove(owner, out var only))
        {
            if (only == member)
            {
                single[owner] = only;
                return false;
            }

            several[owner] = [only, member];
            return true;
        }

        single[owner] = member;
        return true;
    }

    /// <summary>Takes the member out of the owner's set; false when it was not there.</summary>
    public bool Remove(ulong owner, ulong member)
    {
        if (single.TryGetValue(owner, out var only))
        {
            return only == member && single.Remove(owner);
        }

        if (!several.TryGetValue(owner, out var members) || !members.Remove(member))
        {
            return false;
        }

        if (members.Count == 1)
        {
            several.Remove(owner);
            single[owner] = members[0];
        }

        return true;
    }

    /// <summary>The owner's members (empty when it has none).</summary>
    public IReadOnlyList<ulong> Of(ulong owner) =>
        single.TryGetValue(owner, out var only) ? [only] : several.TryGetValue(owner, out var members) ? members : [];
}
