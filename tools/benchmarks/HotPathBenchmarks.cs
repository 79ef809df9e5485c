using System.Buffers;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using CtMparticle.Configuration;
using CtMparticle.Delivery;
using CtMparticle.Governance;
using CtMparticle.Sources.Commercetools;

BenchmarkSwitcher.FromAssembly(typeof(HotPathBenchmarks).Assembly).Run(args);

/// <summary>
/// The relay's in-memory hot path (decode → map → batch, with and without the plan check) against the floor no relay can beat:
/// a plain System.Text.Json parse and serialize of the same bytes. Same process, same run, so the ratio is fair.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(warmupCount: 3, iterationCount: 15)]
public class HotPathBenchmarks
{
    private readonly ArrayBufferWriter<byte> buffer = new(64 * 1024);
    private byte[] body = [];
    private CommercetoolsMapper mapper = null!;
    private BatchBuilder builder = null!;
    private PlanGovernor governor = null!;

    [Params("01-order-created-registered-with-discount.json", "05-customer-created.json", "10-cloudevents-customer-custom-field-changed.json")]
    public string Sample { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        body = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "samples", Sample));
        var mapping = new MappingOptions { Environment = "production" };
        var routing = new MParticleOptions
        {
            Inputs = [new MParticleInputOptions { Name = "eu", Pod = MParticlePod.EU1, ApiKeySetting = "K", ApiSecretSetting = "S" }],
            DefaultInput = "eu",
        };
        mapper = new CommercetoolsMapper(mapping, routing);
        builder = new BatchBuilder(mapping, routing);
        var (loaded, problems) = PlanGovernor.Load(Path.Combine(AppContext.BaseDirectory, "config", "plans", "policies.json"), mapping, builder);
        governor = loaded ?? throw new InvalidOperationException(string.Join(Environment.NewLine, problems));

        if (HotPath() < 1 || Governed() < 1)
        {
            throw new InvalidOperationException($"{Sample} does not map to a batch.");
        }
    }

    [Benchmark(Baseline = true, Description = "STJ parse + serialize (floor)")]
    public int ParseAndSerialize()
    {
        buffer.ResetWrittenCount();
        using var document = JsonDocument.Parse(body);
        using var writer = new Utf8JsonWriter(buffer);
        document.WriteTo(writer);
        writer.Flush();
        return buffer.WrittenCount;
    }

    [Benchmark(Description = "decode")]
    public int Decode() => DeliveryDecoder.Decode(body) is Decoded decoded ? decoded.Delivery.Resource.TypeId.Length : 0;

    /// <summary>As before the fast paths (the envelope checked token by token, every message through the generated context): the two side by side in one run.</summary>
    [Benchmark(Description = "decode, without the fast paths")]
    public int DecodeWithoutFastPaths() => DeliveryDecoder.Decode(body, fastPaths: false) is Decoded decoded ? decoded.Delivery.Resource.TypeId.Length : 0;

    [Benchmark(Description = "decode → map → batch")]
    public int HotPath() => Run(govern: false);

    [Benchmark(Description = "decode → map → govern (plan check) → batch")]
    public int Governed() => Run(govern: true);

    private int Run(bool govern)
    {
        if (DeliveryDecoder.Decode(body) is not Decoded decoded || mapper.Map(decoded.Delivery) is not Mapped mapped)
        {
            return 0;
        }

        var size = 0;
        foreach (var trackingEvent in mapped.Events)
        {
            if ((!govern || !governor.Check(trackingEvent).Blocked) && builder.Build(trackingEvent) is BuiltBatch built)
            {
                size += built.Json.Length;
            }
        }

        return size;
    }
}

/// <summary>
/// The floor for the end-to-end figures of tools/bench/run.sh: a plain System.Text.Json parse and serialize of each line of
/// the corpus the relay ran (its first 20,000 lines), what any relay must at least do per input. The script passes
/// the corpus in <c>CTMP_BENCH_CORPUS</c>.
/// </summary>
[MedianColumn]
[SimpleJob(warmupCount: 2, iterationCount: 10)]
public class CorpusFloorBenchmarks
{
    public const int Lines = 20_000;
    private readonly ArrayBufferWriter<byte> buffer = new(64 * 1024);
    private byte[][] lines = [];

    [GlobalSetup]
    public void Setup()
    {
#pragma warning disable RS0030 // a knob of the benchmark run, not a relay setting
        var path = Environment.GetEnvironmentVariable("CTMP_BENCH_CORPUS")
            ?? throw new InvalidOperationException("Set CTMP_BENCH_CORPUS to an NDJSON corpus (ctmp generate), or run tools/bench/run.sh.");
#pragma warning restore RS0030
        lines = [.. File.ReadLines(path).Take(Lines).Select(System.Text.Encoding.UTF8.GetBytes)];
    }

    [Benchmark]
    public long ParseAndSerializeEachLine()
    {
        long written = 0;
        foreach (var line in lines)
        {
            buffer.ResetWrittenCount();
            try
            {
                using var document = JsonDocument.Parse(line);
                using var writer = new Utf8JsonWriter(buffer);
                document.WriteTo(writer);
            }
            catch (JsonException)
            {
                // the corpus's deliberately malformed lines: parsed as far as they go, like the relay's decode
            }

            written += buffer.WrittenCount;
        }

        return written;
    }
}
