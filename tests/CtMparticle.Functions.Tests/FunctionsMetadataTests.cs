using System.Text.Json.Nodes;
using CtMparticle.Tests.Infrastructure;

namespace CtMparticle.Functions.Tests;

/// <summary>
/// The functions.metadata the Worker SDK generated for this build: what the Functions host will index. Built with
/// the stand-in trigger here; the official package must give the same bindings.
/// </summary>
public sealed class FunctionsMetadataTests
{
    private static JsonArray Metadata()
    {
        // This test assembly sits in tests/CtMparticle.Functions.Tests/bin/<Configuration>/net10.0/.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var path = Path.Combine(RepositoryRoot.Find(), "functions", "bin", configuration, "net10.0", "functions.metadata");
        Assert.True(File.Exists(path), $"{path} is missing: build functions/ first.");
        return JsonNode.Parse(File.ReadAllText(path))!.AsArray();
    }

    private static JsonNode Binding(string function) =>
        Metadata().Single(f => (string?)f!["name"] == function)!["bindings"]!.AsArray().First(b => (string?)b!["direction"] == "In")!;

    [Fact]
    public void Metadata_ListsExactlyTheRelaysFunctions()
    {
        Assert.Equal(
            ["CollectEvents", "CommercetoolsIngest", "ConsentReconciliation", "DedupeRetention", "PushToMParticle"],
            Metadata().Select(f => (string?)f!["name"]).Order(StringComparer.Ordinal));
        Assert.All(Metadata(), f => Assert.Equal("dotnet-isolated", (string?)f!["language"]));
    }

    [Fact]
    public void Metadata_IngestIsABatchedServiceBusTopicTrigger()
    {
        var binding = Binding("CommercetoolsIngest");

        Assert.Equal("serviceBusTrigger", (string?)binding["type"]);
        Assert.Equal("In", (string?)binding["direction"]);
        Assert.Equal("%CommercetoolsTopic%", (string?)binding["topicName"]);
        Assert.Equal("%CommercetoolsSubscription%", (string?)binding["subscriptionName"]);
        Assert.Equal("ServiceBusConnection", (string?)binding["connection"]);
        Assert.Equal("Many", (string?)binding["cardinality"]);
        Assert.Equal("Binary", (string?)binding["dataType"]); // the bodies' exact bytes, for quarantine
    }

    [Fact]
    public void Metadata_CollectorIsAnAnonymousHttpTriggerOnV1()
    {
        var binding = Binding("CollectEvents");

        Assert.Equal("httpTrigger", (string?)binding["type"]);
        Assert.Equal("v1/{call}", (string?)binding["route"]);
        Assert.Equal("Anonymous", (string?)binding["authLevel"]);
        Assert.Equal(["post", "options"], binding["methods"]!.AsArray().Select(m => (string?)m));
    }

    [Theory]
    [InlineData("PushToMParticle", "%PushSchedule%")]
    [InlineData("DedupeRetention", "%RetentionSchedule%")]
    [InlineData("ConsentReconciliation", "%ReconcileSchedule%")]
    public void Metadata_TimersReadTheirScheduleFromSettings(string function, string schedule)
    {
        var binding = Binding(function);

        Assert.Equal("timerTrigger", (string?)binding["type"]);
        Assert.Equal(schedule, (string?)binding["schedule"]);
    }
}
