using Azure.Messaging.ServiceBus;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// A queue with Service Bus's peek-lock contract, behind the SDK's own <see cref="ServiceBusReceiver"/> (whose
/// protected constructor and virtual members exist for this): a received message is locked until it is completed or
/// abandoned; an abandoned one comes again with its delivery count raised, and is dead-lettered once that count
/// reaches <see cref="MaxDeliveryCount"/>; completing with a lost lock throws <see cref="ServiceBusFailureReason.MessageLockLost"/>
/// and the message comes again. No Service Bus emulator runs here (it needs Docker and SQL Server), so this is the
/// broker the worker's receive loop is tested against.
/// </summary>
internal sealed class InMemoryServiceBusQueue : ServiceBusReceiver
{
    private readonly Lock gate = new();
    private readonly LinkedList<Entry> available = new();
    private readonly Dictionary<Guid, Entry> locked = [];
    private readonly List<string> completed = [];
    private readonly List<string> deadLettered = [];
    private readonly HashSet<string> loseLockOnce = new(StringComparer.Ordinal);
    private readonly TimeProvider time;
    private int failReceives;

    public InMemoryServiceBusQueue(TimeProvider time) => this.time = time;

    private sealed class Entry(string id, byte[] body)
    {
        public string Id { get; } = id;

        public byte[] Body { get; } = body;

        public int DeliveryCount { get; set; }
    }

    /// <summary>As the entity's MaxDeliveryCount (10 by default on Azure).</summary>
    public int MaxDeliveryCount { get; init; } = 10;

    /// <summary>How many receive calls were made (failed ones included).</summary>
    public int Receives { get; private set; }

    /// <summary>The largest number of messages one receive handed out.</summary>
    public int LargestReceive { get; private set; }

    public IReadOnlyList<string> Completed
    {
        get
        {
            lock (gate)
            {
                return [.. completed];
            }
        }
    }

    public IReadOnlyList<string> DeadLettered
    {
        get
        {
            lock (gate)
            {
                return [.. deadLettered];
            }
        }
    }

    /// <summary>Nothing waits to be received and nothing is locked: every message was completed or dead-lettered.</summary>
    public bool Drained
    {
        get
        {
            lock (gate)
            {
                return available.Count == 0 && locked.Count == 0;
            }
        }
    }

    public void Send(string messageId, byte[] body)
    {
        lock (gate)
        {
            available.AddLast(new Entry(messageId, body));
        }
    }

    /// <summary>The next <paramref name="count"/> receives fail as an unreachable namespace does.</summary>
    public void FailNextReceives(int count) => failReceives = count;

    /// <summary>The first completion of this message finds its lock lost (it expired while the batch was settled).</summary>
    public void LoseLockOnFirstCompletion(string messageId)
    {
        lock (gate)
        {
            loseLockOnce.Add(messageId);
        }
    }

    public override async Task<IReadOnlyList<ServiceBusReceivedMessage>> ReceiveMessagesAsync(
        int maxMessages, TimeSpan? maxWaitTime = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (gate)
        {
            Receives++;
            if (failReceives > 0)
            {
                failReceives--;
                throw new ServiceBusException("The namespace could not be reached.", ServiceBusFailureReason.ServiceCommunicationProblem);
            }

            var messages = new List<ServiceBusReceivedMessage>();
            while (messages.Count < maxMessages && available.First?.Value is { } first)
            {
                available.RemoveFirst();
                first.DeliveryCount++;
                var token = Guid.NewGuid();
                locked[token] = first;
                messages.Add(ServiceBusModelFactory.ServiceBusReceivedMessage(
                    body: BinaryData.FromBytes(first.Body), messageId: first.Id, lockTokenGuid: token, deliveryCount: first.DeliveryCount,
                    lockedUntil: time.GetUtcNow().AddSeconds(60)));
            }

            if (messages.Count > 0)
            {
                LargestReceive = Math.Max(LargestReceive, messages.Count);
                return messages;
            }
        }

        // Nothing to hand out: wait a little (not the whole maxWaitTime, so tests stop promptly), as a long poll would.
        await Task.Delay(TimeSpan.FromMilliseconds(10), cancellationToken).ConfigureAwait(false);
        return [];
    }

    public override Task CompleteMessageAsync(ServiceBusReceivedMessage message, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            var entry = Locked(message);
            locked.Remove(message.LockTokenGuid());
            if (loseLockOnce.Remove(entry.Id))
            {
                available.AddLast(entry);
                throw new ServiceBusException("The lock supplied is invalid: it expired, or the message was already removed.", ServiceBusFailureReason.MessageLockLost);
            }

            completed.Add(entry.Id);
        }

        return Task.CompletedTask;
    }

    public override Task AbandonMessageAsync(ServiceBusReceivedMessage message, IDictionary<string, object>? propertiesToModify = null, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            var entry = Locked(message);
            locked.Remove(message.LockTokenGuid());
            if (entry.DeliveryCount >= MaxDeliveryCount)
            {
                deadLettered.Add(entry.Id);
            }
            else
            {
                available.AddLast(entry);
            }
        }

        return Task.CompletedTask;
    }

    public override Task RenewMessageLockAsync(ServiceBusReceivedMessage message, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            Locked(message);
        }

        return Task.CompletedTask;
    }

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private Entry Locked(ServiceBusReceivedMessage message) =>
        locked.TryGetValue(message.LockTokenGuid(), out var entry)
            ? entry
            : throw new ServiceBusException("The lock supplied is invalid.", ServiceBusFailureReason.MessageLockLost);
}

internal static class ReceivedMessageExtensions
{
    public static Guid LockTokenGuid(this ServiceBusReceivedMessage message) => Guid.Parse(message.LockToken);
}
