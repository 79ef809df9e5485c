using System.CommandLine;
using Azure.Identity;
using Azure.Messaging.ServiceBus;

namespace CtMparticle.Tool;

/// <summary>
/// <c>ctmp worker</c>: the relay as a long-running process on a Service Bus subscription (or queue), with the same
/// pipeline as the function app: each message is ingested and completed; a transient failure abandons it for
/// redelivery. Pushes on an interval. Ctrl+C stops after the message in hand.
/// </summary>
internal static class WorkerCommand
{
    public static Command Create(Option<DirectoryInfo> store, Option<FileInfo?> settings, Option<bool> verbose)
    {
        var azure = new Option<bool>("--azure") { Description = "Keep state in Azure Tables/Blobs (Storage:* settings) instead of the embedded store." };
        var interval = new Option<TimeSpan>("--push-every") { Description = "How often to push to mParticle.", DefaultValueFactory = _ => TimeSpan.FromSeconds(30) };
        var command = new Command("worker", "Run continuously against a Service Bus namespace (settings ServiceBus:ConnectionString or ServiceBus:FullyQualifiedNamespace, ServiceBus:Topic + ServiceBus:Subscription or ServiceBus:Queue).")
        {
            store, settings, azure, interval, verbose,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetRequiredValue(store), parse.GetValue(settings), parse.GetValue(azure),
            parse.GetValue(interval), parse.GetValue(verbose), cancellationToken));
        return command;
    }

    internal static string? Problem(Microsoft.Extensions.Configuration.IConfiguration configuration)
    {
        var connection = configuration["ServiceBus:ConnectionString"];
        var fqdn = configuration["ServiceBus:FullyQualifiedNamespace"];
        if (string.IsNullOrWhiteSpace(connection) && string.IsNullOrWhiteSpace(fqdn))
        {
            return "Set ServiceBus:ConnectionString (CTMP_ServiceBus__ConnectionString) or ServiceBus:FullyQualifiedNamespace (with an Azure identity).";
        }

        var queue = configuration["ServiceBus:Queue"];
        var topic = configuration["ServiceBus:Topic"];
        var subscription = configuration["ServiceBus:Subscription"];
        return string.IsNullOrWhiteSpace(queue) && (string.IsNullOrWhiteSpace(topic) || string.IsNullOrWhiteSpace(subscription))
            ? "Set ServiceBus:Queue, or ServiceBus:Topic and ServiceBus:Subscription."
            : null;
    }

    private static async Task<int> RunAsync(DirectoryInfo store, FileInfo? settings, bool azure, TimeSpan interval, bool verbose, CancellationToken cancellationToken)
    {
        await using var host = Commands.TryCreateHost(new RunnerOptions(settings, store, null, azure, verbose), out var exit);
        if (host is null)
        {
            return exit;
        }

        if (Problem(host.Configuration) is { } problem)
        {
            return Commands.Fail(ExitCodes.Settings, [problem]);
        }

        var configuration = host.Configuration;
        await using var client = string.IsNullOrWhiteSpace(configuration["ServiceBus:ConnectionString"])
            ? new ServiceBusClient(configuration["ServiceBus:FullyQualifiedNamespace"], new DefaultAzureCredential())
            : new ServiceBusClient(configuration["ServiceBus:ConnectionString"]);
        var options = new ServiceBusProcessorOptions { AutoCompleteMessages = false, MaxConcurrentCalls = 1, PrefetchCount = 0 };
        await using var processor = string.IsNullOrWhiteSpace(configuration["ServiceBus:Queue"])
            ? client.CreateProcessor(configuration["ServiceBus:Topic"], configuration["ServiceBus:Subscription"], options)
            : client.CreateProcessor(configuration["ServiceBus:Queue"], options);

        var runner = new RelayRunner(host, Console.Error, TimeProvider.System);
        var summary = new RelaySummary();
        processor.ProcessMessageAsync += async args =>
        {
            var message = args.Message;
            var input = new InputItem($"servicebus:{message.MessageId}", message.Body.ToArray());
            await runner.IngestOneAsync(input, summary, args.CancellationToken).ConfigureAwait(false);
            await args.CompleteMessageAsync(message, args.CancellationToken).ConfigureAwait(false);
        };
        processor.ProcessErrorAsync += args =>
        {
            // The message (if any) is abandoned by the processor and redelivered; the error is transient by design.
            Console.Error.WriteLine($"ctmp worker: {args.ErrorSource} failed ({args.Exception.GetType().Name}); the message will be redelivered.");
            return Task.CompletedTask;
        };

        await processor.StartProcessingAsync(cancellationToken).ConfigureAwait(false);
        Console.Error.WriteLine("ctmp worker: processing; Ctrl+C stops.");
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(interval, TimeProvider.System, cancellationToken).ConfigureAwait(false);
                await runner.PushAsync(summary, drain: true, cancellationToken).ConfigureAwait(false);
                Console.Error.WriteLine($"ctmp worker: {summary.Inputs:N0} inputs, {summary.EventsDelivered:N0} events delivered so far.");
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        await processor.StopProcessingAsync(CancellationToken.None).ConfigureAwait(false);
        return ExitCodes.Ok;
    }
}
