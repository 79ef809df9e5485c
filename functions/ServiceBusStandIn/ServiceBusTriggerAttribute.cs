// A stand-in for the Service Bus trigger attribute of Microsoft.Azure.Functions.Worker.Extensions.ServiceBus,
// which this project's NuGet feed does not serve (see the README). It has the official attribute's
// namespace, name, constructors and properties, so the function source is the same in both builds and the Worker
// SDK writes the same "serviceBusTrigger" binding into functions.metadata. Deployment builds pass
// -p:UseOfficialServiceBusExtension=true, which references the official package and leaves this file out.
// It deliberately carries no [assembly: ExtensionInformation]: that would make the build restore the host
// extension, which the feed does not serve either.
using Microsoft.Azure.Functions.Worker.Extensions.Abstractions;

namespace Microsoft.Azure.Functions.Worker;
/// <summary>Triggers a function from a Service Bus queue, or a topic's subscription.</summary>

public sealed class ServiceBusTriggerAttribute : TriggerBindingAttribute, ISupportCardinality
{
    // Not named like the property: the metadata generator finds IsBatched by a case-insensitive, single-match lookup.
    private bool batched;

    /// <summary>Binds to a queue.</summary>
    public ServiceBusTriggerAttribute(string queueName) => QueueName = queueName;

    /// <summary>Binds to a subscription of a topic.</summary>
    public ServiceBusTriggerAttribute(string topicName, string subscriptionName)
    {
        TopicName = topicName;
        SubscriptionName = subscriptionName;
    }

    /// <summary>The app setting (or setting prefix, for identity-based connections) of the namespace.</summary>
    public string? Connection { get; set; }

    public string? QueueName { get; }

    public string? TopicName { get; }

    public string? SubscriptionName { get; }

    public bool IsSessionsEnabled { get; set; }

    /// <summary>Receive messages in batches (<c>string[]</c>) instead of one by one.</summary>
    public bool IsBatched
    {
        get => batched;
        set => batched = value;
    }

    Cardinality ISupportCardinality.Cardinality
    {
        get => batched ? Cardinality.Many : Cardinality.One;
        set => batched = value == Cardinality.Many;
    }
}
