using System.Text.Json.Nodes;
using CtMparticle.Sources.Commercetools;

namespace CtMparticle.Tests.Delivery;

/// <summary>
/// The exact batch mParticle receives for every bundled sample that becomes one (08 needs a fetch, 09 is filtered;
/// their outcomes are tested elsewhere). The expected files in
/// Fixtures/golden were written by hand from the samples' commercetools fields (ids by UUIDv5 of the documented
/// business keys, computed outside the relay), never copied from the relay's output.
/// </summary>
public sealed class GoldenBatchTests
{
    [Theory]
    [InlineData(Samples.OrderCreatedRegistered, "01-purchase.batch.json", false)]
    [InlineData(Samples.OrderCreatedGuest, "02-guest-purchase.batch.json", false)]
    [InlineData(Samples.ReturnInfoAdded, "03-return.batch.json", true)]
    [InlineData(Samples.RefundTransaction, "04-refund.batch.json", true)]
    [InlineData(Samples.CustomerCreated, "05-signed-up.batch.json", false)]
    [InlineData(Samples.CustomerEmailChanged, "06-email-changed.batch.json", false)]
    [InlineData(Samples.OrderStateChanged, "07-order-status.batch.json", true)]
    [InlineData(Samples.CloudEventsConsent, "10-consent-updated.batch.json", false)]
    public void Build_Sample_IsExactlyTheHandWrittenBatch(string sample, string golden, bool needsOrder)
    {
        var mapped = Assert.IsType<Mapped>(TestOptions.Mapper().Map(Samples.Decode<CtDelivery>(sample), needsOrder ? TestOptions.Order01Context() : null));
        var built = TestOptions.Built(Assert.Single(mapped.Events));

        var actual = JsonNode.Parse(built.Json)!;
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "golden", golden)))!;

        Assert.True(JsonNode.DeepEquals(expected, actual), $"expected:\n{expected.ToJsonString()}\nactual:\n{actual.ToJsonString()}");
    }
}
