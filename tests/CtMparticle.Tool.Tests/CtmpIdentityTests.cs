using System.Text.Json.Nodes;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// Identity links as stories, through <c>ctmp relay</c> on storefront calls and read back with <c>ctmp identity show</c>:
/// one shopper on two devices, and a family tablet two customers sign in on.
/// </summary>
public sealed class CtmpIdentityTests : IDisposable
{
    private readonly string work = Directory.CreateTempSubdirectory("ctmp-identity-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    private static string Call(string messageId, string evt, string userId, string anonymousId, string? idfv = null, string? email = null, string at = "2026-12-02T09:00:00Z")
    {
        var call = new JsonObject
        {
            ["type"] = evt == "identify" ? "identify" : "track",
            ["messageId"] = messageId,
            ["userId"] = userId,
            ["anonymousId"] = anonymousId,
            ["timestamp"] = at,
            ["context"] = new JsonObject { ["consent"] = new JsonObject { ["categoryPreferences"] = new JsonObject { ["analytics"] = true } } },
        };
        if (evt != "identify")
        {
            call["event"] = evt;
        }

        if (idfv is not null)
        {
            call["context"]!["os"] = new JsonObject { ["name"] = "iOS" };
            call["context"]!["device"] = new JsonObject { ["id"] = idfv };
        }

        if (email is not null)
        {
            call["traits"] = new JsonObject { ["email"] = email };
        }

        return call.ToJsonString();
    }

    private async Task<string> ShowAsync(string id) =>
        (await CtmpCommandTests.RunAsync("identity", "show", id, "--store", Path.Combine(work, "store"))).Stdout;

    [Fact]
    public async Task OneShopperOnTwoDevices_IsLinked_AndAFamilyTablet_IsConflictedForBothCustomers()
    {
        var calls = Path.Combine(work, "journey.ndjson");
        await File.WriteAllLinesAsync(calls,
        [
            """{"type":"track","event":"Product Viewed","anonymousId":"a-phone","messageId":"id-1","timestamp":"2026-12-02T09:00:00Z","properties":{"sku":"S-1"},"context":{"consent":{"categoryPreferences":{"analytics":true}}}}""",
            Call("id-2", "Signed In", "c-parent", "a-phone", at: "2026-12-02T09:01:00Z"),
            Call("id-3", "identify", "c-parent", "a-phone", email: "Parent@Shop.Example", at: "2026-12-02T09:02:00Z"),
            Call("id-4", "Signed In", "c-parent", "a-tablet", idfv: "TABLET-1", at: "2026-12-02T18:00:00Z"),
            Call("id-5", "Signed In", "c-child", "a-tablet", idfv: "TABLET-1", at: "2026-12-02T19:00:00Z"),
        ]);

        var (exit, _, _) = await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", Path.Combine(work, "out"), "--store", Path.Combine(work, "store"), calls);

        Assert.Equal(0, exit);
        var parent = await ShowAsync("c-parent");
        Assert.Contains("customer c-parent  anonymous_id a-phone  active", parent, StringComparison.Ordinal);
        Assert.Contains("customer c-parent  anonymous_id a-tablet  conflicted", parent, StringComparison.Ordinal);
        Assert.Contains("customer c-parent  ios_idfv TABLET-1  conflicted", parent, StringComparison.Ordinal);
        var tablet = (await ShowAsync("TABLET-1")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["c-child", "c-parent"], tablet.Select(l => l.Split("  ")[0]["customer ".Length..]).Order(StringComparer.Ordinal).ToArray());
        Assert.All(tablet, l => Assert.Contains("conflicted", l, StringComparison.Ordinal));
        Assert.Contains("customer c-parent  email_sha256 ", await ShowAsync(" parent@shop.example "), StringComparison.Ordinal); // found by the address's hash
        Assert.DoesNotContain("parent@shop.example", parent, StringComparison.OrdinalIgnoreCase); // e-mails are kept only as hashes
        Assert.Equal("No identity links for this identifier.", (await ShowAsync("a-nobody")).Trim());

        // Unlinked by hand: kept as revoked, and signing in again on that phone does not bring the link back.
        var (unlinked, said, _) = await CtmpCommandTests.RunAsync("identity", "unlink", "c-parent", "a-phone", "--store", Path.Combine(work, "store"));
        var again = Path.Combine(work, "again.ndjson");
        await File.WriteAllLinesAsync(again, [Call("id-6", "Signed In", "c-parent", "a-phone", at: "2026-12-03T09:00:00Z")]);
        await CtmpCommandTests.RunAsync("relay", "--dry-run", "--quiet", "--out", Path.Combine(work, "out2"), "--store", Path.Combine(work, "store"), again);

        Assert.Equal(0, unlinked);
        Assert.Contains("revoked: customer c-parent  anonymous_id a-phone", said, StringComparison.Ordinal);
        Assert.Contains("customer c-parent  anonymous_id a-phone  revoked", await ShowAsync("a-phone"), StringComparison.Ordinal);
        Assert.NotEqual(0, (await CtmpCommandTests.RunAsync("identity", "unlink", "c-parent", "a-nobody", "--store", Path.Combine(work, "store"))).Exit);
    }
}
