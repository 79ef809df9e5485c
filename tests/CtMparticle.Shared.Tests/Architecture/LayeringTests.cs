using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace CtMparticle.Tests.Architecture;

/// <summary>
/// The dependency rule of docs/architecture.md, checked on the source: namespaces of the core form no cycle, the
/// shared stages know no source and no storage technology, and only the composition root (Hosting) sees everything.
/// </summary>
public sealed partial class LayeringTests
{
    private static readonly string Root = FindRoot();

    /// <summary>What each namespace of shared/ may use (besides itself, its parents and the root vocabulary).</summary>
    private static readonly Dictionary<string, string[]> Allowed = new(StringComparer.Ordinal)
    {
        ["Tracking"] = [],
        ["Configuration"] = ["Tracking"],
        ["Identity"] = ["Configuration", "Tracking"],
        ["Consent"] = ["Configuration", "Tracking"],
        ["Telemetry"] = [],
        ["Storage"] = ["Configuration", "Consent", "Telemetry", "Tracking"],
        ["Storage.Azure"] = ["Configuration", "Consent", "Identity", "Storage", "Tracking"],
        ["Delivery"] = ["Configuration", "Consent", "Identity", "Storage", "Telemetry", "Tracking"],
        ["Governance"] = ["Configuration", "Delivery", "Tracking"],
        ["Pipeline"] = ["Configuration", "Consent", "Governance", "Identity", "Storage", "Telemetry", "Tracking"],
        ["Sources.Commercetools"] = ["Configuration", "Consent", "Identity", "Pipeline", "Storage", "Telemetry", "Tracking"],
        ["Sources.Collector"] = ["Configuration", "Pipeline", "Sources.Commercetools", "Storage", "Telemetry", "Tracking"],
        ["Hosting"] = ["Configuration", "Consent", "Delivery", "Governance", "Identity", "Pipeline", "Sources.Collector", "Sources.Commercetools", "Storage", "Storage.Azure", "Telemetry", "Tracking"],
    };

    [Fact]
    public void SharedNamespaces_UseOnlyWhatTheLayeringAllows()
    {
        var problems = new List<string>();
        foreach (var (file, ns, uses) in SharedFiles())
        {
            if (!Allowed.TryGetValue(ns, out var allowed))
            {
                problems.Add($"{file}: namespace CtMparticle.{ns} is not in the layering (docs/architecture.md); add it there and here.");
                continue;
            }

            problems.AddRange(uses.Where(u => u != ns && !allowed.Contains(u)).Select(u => $"{file}: CtMparticle.{ns} uses CtMparticle.{u}"));
        }

        Assert.Empty(problems);
    }

    [Fact]
    public void Layering_HasNoCycle()
    {
        // Depth-first search over the allowed graph: the source check above keeps the code inside it.
        var state = new Dictionary<string, int>(StringComparer.Ordinal);
        bool Cyclic(string node)
        {
            switch (state.GetValueOrDefault(node))
            {
                case 1:
                    return true;
                case 2:
                    return false;
            }

            state[node] = 1;
            var cyclic = Allowed[node].Any(Cyclic);
            state[node] = 2;
            return cyclic;
        }

        Assert.DoesNotContain(Allowed.Keys, Cyclic);
    }

    [Fact]
    public void Shared_NeverReferencesTheFunctionsHostOrTheEmbeddedStore()
    {
        var sources = SharedFiles().Select(f => File.ReadAllText(Path.Combine(Root, f.File)));
        Assert.DoesNotContain(sources, s => s.Contains("Microsoft.Azure.Functions", StringComparison.Ordinal) || s.Contains("Microsoft.Data.Sqlite", StringComparison.Ordinal));
        Assert.DoesNotContain(PackageAndProjectReferences("shared/CtMparticle.Shared.csproj"), r => r.Contains("Functions", StringComparison.Ordinal) || r.Contains("Sqlite", StringComparison.Ordinal) || r.Contains("embedded", StringComparison.Ordinal));
    }

    [Fact]
    public void FunctionApp_DoesNotReferenceTheEmbeddedStore()
    {
        Assert.DoesNotContain(PackageAndProjectReferences("functions/CtMparticle.Functions.csproj"), r => r.Contains("embedded", StringComparison.OrdinalIgnoreCase) || r.Contains("Sqlite", StringComparison.Ordinal));
    }

    [Fact]
    public void Shared_HasNoPublicTypes()
    {
        var publicTypes = SharedFiles()
            .SelectMany(f => PublicType().Matches(File.ReadAllText(Path.Combine(Root, f.File))).Select(m => $"{f.File}: {m.Value}"))
            .ToArray();
        Assert.Empty(publicTypes);
    }

    /// <summary>
    /// The fields a log line may carry: ids of messages, events, orders, customers and requests, types, reasons,
    /// counts and times. Never a value that names a person (an e-mail or its hash, an anonymous, device or advertising
    /// id, a name, an address): a new field goes here only after asking that question.
    /// </summary>
    private static readonly HashSet<string> LogFields = new(StringComparer.Ordinal)
    {
        "Action", "Attached", "BackoffSeconds", "Batches", "Blocked", "Bytes", "Changed", "Complete", "Count", "CustomerId", "Customers",
        "Cutoff", "Deferred", "Delivered", "Duplicates", "EventName", "ExceptionType", "IdentityType", "Input", "LatencyMs", "Limit",
        "Location", "MessageId", "MessageType", "OldestAgeSeconds", "OrderId", "PauseSeconds", "PaymentCount", "Pending", "Problem",
        "Quarantined", "Read", "Reason", "Regime", "Region", "RequestId", "Requests", "ResourceId", "ResourceTypeId", "RetryAfterSeconds",
        "Rule", "RulesVersion", "Source", "Stage", "Status", "Stored", "TrackingEventId", "TransportError", "Until", "WindowDays", "What",
        "Why", "Withdrawn", "Withheld",
    };

    [Fact]
    public void RelayLogs_NeverTakeAnIdentifiersValue()
    {
        var sources = Directory.EnumerateFiles(Root, "*.cs", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(Root, p).Replace('\\', '/'))
            .Where(p => !p.StartsWith("tests/", StringComparison.Ordinal) && !p.Contains("/obj/", StringComparison.Ordinal) && !p.Contains("/bin/", StringComparison.Ordinal))
            .Select(p => (File: p, Text: File.ReadAllText(Path.Combine(Root, p))))
            .ToList();
        var templates = sources.SelectMany(s => LoggerMessageTemplate().Matches(s.Text).Select(m => (s.File, Template: m.Groups[1].Value))).ToList();

        var unknown = templates.SelectMany(t => Placeholder().Matches(t.Template).Select(m => m.Groups[1].Value).Where(f => !LogFields.Contains(f)).Select(f => $"{t.File}: {{{f}}}")).ToArray();

        var attributes = sources.Sum(s => s.Text.Split("[LoggerMessage(").Length - 1);
        Assert.True(attributes > 40 && templates.Count == attributes, $"read {templates.Count} templates of {attributes} [LoggerMessage] attributes: the scan is broken");
        Assert.Empty(unknown);
    }

    private static IEnumerable<(string File, string Namespace, IReadOnlyList<string> Uses)> SharedFiles()
    {
        foreach (var path in Directory.EnumerateFiles(Path.Combine(Root, "shared"), "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(Root, path).Replace('\\', '/');
            if (relative.Contains("/obj/", StringComparison.Ordinal) || relative.Contains("/bin/", StringComparison.Ordinal))
            {
                continue;
            }

            var text = File.ReadAllText(path);
            var ns = NamespaceLine().Match(text) is { Success: true } m ? m.Groups[1].Value : "";
            if (ns.Length == 0)
            {
                continue; // the root vocabulary (Reason), visible everywhere
            }

            yield return (relative, ns, UsingLine().Matches(text).Select(u => u.Groups[1].Value).ToArray());
        }
    }

    private static IEnumerable<string> PackageAndProjectReferences(string project) =>
        XDocument.Load(Path.Combine(Root, project)).Descendants()
            .Where(e => e.Name.LocalName is "PackageReference" or "ProjectReference")
            .Select(e => (string?)e.Attribute("Include") ?? "");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CtMparticle.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The tests run inside the repository; CtMparticle.sln was not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"\[LoggerMessage\([^""]*""((?:[^""\\]|\\.)*)""")]
    private static partial Regex LoggerMessageTemplate();

    [GeneratedRegex(@"\{(\w+)(?::[^}]*)?\}")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"^namespace CtMparticle\.([\w.]+);", RegexOptions.Multiline)]
    private static partial Regex NamespaceLine();

    [GeneratedRegex(@"^using CtMparticle\.([\w.]+);", RegexOptions.Multiline)]
    private static partial Regex UsingLine();

    [GeneratedRegex(@"^public (sealed |static |abstract |readonly |partial )*(class|record|interface|enum|struct) \w+", RegexOptions.Multiline)]
    private static partial Regex PublicType();
}
