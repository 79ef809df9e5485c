using System.Reflection;
using System.Text.Json;
using CsCheck;
using CtMparticle.Embedded.Log;
using CtMparticle.Storage;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Storage;

/// <summary>
/// The log keeps consent, order contexts and identity decisions field by field (<see cref="StateCodec"/>), where it kept their JSON before
/// 2026-12-07. What it reads back must be what the JSON gave, for any values (offsets, decimals' scales, missing
/// parts, non-ASCII and lone surrogates), records of either form must read alike, and damage must be refused as such.
/// The JSON serializer is the yardstick: both sides are serialized with it and compared.
/// </summary>
public sealed class StateCodecTests
{
    private static readonly Gen<string> Text = Gen.OneOf(Gen.String[Gen.Char.AlphaNumeric, 0, 20], Gen.String[Gen.Char, 0, 8], Gen.Const("ü-ß"), Gen.Const("\ud800x"));

    // Any instant with any whole-minute offset a DateTimeOffset takes (±14 hours).
    private static readonly Gen<DateTimeOffset> At = Gen.Select(Gen.Long[TimeSpan.TicksPerDay, DateTime.MaxValue.Ticks - TimeSpan.TicksPerDay], Gen.Int[-840, 840])
        .Select((ticks, minutes) => new DateTimeOffset(ticks, TimeSpan.FromMinutes(minutes)));

    // Amounts with their scale (10.50 is not 10.5 in the JSON), negative and large ones too.
    private static readonly Gen<decimal?> Amount = Gen.Select(Gen.Long[-1_000_000_000_000, 1_000_000_000_000], Gen.Byte[0, 6])
        .Select((units, scale) => new decimal((int)(Math.Abs(units) & 0xFFFFFFFF), (int)(Math.Abs(units) >> 32), 0, units < 0, scale)).Nullable();

    private static readonly Gen<ConsentPurpose> Purpose = Gen.Select(Gen.Bool, At, Text.Null(), Text.Null(), Gen.Long.Nullable())
        .Select((consented, at, document, location, sequence) => new ConsentPurpose(consented, at, document, location, sequence));

    // Names a UTF-8 round trip keeps apart (a lone surrogate becomes U+FFFD): equal once written, they are one purpose.
    private static readonly Gen<ConsentSnapshot> Consent = Gen.Select(Gen.Select(Text, Purpose).Array[0, 4], Purpose.Null())
        .Select((gdpr, ccpa) => new ConsentSnapshot(gdpr.DistinctBy(p => AsWritten(p.Item1)).ToDictionary(p => p.Item1, p => p.Item2), ccpa));

    private static readonly Gen<ProductLine> Line = Gen.Select(Text, Text.Null(), Text.Null(), Text.Null(), Text.Null(), Amount, Gen.Long, Amount)
        .Select(Gen.Select(Amount, Text.Null()), (a, b) => new ProductLine(a.Item1, a.Item2, a.Item3, a.Item4, a.Item5, a.Item6, a.Item7, a.Item8, b.Item1, b.Item2));

    private static readonly Gen<UserIds> User = Gen.Select(Text.Null(), Text.Null(), Text.Null(), Text.Null(),
            Gen.Select(Text.Null(), Text.Null(), Text.Null(), Text.Null()).Select((a, b, c, d) => new DeviceIds(a, b, c, d)).Null())
        .Select((customer, email, anonymous, session, devices) => new UserIds(customer, email, anonymous, session, devices));

    private static readonly Gen<Region?> Where = Gen.Select(Text, Text.Null(), Gen.Bool).Select((country, state, unknown) => new Region(country, state) { SubdivisionUnknown = unknown }).Null();

    private static readonly Gen<OrderContext> Context =
        Gen.Select(Text.Null(), Text, Text.Null(), Text.Null(), Text, Text.Null(), User, Where)
            .Select(Gen.Select(Text.Null(), Text.Array[0, 3], Gen.Select(Text, Line).Array[0, 4], Consent.Null(), Gen.Long), (a, b) =>
                new OrderContext(a.Item1, a.Item2, a.Item3, a.Item4, a.Item5, a.Item6, a.Item7, a.Item8, b.Item1, b.Item2,
                    b.Item3.DistinctBy(l => AsWritten(l.Item1)).ToDictionary(l => l.Item1, l => l.Item2), b.Item4, b.Item5));

    private static readonly Gen<IdentityDecision> Decision = Gen.Select(Gen.Guid, Text, At, Text, Text, Gen.Select(Text, Text, Gen.Bool, Text).Array[0, 4])
        .Select((id, name, at, version, regime, choices) => new IdentityDecision(id, name, at, version, regime, [.. choices.Select(c => new IdentityChoice(c.Item1, c.Item2, c.Item3, c.Item4))]));

    [Fact]
    public void AnOrderContext_ReadsBackAsItsJsonDoes_FromEitherForm()
    {
        Context.Sample(context =>
        {
            var bytes = StateCodec.EncodeContext(context);
            var json = JsonSerializer.SerializeToUtf8Bytes(context, RelayJsonContext.Default.OrderContext);
            var expected = Json(JsonSerializer.Deserialize(json, RelayJsonContext.Default.OrderContext)!);

            Assert.Equal(expected, Json(StateCodec.DecodeContext(bytes)));
            Assert.Equal(expected, Json(StateCodec.DecodeContext(json))); // a record written before 2026-12-07
            Assert.Equal(bytes, StateCodec.EncodeContext(StateCodec.DecodeContext(bytes)));
        }, iter: 2_000);
    }

    [Fact]
    public void ADamagedOrderContext_IsRefusedAsDamage_NeverReadPastItsEnd()
    {
        Gen.Select(Context, Gen.Int[0, 10_000]).Sample((context, seed) =>
        {
            var bytes = StateCodec.EncodeContext(context);
            Assert.Throws<InvalidDataException>(() => StateCodec.DecodeContext(bytes.AsSpan(0, seed % bytes.Length)));
            Assert.Throws<InvalidDataException>(() => StateCodec.DecodeContext([.. bytes, 0]));
        }, iter: 2_000);

        Assert.Throws<InvalidDataException>(() => StateCodec.DecodeContext("{\"orderId\":"u8));
        Assert.Throws<InvalidDataException>(() => StateCodec.DecodeContext("null"u8));
    }

    [Fact]
    public void AnIdentityDecision_ReadsBackAsItsJsonDoes_FromEitherForm_AndDamageIsRefused()
    {
        Gen.Select(Decision, Gen.Int[0, 10_000]).Sample((decision, seed) =>
        {
            var bytes = StateCodec.EncodeDecision(decision);
            var json = JsonSerializer.SerializeToUtf8Bytes(decision, RelayJsonContext.Default.IdentityDecision);
            var expected = Json(JsonSerializer.Deserialize(json, RelayJsonContext.Default.IdentityDecision)!);

            Assert.Equal(expected, Json(StateCodec.DecodeDecision(bytes)));
            Assert.Equal(expected, Json(StateCodec.DecodeDecision(json))); // a record written before 2026-12-07
            Assert.Throws<InvalidDataException>(() => StateCodec.DecodeDecision(bytes.AsSpan(0, seed % bytes.Length)));
            Assert.Throws<InvalidDataException>(() => StateCodec.DecodeDecision([.. bytes, 0]));
        }, iter: 2_000);
    }

    [Fact]
    public void AConsent_ReadsBackAsItsJsonDoes()
    {
        Consent.Sample(consent =>
        {
            var record = new ConsentRecord("customer:c-1", 0, false, consent, null, null, null, 0);
            var expected = Json(JsonSerializer.Deserialize(Json(consent), RelayJsonContext.Default.ConsentSnapshot)!);
            Assert.Equal(expected, Json(ConsentRecord.Decode(record.Encode().Span).Consent));
        }, iter: 2_000);
    }

    /// <summary>
    /// The codec writes each field itself: a field added to one of these types must be added to <see cref="StateCodec"/>
    /// too, or the log would drop it silently. The round trips above cover the fields listed here; this fails first
    /// when the types change.
    /// </summary>
    [Fact]
    public void TheCodec_KnowsEveryFieldOfWhatItWrites()
    {
        Assert.Equal(["Consented", "At", "Document", "Location", "Sequence"], Fields(typeof(ConsentPurpose)));
        Assert.Equal(["Gdpr", "CcpaDataSaleOptOut"], Fields(typeof(ConsentSnapshot)));
        Assert.Equal(["ProjectKey", "OrderId", "OrderNumber", "StoreKey", "Currency", "Locale", "User", "Region", "Channel", "PaymentIds", "Lines", "Consent", "Version"],
            Fields(typeof(OrderContext)));
        Assert.Equal(["CustomerId", "Email", "AnonymousId", "SessionId", "Devices"], Fields(typeof(UserIds)));
        Assert.Equal(["IosAdvertisingId", "IosVendorId", "AndroidAdvertisingId", "AndroidUuid"], Fields(typeof(DeviceIds)));
        Assert.Equal(["Country", "State", "SubdivisionUnknown"], Fields(typeof(Region)));
        Assert.Equal(["EventId", "EventName", "DecidedAt", "RulesVersion", "Regime", "Choices"], Fields(typeof(IdentityDecision)));
        Assert.Equal(["Type", "Value", "Sent", "Rule"], Fields(typeof(IdentityChoice)));
        Assert.Equal(["Sku", "Name", "Variant", "Brand", "Category", "UnitPrice", "Quantity", "LineTotal", "ListPrice", "ProductId"], Fields(typeof(ProductLine)));
    }

    /// <summary>The constructor's parameters, then the settable properties it does not set (what the JSON writes).</summary>
    private static string[] Fields(Type type)
    {
        var parameters = type.GetConstructors().Single(c => c.GetParameters().All(p => p.ParameterType != type)).GetParameters().Select(p => p.Name!).ToArray();
        var settable = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.SetMethod is { IsPublic: true } && !parameters.Contains(p.Name, StringComparer.Ordinal))
            .Select(p => p.Name);
        return [.. parameters, .. settable];
    }

    private static string AsWritten(string text) => System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(text));

    private static string Json(OrderContext context) => JsonSerializer.Serialize(context, RelayJsonContext.Default.OrderContext);

    private static string Json(IdentityDecision decision) => JsonSerializer.Serialize(decision, RelayJsonContext.Default.IdentityDecision);

    private static string Json(ConsentSnapshot consent) => JsonSerializer.Serialize(consent, RelayJsonContext.Default.ConsentSnapshot);
}
