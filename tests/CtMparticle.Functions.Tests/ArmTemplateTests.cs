using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;
using CtMparticle.Tests.Infrastructure;

namespace CtMparticle.Functions.Tests;

/// <summary>
/// The ARM that infra/main.bicep compiles to (with the bicep CLI restored from NuGet), read for what a security
/// review reads: the default network posture, what is reached privately, and the scope of every role the app's identity holds.
/// </summary>
public sealed class ArmTemplateTests
{
    // Built-in role definition ids (Azure RBAC): each grant below is asserted by what it is, not by a name in the Bicep.
    private const string TableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    private const string BlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
    private const string BlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string QueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    private const string MetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";
    private const string ServiceBusReceiver = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0";
    private const string SecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";

    private static readonly Lazy<JsonObject> Main = new(Compile);

    [Fact]
    public void ByDefault_StorageAndTheVaultAreReachedOnlyThroughPrivateEndpoints_FromAnAppIntegratedWithTheNetwork()
    {
        var main = Main.Value;
        Assert.Equal("Disabled", (string?)main["parameters"]!["publicNetworkAccess"]!["defaultValue"]);
        Assert.Empty(main["parameters"]!["allowedIpRanges"]!["defaultValue"]!.AsArray());
        Assert.Equal("[equals(parameters('publicNetworkAccess'), 'Disabled')]", (string?)main["variables"]!["isolated"]);

        // Each storage account and the vault take the deployment's setting, and their rule denies public traffic when it is Disabled.
        foreach (var module in new[] { "storage", "hoststorage", "keyvault" })
        {
            var deployment = Module(main, module);
            Assert.Equal("[parameters('publicNetworkAccess')]", (string?)deployment["properties"]!["parameters"]!["publicNetworkAccess"]!["value"]);
            Assert.Equal("[parameters('allowedIpRanges')]", (string?)deployment["properties"]!["parameters"]!["allowedIpRanges"]!["value"]);
            var template = deployment["properties"]!["template"]!.AsObject();
            var resource = Assert.Single(Resources(template), r => (string?)r["type"] is "Microsoft.Storage/storageAccounts" or "Microsoft.KeyVault/vaults");
            Assert.Equal("[__bicep.publicAccess(parameters('publicNetworkAccess'), parameters('allowedIpRanges'))]", (string?)resource["properties"]!["publicNetworkAccess"]);
            Assert.Matches(@"^\[__bicep\.(storage|vault)Acls\(parameters\('publicNetworkAccess'\), parameters\('allowedIpRanges'\)\)\]$", (string?)resource["properties"]!["networkAcls"]);
            var functions = template["functions"]!.AsArray().Single(f => (string?)f!["namespace"] == "__bicep")!["members"]!;
            Assert.Equal("[if(and(equals(parameters('publicNetworkAccess'), 'Disabled'), empty(parameters('allowedIpRanges'))), 'Disabled', 'Enabled')]",
                (string?)functions["publicAccess"]!["output"]!["value"]);
            var acls = functions.AsObject().Single(f => f.Key.EndsWith("Acls", StringComparison.Ordinal)).Value!["output"]!["value"]!;
            Assert.Equal("[if(equals(parameters('publicNetworkAccess'), 'Disabled'), 'Deny', 'Allow')]", (string?)acls["defaultAction"]);
            Assert.Equal("AzureServices", (string?)acls["bypass"]);
        }

        // The network and the endpoints exist exactly when private: one per service the app reaches in storage and the vault.
        Assert.Equal("[variables('isolated')]", (string?)Module(main, "network")["condition"]);
        var endpoints = Module(main, "privateendpoints");
        Assert.Equal("[variables('isolated')]", (string?)endpoints["condition"]);
        var listed = System.Text.RegularExpressions.Regex.Matches(
                (string)endpoints["properties"]!["parameters"]!["endpoints"]!, // a conditional value is one expression
                @"'Microsoft\.Resources/deployments', '(\w+)'\), '[^']+'\)\.outputs\.id\.value, 'groupId', '(\w+)'")
            .Select(m => $"{m.Groups[1].Value}/{m.Groups[2].Value}")
            .Order(StringComparer.Ordinal);
        Assert.Equal(["hoststorage/blob", "hoststorage/queue", "hoststorage/table", "keyvault/vault", "storage/blob", "storage/table"], listed);

        // The app's outbound traffic enters the network's delegated subnet.
        var app = Module(main, "functionapp");
        Assert.Contains("outputs.appSubnetId.value", (string?)app["properties"]!["parameters"]!["subnetId"], StringComparison.Ordinal);
        var site = Assert.Single(Resources(app["properties"]!["template"]!.AsObject()), r => (string?)r["type"] == "Microsoft.Web/sites");
        Assert.Equal("[if(empty(parameters('subnetId')), null(), parameters('subnetId'))]", (string?)site["properties"]!["virtualNetworkSubnetId"]);
        Assert.Contains(app["dependsOn"]!.AsArray(), d => ((string?)d)!.Contains("'privateendpoints'", StringComparison.Ordinal));
        var subnets = Resources(Module(main, "network")["properties"]!["template"]!.AsObject()).Single(r => (string?)r["type"] == "Microsoft.Network/virtualNetworks")["properties"]!["subnets"]!.AsArray();
        Assert.Equal("Microsoft.App/environments", (string?)subnets[0]!["properties"]!["delegations"]![0]!["properties"]!["serviceName"]);
    }

    [Fact]
    public void TheAppsIdentity_HoldsEachRoleOnlyWhereItsPieceNeedsIt()
    {
        var roles = Module(Main.Value, "roles")["properties"]!["template"]!.AsObject();
        var ids = roles["variables"]!["roles"]!.AsObject().ToDictionary(p => p.Key, p => (string)p.Value!, StringComparer.Ordinal);
        var grants = Resources(roles)
            .Where(r => (string?)r["type"] == "Microsoft.Authorization/roleAssignments")
            .Select(r => (Role: ids[RoleName((string)r["properties"]!["roleDefinitionId"]!)], Scope: ScopeType((string)r["scope"]!), Each: r["copy"] is not null))
            .Order()
            .ToList();

        Assert.Equal(
            new[]
            {
                (MetricsPublisher, "Microsoft.Insights/components", false),
                (SecretsUser, "Microsoft.KeyVault/vaults", false),
                (ServiceBusReceiver, "Microsoft.ServiceBus/namespaces/topics", false),
                (BlobDataContributor, "Microsoft.Storage/storageAccounts/blobServices/containers 'quarantine'", false), // the quarantine container only
                (TableDataContributor, "Microsoft.Storage/storageAccounts/tableServices/tables", true),               // each relay table on its own
                (BlobDataOwner, "Microsoft.Storage/storageAccounts (host)", false),                                    // ownership only on the host's account
                (QueueDataContributor, "Microsoft.Storage/storageAccounts (host)", false),
            }.Order(),
            grants);
    }

    private static string RoleName(string roleDefinitionId) =>
        System.Text.RegularExpressions.Regex.Match(roleDefinitionId, @"variables\('roles'\)\.(\w+)\)").Groups[1].Value;

    /// <summary>A scope expression reduced to its resource type (and what tells the two storage accounts or containers apart).</summary>
    private static string ScopeType(string scope)
    {
        var match = System.Text.RegularExpressions.Regex.Match(scope, @"^\[resourceId\('([^']+)', parameters\('(\w+)'\)(.*)\)\]$");
        Assert.True(match.Success, $"unexpected scope {scope}");
        var (type, account, rest) = (match.Groups[1].Value, match.Groups[2].Value, match.Groups[3].Value);
        return type switch
        {
            "Microsoft.Storage/storageAccounts" => $"{type} ({(account == "hostStorageAccountName" ? "host" : "relay")})",
            "Microsoft.Storage/storageAccounts/blobServices/containers" => $"{type} {rest.Split(", ").Last()}",
            _ => type,
        };
    }

    private static JsonObject Module(JsonObject template, string name) =>
        Resources(template).Single(r => (string?)r["type"] == "Microsoft.Resources/deployments" && (string?)r["name"] == name);

    /// <summary>A template's resources, whether listed (languageVersion 1) or keyed by symbolic name (2.0).</summary>
    private static List<JsonObject> Resources(JsonObject template) => template["resources"] switch
    {
        JsonArray list => [.. list.Select(r => r!.AsObject())],
        JsonObject named => [.. named.Select(p => p.Value!.AsObject())],
        _ => [],
    };

    private static JsonObject Compile()
    {
        var package = typeof(ArmTemplateTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BicepPackage").Value;
        var bicep = Path.Combine(package!, "tools", "bicep");
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The restored bicep CLI is Azure.Bicep.CommandLine.linux-x64.");
        }

        File.SetUnixFileMode(bicep, File.GetUnixFileMode(bicep) | UnixFileMode.UserExecute); // NuGet does not keep the executable bit
        var output = Path.Combine(Path.GetTempPath(), $"ctmp-arm-{Guid.NewGuid():N}.json");
        try
        {
            using var process = Process.Start(new ProcessStartInfo(bicep, ["build", Path.Combine(RepositoryRoot.Find(), "infra", "main.bicep"), "--outfile", output])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            var errors = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"bicep build failed: {errors}");
            return JsonNode.Parse(File.ReadAllText(output))!.AsObject();
        }
        finally
        {
            File.Delete(output);
        }
    }
}
