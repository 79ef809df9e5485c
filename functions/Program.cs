using CtMparticle.Functions;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);
builder.Services.AddRelayFunctions(builder.Configuration);
builder.Build().Run();
