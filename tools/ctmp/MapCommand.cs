using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using CtMparticle.Commercetools;
using CtMparticle.Mapping;
using CtMparticle.MParticle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CtMparticle.Tool;

/// <summary>
/// <c>ctmp map</c>: decode and map deliveries to Events API batches, in memory, in the order given. Nothing is
/// stored or sent; order context is remembered only within the run.
/// </summary>
internal static class MapCommand
{
    public static Command Create()
    {
        var paths = new Argument<string[]>("paths")
        {
            Description = "Delivery files, folders of them, NDJSON files (one delivery a line), or - for standard input.",
            Arity = ArgumentArity.OneOrMore,
        };
        var outDir = new Option<DirectoryInfo?>("--out") { Description = "Write each batch as a JSON file in this folder." };
        var settings = new Option<FileInfo?>("--settings") { Description = "A settings JSON file replacing the embedded default." };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON (for scripts)." };
        var command = new Command("map", "Decode and map commercetools deliveries to mParticle batches without storing or sending anything.")
        {
            paths, outDir, settings, json,
        };
        command.SetAction(parse => Run(parse.GetRequiredValue(paths), parse.GetValue(outDir), parse.GetValue(settings), parse.GetValue(json)));
        return command;
    }

    private static int Run(string[] paths, DirectoryInfo? outDir, FileInfo? settingsFile, bool asJson)
    {
        var problems = InputFiles.Problems(paths).ToArray();
        if (problems.Length > 0)
        {
            foreach (var problem in problems)
            {
                Console.Error.WriteLine($"ctmp map: {problem}");
            }

            return ExitCodes.Usage;
        }

        ServiceProvider services;
        try
        {
            services = ToolSettings.Build(settingsFile);
        }
        catch (Exception ex) when (ex is OptionsValidationException or InvalidDataException or FileNotFoundException or FormatException)
        {
            Console.Error.WriteLine($"ctmp map: the settings are not usable: {ex.Message}");
            return ExitCodes.Settings;
        }

        using (services)
        {
            outDir?.Create();
            var mapper = services.GetRequiredService<CommercetoolsMapper>();
            var builder = services.GetRequiredService<BatchBuilder>();
            var summary = new MapSummary();
            var orders = new Dictionary<string, OrderContext>(StringComparer.Ordinal);
            var paymentOrders = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<Guid>();
            foreach (var input in InputFiles.Read(paths))
            {
                summary.Deliveries++;
                switch (DeliveryDecoder.Decode(input.Body))
                {
                    case Decoded decoded:
                        var (orderId, paymentId) = CommercetoolsMapper.ContextLookup(decoded.Delivery);
                        orderId ??= paymentId is not null && paymentOrders.TryGetValue(paymentId, out var linked) ? linked : null;
                        var context = orderId is not null && orders.TryGetValue(orderId, out var found) ? found : null;
                        Handle(input, mapper.Map(decoded.Delivery, context), builder, outDir, summary, orders, paymentOrders, seen);
                        break;
                    case FetchRequired fetch:
                        summary.Add(input, "fetch_required", fetch.Reason.Code(), fetch.Detail);
                        break;
                    case DecodeFiltered filtered:
                        summary.Add(input, "filtered", filtered.Reason.Code(), filtered.Detail);
                        break;
                    case DecodeRejected rejected:
                        summary.Add(input, "rejected", rejected.Reason.Code(), rejected.Detail);
                        break;
                }
            }

            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(summary, ToolJsonContext.Default.MapSummary));
            }
            else
            {
                summary.Print(Console.Out, outDir);
            }
        }

        return ExitCodes.Ok;
    }

    private static void Handle(
        InputItem input, MappingResult result, BatchBuilder builder, DirectoryInfo? outDir, MapSummary summary,
        Dictionary<string, OrderContext> orders, Dictionary<string, string> paymentOrders, HashSet<Guid> seen)
    {
        switch (result)
        {
            case Mapped mapped:
                if (mapped.OrderContext is { } order)
                {
                    orders[order.OrderId] = order;
                    foreach (var payment in order.PaymentIds)
                    {
                        paymentOrders[payment] = order.OrderId;
                    }
                }

                foreach (var e in mapped.Events)
                {
                    if (!seen.Add(e.Context.EventId))
                    {
                        summary.Add(input, "duplicate", "duplicate", $"{e.Name} {e.Context.EventId} was already mapped in this run.");
                        continue;
                    }

                    switch (builder.Build(e))
                    {
                        case BuiltBatch batch:
                            summary.Batches++;
                            summary.Count("mapped", e.Name);
                            if (outDir is not null)
                            {
                                File.WriteAllBytes(Path.Combine(outDir.FullName, $"{summary.Batches:D6}-{e.Context.EventId:N}.json"), batch.Json);
                            }

                            break;
                        case BatchRejected rejected:
                            summary.Add(input, "rejected", rejected.Reason.Code(), rejected.Detail);
                            break;
                    }
                }

                break;
            case MappingFiltered filtered:
                summary.Add(input, "filtered", filtered.Reason.Code(), filtered.Detail);
                break;
            case MappingNeedsContext needs:
                summary.Add(input, "needs_context", needs.Reason.Code(), needs.Detail);
                break;
            case MappingInvalid invalid:
                summary.Add(input, "rejected", invalid.Reason.Code(), invalid.Detail);
                break;
        }
    }
}

internal static class ExitCodes
{
    /// <summary>The run finished; the summary says what happened to each input.</summary>
    public const int Ok = 0;

    /// <summary>Bad arguments: a path that does not exist, a missing value.</summary>
    public const int Usage = 2;

    /// <summary>The settings are invalid; the message names each bad setting.</summary>
    public const int Settings = 3;
}

internal sealed class MapSummary
{
    public int Deliveries { get; set; }

    public int Batches { get; set; }

    /// <summary>outcome → reason (or event name) → count.</summary>
    public SortedDictionary<string, SortedDictionary<string, int>> Outcomes { get; } = new(StringComparer.Ordinal);

    public List<MapItem> Items { get; } = [];

    public void Count(string outcome, string reason)
    {
        if (!Outcomes.TryGetValue(outcome, out var reasons))
        {
            Outcomes[outcome] = reasons = new SortedDictionary<string, int>(StringComparer.Ordinal);
        }

        reasons[reason] = reasons.GetValueOrDefault(reason) + 1;
    }

    public void Add(InputItem input, string outcome, string reason, string detail)
    {
        Count(outcome, reason);
        Items.Add(new MapItem(input.Source, outcome, reason, detail));
    }

    public void Print(TextWriter output, DirectoryInfo? outDir)
    {
        output.WriteLine($"ctmp map: {Deliveries} deliveries, {Batches} batches{(outDir is null ? "" : $" written to {outDir.FullName}")}");
        foreach (var (outcome, reasons) in Outcomes)
        {
            output.WriteLine($"  {outcome,-14} {reasons.Values.Sum(),6}");
            foreach (var (reason, count) in reasons)
            {
                output.WriteLine($"    {reason,-40} {count,6}");
            }
        }

        foreach (var item in Items)
        {
            output.WriteLine($"{item.Source}: {item.Outcome} ({item.Reason}) {item.Detail}");
        }
    }
}

internal sealed record MapItem(string Source, string Outcome, string Reason, string Detail);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(MapSummary))]
internal sealed partial class ToolJsonContext : JsonSerializerContext;
