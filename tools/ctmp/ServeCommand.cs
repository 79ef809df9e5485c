using System.CommandLine;
using System.Net;
using CtMparticle.Configuration;
using CtMparticle.Delivery;
using CtMparticle.Embedded;
using CtMparticle.Sources.Collector;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CtMparticle.Tool;

/// <summary>
/// <c>ctmp serve</c>: the storefront collector (Segment HTTP Tracking API at <c>/v1/*</c>) on the embedded store,
/// pushing on an interval. Ctrl-C or SIGTERM stops accepting, drains the outbox once more and exits 0.
/// </summary>
internal static class ServeCommand
{
    public static Command Create(Option<DirectoryInfo> store, Option<FileInfo?> settings, Option<bool> verbose)
    {
        var port = new Option<int>("--port") { Description = "TCP port (0 picks a free one).", DefaultValueFactory = _ => 8321 };
        var host = new Option<string>("--host") { Description = "Address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Send nothing: write each bulk request body to --out instead." };
        var output = new Option<DirectoryInfo?>("--out") { Description = "With --dry-run: the folder for the request bodies (default out/requests)." };
        var pushEvery = new Option<TimeSpan>("--push-every")
        {
            Description = "How often stored events are pushed (hh:mm:ss).",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(5),
        };
        var demo = new Option<bool>("--demo")
        {
            Description = "Also serve the demo shop at /demo/: every click is sent by the first-party web tracker to this collector (first source's write key).",
        };
        var command = new Command("serve", "Serve the storefront collector (Segment-compatible /v1/track, /v1/batch, …) and push what it stores.")
        {
            port, host, store, settings, dryRun, output, pushEvery, demo, verbose, Commands.OtlpOption, Commands.StoreFormatOption,
        };
        command.SetAction((parse, cancellationToken) => ServeAsync(
            new ServeOptions(parse.GetValue(port), parse.GetRequiredValue(host), parse.GetRequiredValue(store), parse.GetValue(settings), parse.GetValue(dryRun),
                parse.GetValue(output), parse.GetValue(pushEvery), parse.GetValue(demo), parse.GetValue(verbose), parse.GetValue(Commands.OtlpOption),
                parse.GetValue(Commands.StoreFormatOption)), cancellationToken));
        return command;
    }

    private sealed record ServeOptions(
        int Port, string Address, DirectoryInfo Store, FileInfo? Settings, bool DryRun, DirectoryInfo? Output, TimeSpan PushEvery, bool Demo, bool Verbose, string? Otlp, StoreFormat? Format);

    private static async Task<int> ServeAsync(ServeOptions serve, CancellationToken cancellationToken)
    {
        var (port, address, store, settings, dryRun, output, pushEvery, verbose) =
            (serve.Port, serve.Address, serve.Store, serve.Settings, serve.DryRun, serve.Output, serve.PushEvery, serve.Verbose);
        if (!IPAddress.TryParse(address, out var ip))
        {
            return Commands.Fail(ExitCodes.Usage, [$"--host '{address}' is not an IP address (use 127.0.0.1, or 0.0.0.0 to listen on every interface)."]);
        }

        if (port is < 0 or > 65_535 || pushEvery <= TimeSpan.Zero)
        {
            return Commands.Fail(ExitCodes.Usage, ["--port is 0–65535 and --push-every is positive (hh:mm:ss)."]);
        }

        if (!dryRun && output is not null)
        {
            return Commands.Fail(ExitCodes.Usage, ["--out goes with --dry-run (without it, requests are sent to mParticle)."]);
        }

        if (!Commands.TryOtlp(serve.Otlp, out var otlp))
        {
            return Commands.Fail(ExitCodes.Usage, [Commands.OtlpUsage]);
        }

        if ((Commands.FormatClash(store, serve.Format) ?? Commands.CompactBeforeStart(store, "serve")) is { } clash)
        {
            return clash;
        }

        await using var relay = Commands.TryCreateHost(
            new RunnerOptions(settings, store, dryRun ? output ?? new DirectoryInfo(Path.Combine("out", "requests")) : null, Verbose: verbose, Otlp: otlp,
                NewStoreFormat: serve.Format ?? EmbeddedStore.DefaultFormat), out var exit);
        if (relay is null)
        {
            return exit;
        }

        var embedded = relay.Embedded ?? throw new InvalidOperationException("ctmp serve runs on the embedded store (--store).");
        var limits = relay.Get<IOptions<CollectorOptions>>().Value;
        if (limits.Sources.Length == 0)
        {
            return Commands.Fail(ExitCodes.Settings, ["No collector source is configured (Collector:Sources); every call would be refused."]);
        }

        var keyless = limits.Sources.Where(s => string.IsNullOrEmpty(relay.Configuration[s.WriteKeySetting])).ToArray();
        if (keyless.Length == limits.Sources.Length)
        {
            return Commands.Fail(ExitCodes.Settings, [$"No collector source has a write key: the setting {keyless[0].WriteKeySetting} is empty. Set it with the CTMP_ prefix (CTMP_{keyless[0].WriteKeySetting}=...) and send it as the Basic user name."]);
        }

        foreach (var source in keyless)
        {
            await Console.Error.WriteLineAsync($"collector source {source.Name}: its write key setting {source.WriteKeySetting} is empty; its calls are refused (401)").ConfigureAwait(false);
        }

        var summary = new RelaySummary();
        var runner = new RelayRunner(relay, Console.Error, TimeProvider.System);
        using var gate = new SemaphoreSlim(1, 1); // one writer: ingest (a group of requests per transaction) and the push's store work take turns
        var writer = new ServeWriter(embedded, gate, async settled =>
        {
            var receivedBefore = new bool[settled.Calls.Count];
            for (var i = 0; i < receivedBefore.Length; i++)
            {
                var (input, outcome) = settled.Calls[i];
                receivedBefore[i] = await runner.RecordAsync($"collector:{input.Source}", outcome, summary, CancellationToken.None).ConfigureAwait(false);
            }

            return settled.WithReceivedBefore(receivedBefore);
        }, Console.Error);
        writer.Start();
        var view = new TurnTakingPushStore(embedded, gate);
        var push = RelayRunner.PushOver(relay.Services, view);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(ip, port);
            // No server limit: the collector reads at most one byte over Collector:MaxRequestBytes and answers 413 itself, in
            // JSON, however large the declared length (a server limit answered a bare 413 before the collector saw it).
            k.Limits.MaxRequestBodySize = null;
            k.AddServerHeader = false;
        });

        await using var app = builder.Build();
        if (serve.Demo)
        {
            var keyed = limits.Sources.First(s => !string.IsNullOrEmpty(relay.Configuration[s.WriteKeySetting]));
            var commercetools = relay.Get<CtMparticle.Sources.Commercetools.CommercetoolsClient>().IsConfigured;
            DemoSite.Map(app, relay.Configuration[keyed.WriteKeySetting]!, commercetools ? relay.Get<CtMparticle.Sources.Commercetools.CommercetoolsClient> : null);
        }

        app.Run(async http =>
        {
            var path = http.Request.Path.Value ?? "";
            var call = path.StartsWith("/v1/", StringComparison.Ordinal) ? path[4..].TrimEnd('/') : "";
            var body = await CollectorCalls.ReadBodyAsync(http.Request.Body, limits.MaxRequestBytes + 1, http.RequestAborted).ConfigureAwait(false);
            // A page of this server (the demo) calls it from its own origin: no cross-origin rule applies to that.
            var origin = http.Request.Headers.Origin.FirstOrDefault();
            var sameOrigin = origin is not null && string.Equals(origin, $"{http.Request.Scheme}://{http.Request.Host}", StringComparison.OrdinalIgnoreCase);
            var request = new CollectorRequest(http.Request.Method, call, http.Request.Headers.Authorization.FirstOrDefault(), sameOrigin ? null : origin, body);

            // Requests are decoded, enriched, mapped and checked against the plan side by side; the writer settles
            // them and commits what queued up together, and each is answered only after its commit.
            var result = await relay.Get<CollectorCalls>().HandleAsync(request, writer.WriteAsync, CancellationToken.None).ConfigureAwait(false);
            http.Response.StatusCode = result.Response.Status;
            foreach (var (name, value) in result.Response.Headers)
            {
                http.Response.Headers[name] = value;
            }

            if (result.Response.Body.Length > 0)
            {
                http.Response.ContentType = "application/json";
                await http.Response.Body.WriteAsync(result.Response.Body, http.RequestAborted).ConfigureAwait(false);
            }
        });

        await app.StartAsync(CancellationToken.None).ConfigureAwait(false);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Console.WriteLine($"listening on {bound}");
        if (serve.Demo)
        {
            Console.WriteLine($"demo shop: {bound}/demo/ (accept analytics in the banner, then click around; once you stop the server, ctmp report --store {store.FullName} shows what arrived)");
        }

        Console.Out.Flush();

        var retention = new DailyRetention(relay, gate, "serve", Console.Error); // at the first push interval, then daily
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(pushEvery, TimeProvider.System, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                await PushAsync(push, view, summary, CancellationToken.None).ConfigureAwait(false);
                await retention.RunIfDueAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            // Stop accepting and let requests in progress finish, then drain what they stored once more.
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await writer.StopAsync().ConfigureAwait(false);
            await PushAsync(push, view, summary, CancellationToken.None, until: TimeProvider.System.GetUtcNow() + DrainAtStop).ConfigureAwait(false);
        }

        var stats = await relay.Events.PendingStatsAsync(CancellationToken.None).ConfigureAwait(false);
        Console.WriteLine(SummaryLine(summary.Inputs, summary.Outcomes, summary.EventsDelivered, summary.Requests, stats.Count, store.FullName));
        return ExitCodes.Ok;
    }

    /// <summary>The line serve prints when it stops: the calls by outcome (none: nothing more), what was delivered, what is pending.</summary>
    internal static string SummaryLine(long calls, IEnumerable<KeyValuePair<string, long>> outcomes, long delivered, long requests, long pending, string store)
    {
        var byOutcome = string.Join(", ", outcomes.Where(o => o.Value > 0).Select(o => $"{o.Key} {o.Value:N0}"));
        return $"ctmp serve: {calls:N0} call(s){(byOutcome.Length > 0 ? ": " + byOutcome : "")}; " +
            $"events delivered {delivered:N0} in {requests:N0} request(s), pending {pending:N0}; store {store}";
    }

    /// <summary>
    /// The drain after Ctrl-C or SIGTERM starts no push run after this (inside <see cref="Commands.TerminationGrace"/>):
    /// what is still pending stays in the store, durable, for the next start.
    /// </summary>
    private static readonly TimeSpan DrainAtStop = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Pushes until a run makes no progress (or, draining at a stop, until <paramref name="until"/>). Its store work
    /// takes turns with the writer's groups one operation at a time (<see cref="TurnTakingPushStore"/>), so calls are
    /// settled and answered while its requests wait for mParticle; a purchase merge into a pending event the running
    /// run read is refused until the run is over.
    /// </summary>
    private static async Task PushAsync(PushPipeline push, TurnTakingPushStore view, RelaySummary summary, CancellationToken cancellationToken, DateTimeOffset? until = null)
    {
        for (var round = 0; round < 1_000; round++)
        {
            if (TimeProvider.System.GetUtcNow() >= until)
            {
                await Console.Error.WriteLineAsync($"ctmp serve: stopped draining after {DrainAtStop.TotalSeconds:N0} s; what is pending stays in the store for the next start").ConfigureAwait(false);
                return;
            }

            try
            {
                var report = await RelayRunner.PushRoundAsync(push, summary, cancellationToken).ConfigureAwait(false);
                if (report.Delivered + report.Withdrawn + report.Quarantined == 0)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or TimeoutException or Microsoft.Data.Sqlite.SqliteException or CtMparticle.Storage.TransientFailureException)
            {
                // The next interval tries again; what was not sent stays in the outbox.
                await Console.Error.WriteLineAsync($"push failed ({ex.GetType().Name}); retrying at the next interval").ConfigureAwait(false);
                return;
            }
            finally
            {
                view.EndRun();
            }
        }
    }
}
