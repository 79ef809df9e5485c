using System.Globalization;
using CsCheck;
using CtMparticle.Pipeline;
using CtMparticle.Storage;
using CtMparticle.Tests.Support;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Pipeline;

/// <summary>
/// The invariant "bad input never stops the relay", as a property: structurally mutated commercetools deliveries
/// (<see cref="HostileInputs"/>) through the whole ingest pipeline on the embedded store. For every generated
/// delivery no exception escapes, it gets exactly one outcome, a quarantine has a record, a refusal has a precise
/// reason (never <c>internal_error</c>), what is stored can be built into an mParticle batch, and the ledger
/// reconciles. 10,000 cases in the normal run; <c>CTMP_HOSTILE_CASES</c> raises it for a soak (README).
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly EmbeddedRelay relay = new();

    public void Dispose() => relay.Dispose();

#pragma warning disable RS0030 // a knob of the test run (the soak in the README), not a relay setting
    private static int Cases =>
        int.TryParse(Environment.GetEnvironmentVariable("CTMP_HOSTILE_CASES"), CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 10_000;
#pragma warning restore RS0030

    private static readonly byte[][] Originals = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "commercetools"), "*.json")
        .Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToArray();

    /// <summary>(which sample, how many mutations, the mutations' seed).</summary>
    private static readonly Gen<(int Sample, int Mutations, int Seed)> Deliveries =
        Gen.Select(Gen.Int[0, Originals.Length - 1], Gen.Int[1, 3], Gen.Int);

    [Fact]
    public async Task Ingest_MutatedDeliveries_NeverThrowAndEachGetsExactlyOnePreciseOutcome()
    {
        var pipeline = relay.Pipeline();
        var builder = TestOptions.Builder();
        var reasons = new Dictionary<string, int>(StringComparer.Ordinal);
        var inputs = 0;
        await relay.Store.BeginBatchAsync(default);

        await Deliveries.SampleAsync(async c =>
        {
            var body = HostileInputs.Mutate(Originals[c.Sample], c.Mutations, c.Seed);
            var outcome = await pipeline.IngestAsync(new Inbound(body), default);

            Assert.NotEqual(Reason.InternalError.Code(), outcome.Reason);
            Assert.NotEqual(Reason.TooLargeToStore.Code(), outcome.Reason);
            switch (outcome.Kind)
            {
                case IngestOutcomeKind.Quarantined:
                    Assert.False(string.IsNullOrEmpty(outcome.QuarantineLocation));
                    Assert.NotNull(outcome.Reason);
                    break;
                case IngestOutcomeKind.Filtered:
                    Assert.NotNull(outcome.Reason);
                    break;
                case IngestOutcomeKind.Accepted:
                    Assert.NotEmpty(outcome.EventIds);
                    break;
            }

            await relay.Store.RecordInputAsync("hostile", outcome.Info?.MessageId, outcome.Info?.MessageType, outcome.KindCode, outcome.Reason,
                outcome.Detail, outcome.QuarantineLocation, outcome.EventIds, outcome.Flags, outcome.Info?.Unenriched, default);
            var key = $"{outcome.KindCode}:{outcome.Reason}";
            reasons[key] = reasons.GetValueOrDefault(key) + 1;
            inputs++;
        }, iter: Cases, threads: 1);

        await relay.Store.CommitBatchAsync(default);

        // Everything stored can become a batch (or an unsendable group with a reason): the push side never throws either.
        foreach (var pending in await relay.Store.ReadPendingAsync(int.MaxValue, default))
        {
            var trackingEvent = System.Text.Json.JsonSerializer.Deserialize(pending.Json, RelayJsonContext.Default.TrackingEvent)!;
            Assert.IsAssignableFrom<TrackingEvent>(trackingEvent);
            _ = builder.Build(trackingEvent);
        }

        // The ledger accounts for every input once; the mutations reached past decoding, not only the JSON parser.
        var ledger = await relay.Store.LedgerAsync(default);
        Assert.Equal(inputs, ledger.Count);
        Assert.Equal(Cases, inputs);
        Assert.Contains(reasons.Keys, k => k.StartsWith("accepted", StringComparison.Ordinal));
        Assert.Contains(reasons.Keys, k => k.StartsWith("quarantined:wrong_type", StringComparison.Ordinal));
        Assert.Contains(reasons.Keys, k => k.StartsWith("quarantined:missing_field", StringComparison.Ordinal));
        Assert.True(reasons.Keys.Count(k => k.StartsWith("quarantined", StringComparison.Ordinal)) >= 5, string.Join(", ", reasons.Keys));
    }

    [Theory]
    [InlineData("lineItems", "[null]")]
    [InlineData("discount", "null")]
    [InlineData("attributes", "null")]
    public async Task Ingest_NullInsideAnOrdersArrays_IsQuarantinedAsWrongType(string where, string _)
    {
        var order = Samples.Json(Samples.OrderCreatedRegistered);
        var line = order["order"]!["lineItems"]![0]!.AsObject();
        switch (where)
        {
            case "lineItems":
                order["order"]!["lineItems"]!.AsArray().Add(null);
                break;
            case "discount":
                line["discountedPricePerQuantity"] = new System.Text.Json.Nodes.JsonArray((System.Text.Json.Nodes.JsonNode?)null);
                break;
            default:
                line["variant"]!["attributes"] = new System.Text.Json.Nodes.JsonArray((System.Text.Json.Nodes.JsonNode?)null);
                break;
        }

        var outcome = await relay.Pipeline().IngestAsync(new Inbound(Samples.Bytes(order)), default);

        Assert.Equal((IngestOutcomeKind.Quarantined, "wrong_type"), (outcome.Kind, outcome.Reason));
        Assert.Contains("null element", outcome.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1L, 1000L, "invalid_money")]             // negative fraction digits
    [InlineData(2L, 9_000_000_000_000_000_000L, "invalid_money")] // 9 × 10^16 major units: beyond what doubles carry exactly
    public async Task Ingest_MoneyOutOfRange_IsQuarantinedWithAPreciseReason(long fractionDigits, long centAmount, string reason)
    {
        var order = Samples.Json(Samples.OrderCreatedRegistered);
        order["order"]!["totalPrice"]!["fractionDigits"] = fractionDigits;
        order["order"]!["totalPrice"]!["centAmount"] = centAmount;

        var outcome = await relay.Pipeline().IngestAsync(new Inbound(Samples.Bytes(order)), default);

        Assert.Equal((IngestOutcomeKind.Quarantined, reason), (outcome.Kind, outcome.Reason));
    }

    [Fact]
    public async Task Ingest_QuantityBeyondCommercetoolsRange_IsInvalidQuantityNotAnOverflow()
    {
        var order = Samples.Json(Samples.OrderCreatedRegistered);
        order["order"]!["lineItems"]![0]!["quantity"] = long.MaxValue;

        var outcome = await relay.Pipeline().IngestAsync(new Inbound(Samples.Bytes(order)), default);

        Assert.Equal((IngestOutcomeKind.Quarantined, "invalid_quantity"), (outcome.Kind, outcome.Reason));
    }

    [Fact]
    public async Task Ingest_FailureOfTheRelayItself_IsQuarantinedAsInternalErrorAndTheNextInputGoesOn()
    {
        var store = new StoreStage(relay.Store, relay.Store, relay.Quarantine, relay.Metrics, Microsoft.Extensions.Logging.Abstractions.NullLogger<StoreStage>.Instance);
        var pipeline = new IngestPipeline(new ThrowingSource(), null!, null!, store, relay.Time);
        var body = "{\"some\":\"bytes\"}"u8.ToArray();

        var outcome = await pipeline.IngestAsync(new Inbound(body, "sb-9"), default);

        Assert.Equal((IngestOutcomeKind.Quarantined, "internal_error"), (outcome.Kind, outcome.Reason));
        Assert.Contains("System.NullReferenceException", outcome.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", outcome.Detail, StringComparison.Ordinal); // the message, which may quote data, is never kept
        var (_, record) = Assert.Single(relay.Quarantine.List());
        Assert.Equal(body, Convert.FromBase64String(record.PayloadBase64));
        Assert.Equal("decode", record.Stage);
    }

    [Fact]
    public async Task Ingest_TransientFailure_IsThrownSoTheTransportRedelivers()
    {
        var pipeline = new IngestPipeline(new ThrowingSource(new HttpRequestException("down")), null!, null!, null!, relay.Time);

        await Assert.ThrowsAsync<HttpRequestException>(() => pipeline.IngestAsync(new Inbound("{}"u8.ToArray()), default));
        Assert.Empty(relay.Quarantine.List());
    }

    /// <summary>A source whose decode fails the way a relay bug would (or as a dependency's outage, when given one).</summary>
    private sealed class ThrowingSource(Exception? failure = null) : ISource
    {
        public Flow<SourceItem> Decode(Inbound inbound) => throw failure ?? new NullReferenceException("secret customer data in the message");

        public Task<Flow<SourceItem>> ResolveAsync(Flow<SourceItem> decoded, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Flow<MappedEvents> Map(Flow<SourceItem> resolved) => throw new NotSupportedException();
    }
}
