using CtMparticle.Tracking;

namespace CtMparticle.Tests.Tracking;

public sealed class Uuid5Tests
{
    [Fact]
    public void Create_MatchesThePublishedVector()
    {
        // Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")
        var dns = new Guid("6ba7b810-9dad-11d1-80b4-00c04fd430c8");

        Assert.Equal(new Guid("886313e1-3b8a-5372-9b90-0c9aee199e5d"), Uuid5.Create(dns, "python.org"));
    }

    [Fact]
    public void ForEvent_IsVersion5AndStable()
    {
        var id = Uuid5.ForEvent("acme-commerce-prod/order/b5f3c2a8-6d1e-4f0b-9a7c-2e8d4c1f9a30/purchase");

        Assert.Equal(new Guid("f34de537-8370-59c1-86b4-95bd3324b55b"), id);
        Assert.Equal('5', id.ToString()[14]);
    }

    [Fact]
    public void Create_LongNames_AreHashedWhole()
    {
        var a = Uuid5.ForEvent(new string('a', 5000) + "1");
        var b = Uuid5.ForEvent(new string('a', 5000) + "2");

        Assert.NotEqual(a, b);
    }
}
