using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Tests.Infrastructure;

namespace CtMparticle.Functions.Tests;

/// <summary>The Bicep and the commercetools subscription draft agree with the code's setting names and message types.</summary>
public sealed partial class InfrastructureTests
{
    private static string Infra(string path) => File.ReadAllText(Path.Combine(RepositoryRoot.Find(), "infra", path));

    [Fact]
    public void SubscriptionDraft_AsksForExactlyTheMessageTypesTheRelayDecodes()
    {
        var draft = JsonNode.Parse(Infra("commercetools-subscription.json"))!;

        var asked = draft["messages"]!.AsArray().SelectMany(m => m!["types"]!.AsArray().Select(t => (string)t!)).Order(StringComparer.Ordinal);

        Assert.Equal(DeliveryDecoder.SupportedMessageTypes.Order(StringComparer.Ordinal), asked);
        Assert.All(draft["messages"]!.AsArray(), m => Assert.All(m!["types"]!.AsArray(),
            t => Assert.Equal(DeliveryDecoder.ResourceTypeOf((string)t!), (string?)m["resourceTypeId"])));
        Assert.Equal("AzureServiceBus", (string?)draft["destination"]!["type"]);
        Assert.Equal("Platform", (string?)draft["format"]!["type"]);
        Assert.DoesNotContain("SharedAccessKey=", draft.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public void FunctionAppBicep_SetsTheSettingsTheFunctionsRead()
    {
        var bicep = Infra("modules/functionapp.bicep");
        var sample = JsonNode.Parse(File.ReadAllText(Path.Combine(RepositoryRoot.Find(), "local.settings.sample.json")))!["Values"]!.AsObject();

        foreach (var setting in new[] { "CommercetoolsTopic", "CommercetoolsSubscription", "PushSchedule", "RetentionSchedule", "ReconcileSchedule", "Mapping__Environment", "MParticle__DefaultInput", "Commercetools__ProjectKey", "Commercetools__ClientSecretSetting" })
        {
            Assert.True(sample.ContainsKey(setting), $"{setting} is not documented in local.settings.sample.json");
            Assert.Contains($"'{setting}'", bicep, StringComparison.Ordinal);
        }

        // Identity-based connections: the trigger's Connection name, with __fullyQualifiedNamespace.
        Assert.Contains("'ServiceBusConnection__fullyQualifiedNamespace'", bicep, StringComparison.Ordinal);
        Assert.Contains("'Storage__TableServiceUri'", bicep, StringComparison.Ordinal);
    }

    [Fact]
    public void Bicep_HasNoSecretInDefaultsOrOutputs()
    {
        foreach (var file in Directory.GetFiles(Path.Combine(RepositoryRoot.Find(), "infra"), "*.bicep*", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(file);
            Assert.DoesNotMatch(SecretLike(), text);
            foreach (var output in text.Split('\n').Where(l => l.StartsWith("output ", StringComparison.Ordinal)))
            {
                Assert.DoesNotMatch(@"(?i)listKeys|connectionString|secret\b|apiKey|password", output);
            }
        }
    }

    [Fact]
    public void FunctionsHost_KeepsItsLeasesAndPackageInItsOwnAccount()
    {
        // The roles each account's identity holds are read from the compiled ARM (ArmTemplateTests).
        Assert.Contains("AzureWebJobsStorage__accountName', value: hostStorageAccountName", Infra("modules/functionapp.bicep"), StringComparison.Ordinal);
        Assert.Contains("deploymentContainerUrl: hostStorage.outputs.deploymentsContainerUrl", Infra("main.bicep"), StringComparison.Ordinal);
    }

    [Fact]
    public void ServiceBus_NeverHoldsAMessageLongerThanTheRelayRemembersItsEvents()
    {
        var bus = Infra("modules/servicebus.bicep");

        Assert.Contains("var messageTtl = 'P${min(14, dedupeRetentionDays)}D'", bus, StringComparison.Ordinal);
        Assert.Equal(2, Regex.Matches(bus, @"defaultMessageTimeToLive: messageTtl").Count); // topic and subscription
        Assert.Contains("defaultMessageTimeToLive: 'P${dedupeRetentionDays}D'", bus, StringComparison.Ordinal); // the dead letters' queue
        Assert.Contains("forwardDeadLetteredMessagesTo: deadLetters.name", bus, StringComparison.Ordinal);
        Assert.Contains("dedupeRetentionDays: quarantineRetentionDays", Infra("main.bicep"), StringComparison.Ordinal);
    }

    [Fact]
    public void WorkbookAndAlerts_QueryOnlyTheLogFieldsTheRelayWrites()
    {
        // What the relay logs: each event id's template fields (Azure Monitor puts them in customDimensions, beside
        // CategoryName and EventId, which a template field must therefore never be named).
        var templates = typeof(CtMparticle.Telemetry.RelayLog).GetMethods()
            .Select(m => m.GetCustomAttributes(typeof(Microsoft.Extensions.Logging.LoggerMessageAttribute), false).OfType<Microsoft.Extensions.Logging.LoggerMessageAttribute>().SingleOrDefault())
            .OfType<Microsoft.Extensions.Logging.LoggerMessageAttribute>()
            .ToDictionary(a => a.EventId, a => TemplateField().Matches(a.Message).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal));
        Assert.All(templates.Values, fields => Assert.DoesNotContain("EventId", fields));
        Assert.All(templates.Values, fields => Assert.DoesNotContain("CategoryName", fields));

        var queries = MonitoringQueries();
        Assert.True(queries.Count >= 15, $"found {queries.Count} queries");
        Assert.All(queries, q => Assert.Matches(@"^(traces|customMetrics|AzureMetrics) \|", q)); // the tables Azure Monitor fills (docs/deploy.md)
        foreach (var query in queries.Where(q => q.StartsWith("traces", StringComparison.Ordinal) && q.Contains("customDimensions", StringComparison.Ordinal)))
        {
            var ids = EventIdFilter().Matches(query).SelectMany(m => (m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value)
                .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).Select(int.Parse).ToList();
            Assert.All(ids, id => Assert.True(templates.ContainsKey(id), $"the query filters on event id {id}, which the relay never logs: {query}"));
            var allowed = ids.SelectMany(id => templates[id]).Append("CategoryName").Append("EventId").ToHashSet(StringComparer.Ordinal);
            foreach (var field in Dimension().Matches(query).Select(m => m.Groups[1].Value))
            {
                Assert.True(allowed.Contains(field), $"the query reads customDimensions[\"{field}\"], which log(s) {string.Join(", ", ids)} do not write: {query}");
            }
        }
    }

    /// <summary>Every KQL query of the workbook and alerts, with the Bicep variables they start from filled in.</summary>
    internal static List<string> MonitoringQueries()
    {
        var monitoring = Infra("modules/monitoring.bicep");
        var variables = BicepStringVar().Matches(monitoring).ToDictionary(m => "${" + m.Groups[1].Value + "}", m => m.Groups[2].Value, StringComparer.Ordinal);
        return KqlQuery().Matches(monitoring)
            .Select(m => variables.Aggregate(m.Groups[1].Value, (query, v) => query.Replace(v.Key, v.Value, StringComparison.Ordinal)))
            .ToList();
    }

    [GeneratedRegex(@"\{(\w+)(?::[^}]*)?\}")]
    private static partial Regex TemplateField();

    [GeneratedRegex(@"var (relay\w+) = '([^']*)'")]
    private static partial Regex BicepStringVar();

    [GeneratedRegex(@"query: '((?:[^'\\]|\\.)*)'")]
    private static partial Regex KqlQuery();

    [GeneratedRegex(@"EventId (?:== (\d+)|in \(([\d, ]+)\))")]
    private static partial Regex EventIdFilter();

    [GeneratedRegex(@"customDimensions\[""(\w+)""\]")]
    private static partial Regex Dimension();

    [GeneratedRegex(@"(?i)(SharedAccessKey=[A-Za-z0-9+/=]{20,}|AccountKey=[A-Za-z0-9+/=]{20,})")]
    private static partial Regex SecretLike();
}
