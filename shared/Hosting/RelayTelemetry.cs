using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using CtMparticle.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CtMparticle.Hosting;

/// <summary>
/// Where the relay's telemetry goes: Azure Monitor (the function app: <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c>, with
/// the managed identity when <c>APPLICATIONINSIGHTS_AUTHENTICATION_STRING</c> says <c>Authorization=AAD</c>), an OTLP
/// endpoint (<c>ctmp --otlp URL</c>: Jaeger, Prometheus, the Aspire dashboard), both, or neither.
/// </summary>
internal sealed record TelemetryExport(string? AzureMonitorConnectionString = null, string? ManagedIdentityClientId = null, Uri? OtlpEndpoint = null)
{
    public static TelemetryExport FromFunctionsSettings(IConfiguration configuration)
    {
        var authentication = configuration["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] ?? "";
        var clientId = authentication.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(part => part.Split('=', 2))
            .FirstOrDefault(kv => kv.Length == 2 && kv[0].Equals("ClientId", StringComparison.OrdinalIgnoreCase))?[1];
        return new TelemetryExport(
            string.IsNullOrWhiteSpace(configuration["APPLICATIONINSIGHTS_CONNECTION_STRING"]) ? null : configuration["APPLICATIONINSIGHTS_CONNECTION_STRING"],
            authentication.Contains("Authorization=AAD", StringComparison.OrdinalIgnoreCase) ? clientId ?? "" : null);
    }
}

/// <summary>
/// The relay's telemetry through OpenTelemetry: its logs (categories <c>CtMparticle.*</c> with their event ids and
/// structured fields, never PII: the log messages carry ids only), its metrics (meter <see cref="RelayMetrics.MeterName"/>)
/// and its traces (source <see cref="RelayTracing.SourceName"/>: one span per ingest and per Events API request).
/// </summary>
internal static class RelayTelemetry
{
    public const string ServiceName = "ctmparticle";

    /// <param name="more">Extra readers or exporters (the tests' in-memory ones).</param>
    public static IOpenTelemetryBuilder AddRelayTelemetry(this IServiceCollection services, TelemetryExport export, Action<IOpenTelemetryBuilder>? more = null)
    {
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ServiceName, serviceVersion: typeof(RelayTelemetry).Assembly.GetName().Version?.ToString()))
            .WithMetrics(metrics => metrics.AddMeter(RelayMetrics.MeterName))
            .WithTracing(tracing => tracing.AddSource(RelayTracing.SourceName))
            .WithLogging(logging => { }, options =>
            {
                options.IncludeFormattedMessage = true;
                options.IncludeScopes = true;
            });

        if (export.AzureMonitorConnectionString is { } connection)
        {
            void Configure(AzureMonitorExporterOptions options)
            {
                options.ConnectionString = connection;
                if (export.ManagedIdentityClientId is { } clientId)
                {
                    // Telemetry accepted only from the app's identity (Monitoring Metrics Publisher on the component); no
                    // ClientId in the authentication string means the system-assigned one.
                    options.Credential = new ManagedIdentityCredential(
                        clientId.Length > 0 ? ManagedIdentityId.FromUserAssignedClientId(clientId) : ManagedIdentityId.SystemAssigned);
                }
            }

            telemetry.WithMetrics(metrics => metrics.AddAzureMonitorMetricExporter(Configure))
                .WithTracing(tracing => tracing.AddAzureMonitorTraceExporter(Configure))
                .WithLogging(logging => logging.AddAzureMonitorLogExporter(Configure));
        }

        if (export.OtlpEndpoint is { } endpoint)
        {
            void Configure(OtlpExporterOptions options, string signal)
            {
                options.Protocol = OtlpExportProtocol.HttpProtobuf;
                options.Endpoint = new Uri(endpoint, signal);
            }

            telemetry.WithMetrics(metrics => metrics.AddOtlpExporter((exporter, reader) =>
                {
                    Configure(exporter, "v1/metrics");
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 5_000;
                }))
                .WithTracing(tracing => tracing.AddOtlpExporter(o => Configure(o, "v1/traces")))
                .WithLogging(logging => logging.AddOtlpExporter(o => Configure(o, "v1/logs")));
        }

        more?.Invoke(telemetry);
        services.Configure<LoggerFilterOptions>(filters => filters.AddFilter<OpenTelemetryLoggerProvider>("CtMparticle", LogLevel.Information));
        return telemetry;
    }
}
