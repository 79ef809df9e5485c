using CtMparticle.Functions;
using CtMparticle.Hosting;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);
builder.Services.AddRelayFunctions(builder.Configuration);
// The worker's own logs (categories CtMparticle.*, event ids), metrics and spans go to Application Insights from here,
// not through the host (host.json: telemetryMode OpenTelemetry), so the workbook and alerts find them under their names.
builder.Services.AddRelayTelemetry(TelemetryExport.FromFunctionsSettings(builder.Configuration)).UseFunctionsWorkerDefaults();
builder.Build().Run();
