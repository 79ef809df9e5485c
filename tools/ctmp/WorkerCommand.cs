using System.CommandLine;
using Azure.Identity;
using Azure.Messaging.ServiceBus;
using CtMparticle.Embedded;

namespace CtMparticle.Tool;

/// <summary>
/// <c>ctmp worker</c>: the relay as a long-running process on a Service Bus subscription (or queue), with the same
/// pipeline as the function app: messages are received in batches (<c>--batch</c>), each batch is settled as one unit
/// of storage work and then completed; a batch that fails is settled message by message, and a message that fails
/// alone is abandoned for redelivery. Pushes on an interval, never while a batch is being settled. Ctrl+C stops after
/// the batch in hand.
/// </summary>
internal static class WorkerCommand
{
    public static Command Create(Option<DirectoryInfo> store, Option<FileInfo?> settings, Option<bool> verbose)
    {
        var azure = new Option<bool>("--azure") { Description = "Keep state in Azure Tables/Blobs (Storage:* settings) instead of the embedded store." };
        var interval = new Option<TimeSpan>("--push-every") { Description = "How often to push to mParticle.", DefaultValueFactory = _ => TimeSpan.FromSeconds(30) };
        var batch = new Option<int>("--batch")
        {
            Description = "At most this many messages received and settled as one unit (one store transaction, or one write-behind flush on Azure) before they are completed, as the function app's maxMessageBatchSize.",
            DefaultValueFactory = _ => MaxBatch,
        };
        batch.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > MaxBatch)
            {
                result.AddError($"--batch must be from 1 to {MaxBatch}.");
            }
        });
        var command = new Command("worker", "Run continuously against a Service Bus namespace (settings ServiceBus:ConnectionString or ServiceBus:FullyQualifiedNamespace, ServiceBus:Topic + ServiceBus:Subscription or ServiceBus:Queue).")
        {
            store, settings, azure, interval, batch, verbose, Commands.StoreFormatOption,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetRequiredValue(store), parse.GetValue(settings), parse.GetValue(azure),
            parse.GetValue(interval), parse.GetValue(batch), parse.GetValue(verbose), parse.GetValue(Commands.StoreFormatOption), cancellationToken));
        return command;
    }

    /// <summary>The function app's <c>maxMessageBatchSize</c> (host.json).</summary>
    private const int MaxBatch = 500;

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

    private static async Task<int> RunAsync(DirectoryInfo store, FileInfo? settings, bool azure, TimeSpan interval, int batch, bool verbose, StoreFormat? format,
        CancellationToken cancellationToken)
    {
        if (!azure && (Commands.FormatClash(store, format) ?? Commands.CompactBeforeStart(store, "worker")) is { } clash)
        {
            return clash;
        }

        await using var host = Commands.TryCreateHost(new RunnerOptions(settings, store, null, azure, verbose, NewStoreFormat: format ?? EmbeddedStore.DefaultFormat), out var exit);
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
        // No prefetch: a prefetched message's lock runs while the batch before it is settled.
        var options = new ServiceBusReceiverOptions { ReceiveMode = ServiceBusReceiveMode.PeekLock, PrefetchCount = 0 };
        await using var receiver = string.IsNullOrWhiteSpace(configuration["ServiceBus:Queue"])
            ? client.CreateReceiver(configuration["ServiceBus:Topic"], configuration["ServiceBus:Subscription"], options)
            : client.CreateReceiver(configuration["ServiceBus:Queue"], options);

        var runner = new RelayRunner(host, Console.Error, TimeProvider.System);
        var summary = new RelaySummary();
        using var turn = new SemaphoreSlim(1); // a batch and a push never share the store's open transaction
        Console.Error.WriteLine($"ctmp worker: processing up to {batch:N0} messages at a time; Ctrl+C stops after the batch in hand.");
        var receiving = ReceiveAsync(receiver, runner, summary, turn, batch, Console.Error, TimeProvider.System, cancellationToken);
        // At the first push interval, then daily; on Azure the function app's daily job keeps the same tables' retention.
        var retention = azure ? null : new DailyRetention(host, turn, "worker", Console.Error);
        try
        {
            while (!cancellationToken.IsCancellationRequested && !receiving.IsCompleted)
            {
                await Task.WhenAny(Task.Delay(interval, TimeProvider.System, cancellationToken), receiving).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (receiving.IsCompleted)
                {
                    break;
                }

                await turn.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    await runner.PushAsync(summary, drain: true, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    turn.Release();
                }

                Console.Error.WriteLine($"ctmp worker: {summary.Inputs:N0} inputs, {summary.EventsDelivered:N0} events delivered so far.");
                if (retention is not null)
                {
                    await retention.RunIfDueAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        await receiving.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (receiving.Exception?.GetBaseException() is { } failure && !cancellationToken.IsCancellationRequested)
        {
            // Not a batch (those are abandoned and come again) but the loop itself: stop, so a supervisor restarts it.
            return Commands.Fail(ExitCodes.Failed, [$"Receiving stopped ({failure.GetType().Name}); start the worker again (a supervisor restarts it)."]);
        }

        return ExitCodes.Ok;
    }

    /// <summary>How long the loop waits after a receive failed (the namespace unreachable, a connection reset) before the next.</summary>
    internal static readonly TimeSpan ReceiveRetryDelay = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Receives up to <paramref name="batch"/> messages at a time, settles them as one unit and completes them only
    /// then. A batch that fails is settled again message by message: what fails alone is abandoned, for Service Bus to
    /// deliver again (every stage is idempotent). Ends when <paramref name="cancellationToken"/> is cancelled, after
    /// the batch in hand.
    /// </summary>
    internal static async Task ReceiveAsync(
        ServiceBusReceiver receiver, RelayRunner runner, RelaySummary summary, SemaphoreSlim turn, int batch, TextWriter errors, TimeProvider time, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            IReadOnlyList<ServiceBusReceivedMessage> messages;
            try
            {
                messages = await receiver.ReceiveMessagesAsync(batch, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                await errors.WriteLineAsync($"ctmp worker: receiving failed ({ex.GetType().Name}); trying again in {ReceiveRetryDelay.TotalSeconds:N0} s.").ConfigureAwait(false);
                await Task.Delay(ReceiveRetryDelay, time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            if (messages.Count == 0)
            {
                continue;
            }

            await turn.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            using var settled = new CancellationTokenSource();
            var renewing = RenewLocksAsync(receiver, messages, time, settled.Token);
            HashSet<ServiceBusReceivedMessage> stored;
            try
            {
                // Not cancelled half-way: a batch is settled whole, then completed (Ctrl+C stops after it).
                stored = new(await SettleAsync(messages, runner, summary, errors).ConfigureAwait(false), ReferenceEqualityComparer.Instance);
            }
            finally
            {
                await settled.CancelAsync().ConfigureAwait(false);
                await renewing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                turn.Release();
            }

            foreach (var message in messages)
            {
                if (!stored.Contains(message))
                {
                    await AbandonAsync(receiver, message).ConfigureAwait(false);
                    continue;
                }

                try
                {
                    await receiver.CompleteMessageAsync(message, CancellationToken.None).ConfigureAwait(false);
                }
                catch (ServiceBusException ex)
                {
                    // Stored already: when its lock ends it comes again, and is counted a redelivery.
                    await errors.WriteLineAsync($"ctmp worker: completing message {message.MessageId} failed ({ex.Reason}); it will be redelivered and recorded as a duplicate.").ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>
    /// Settles a receive as one unit; when that fails, each of its messages alone, so one message that cannot be
    /// settled now (commercetools unreachable for its fetch) does not send its batch-mates back with it until Service
    /// Bus dead-letters them all. A store that fails fails each of them too: the whole receive comes again.
    /// </summary>
    /// <returns>The messages whose outcome is stored (to complete); the others are to be abandoned.</returns>
    private static async Task<IReadOnlyList<ServiceBusReceivedMessage>> SettleAsync(
        IReadOnlyList<ServiceBusReceivedMessage> messages, RelayRunner runner, RelaySummary summary, TextWriter errors)
    {
        static InputItem Input(ServiceBusReceivedMessage m) => new($"servicebus:{m.MessageId}", m.Body.ToArray());
        try
        {
            await runner.SettleBatchAsync([.. messages.Select(Input)], summary, CancellationToken.None).ConfigureAwait(false);
            return messages;
        }
        catch (Exception ex) when (messages.Count > 1)
        {
            // The type only: a storage error's message can name a row, whose key may hold a user's identifier.
            await errors.WriteLineAsync($"ctmp worker: a batch of {messages.Count:N0} message(s) failed ({ex.GetType().Name}); nothing of it was stored; settling its messages one by one.").ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await errors.WriteLineAsync($"ctmp worker: message {messages[0].MessageId} failed ({ex.GetType().Name}); nothing of it was stored, and Service Bus delivers it again.").ConfigureAwait(false);
            return [];
        }

        var stored = new List<ServiceBusReceivedMessage>(messages.Count);
        var failures = new SortedDictionary<string, int>(StringComparer.Ordinal); // by exception type: one line for the batch, not one per message
        foreach (var message in messages)
        {
            try
            {
                await runner.SettleBatchAsync([Input(message)], summary, CancellationToken.None).ConfigureAwait(false);
                stored.Add(message);
            }
            catch (Exception ex)
            {
                failures[ex.GetType().Name] = failures.GetValueOrDefault(ex.GetType().Name) + 1;
            }
        }

        if (failures.Count > 0)
        {
            var why = string.Join(", ", failures.Select(f => $"{f.Key} ×{f.Value:N0}"));
            await errors.WriteLineAsync($"ctmp worker: {failures.Values.Sum():N0} of the batch's {messages.Count:N0} message(s) failed alone too ({why}); Service Bus delivers them again.").ConfigureAwait(false);
        }

        return stored;
    }

    /// <summary>
    /// Keeps the batch's locks while it settles (as the processor this loop replaced renewed them): a lock that would
    /// end within 20 s is renewed, so a slow batch is completed rather than delivered again.
    /// </summary>
    private static async Task RenewLocksAsync(ServiceBusReceiver receiver, IReadOnlyList<ServiceBusReceivedMessage> messages, TimeProvider time, CancellationToken settled)
    {
        while (!settled.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromSeconds(10), time, settled).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            foreach (var message in messages)
            {
                if (settled.IsCancellationRequested)
                {
                    return;
                }

                if (message.LockedUntil - time.GetUtcNow() < TimeSpan.FromSeconds(20))
                {
                    try
                    {
                        await receiver.RenewMessageLockAsync(message, settled).ConfigureAwait(false);
                    }
                    catch (ServiceBusException)
                    {
                        // Lost already: the message comes again, and is recorded as a duplicate.
                    }
                }
            }
        }
    }

    private static async Task AbandonAsync(ServiceBusReceiver receiver, ServiceBusReceivedMessage message)
    {
        try
        {
            await receiver.AbandonMessageAsync(message, cancellationToken: CancellationToken.None).ConfigureAwait(false);
        }
        catch (ServiceBusException)
        {
            // Its lock ends anyway, and it comes again.
        }
    }
}
