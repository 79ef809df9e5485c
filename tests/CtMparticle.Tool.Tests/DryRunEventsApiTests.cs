using System.Security.Cryptography;
using CtMparticle.Configuration;
using CtMparticle.Delivery;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// <c>--dry-run</c>'s request files are read while the relay runs (by <c>ctmp serve</c> users and by the browser and
/// serve tests): a file must appear whole or not at all, and a write that fails must leave nothing behind.
/// </summary>
public sealed class DryRunEventsApiTests : IDisposable
{
    private static readonly InputRoute Route = new("commercetools", new Uri("http://127.0.0.1:9/"), "Key", "Secret", "development");

    private readonly string work = Directory.CreateTempSubdirectory("ctmp-dryrun-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    [Fact]
    public async Task EachBody_IsOneFileNamedByItsNumberInputAndHash_HoldingTheBodyByteForByte()
    {
        var output = new DirectoryInfo(Path.Combine(work, "requests")); // not there yet: the first write creates it
        var api = new DryRunEventsApi(output);
        byte[] first = "[{\"events\":[]}]"u8.ToArray(), second = "[{\"events\":[{}]}]"u8.ToArray();

        Assert.IsType<Accepted>(await api.SendBulkAsync(Route, first, CancellationToken.None));
        Assert.IsType<Accepted>(await api.SendBulkAsync(Route, second, CancellationToken.None));

        var files = Directory.GetFiles(output.FullName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(
            [$"000001-commercetools-{Hash(first)}.json", $"000002-commercetools-{Hash(second)}.json"],
            files.Select(Path.GetFileName));
        Assert.Equal(first, File.ReadAllBytes(files[0]));
        Assert.Equal(second, File.ReadAllBytes(files[1]));
        Assert.Equal(2, api.Written);
        Assert.Empty(Directory.GetFiles(Path.Combine(output.FullName, DryRunEventsApi.PartialFolder)));

        api.Dispose(); // the run ends: only the request files stay
        Assert.Equal(files, Directory.GetFileSystemEntries(output.FullName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void TheHiddenFolder_StaysAtTheEnd_WhenABodyWasLeftInIt()
    {
        // A process killed mid-write leaves its torn body there; the next run's end must not delete it silently.
        var output = Directory.CreateDirectory(Path.Combine(work, "leftover"));
        var partial = Directory.CreateDirectory(Path.Combine(output.FullName, DryRunEventsApi.PartialFolder));
        File.WriteAllText(Path.Combine(partial.FullName, "000001-commercetools-torn.json.partial"), "[{\"eve");

        new DryRunEventsApi(output).Dispose();
        new DryRunEventsApi(new DirectoryInfo(Path.Combine(work, "never-written"))).Dispose(); // nothing to tidy, no error

        Assert.Single(Directory.GetFiles(partial.FullName));
        Assert.False(Directory.Exists(Path.Combine(work, "never-written")));
    }

    [Fact]
    public async Task AReaderWatchingTheFolder_NeverSeesAFileTheRelayIsStillWriting()
    {
        var output = new DirectoryInfo(Path.Combine(work, "requests"));
        var api = new DryRunEventsApi(output);
        var body = new byte[4 * 1024 * 1024]; // large enough that a write takes many system calls
        Random.Shared.NextBytes(body);
        const int Requests = 40;

        using var writing = new CancellationTokenSource();
        var torn = new List<string>();
        var reader = Task.Run(() =>
        {
            while (true)
            {
                var last = writing.IsCancellationRequested; // one more look after the last write
                foreach (var file in Directory.Exists(output.FullName) ? Directory.GetFiles(output.FullName) : [])
                {
                    var length = new FileInfo(file).Length;
                    if (length != body.Length)
                    {
                        torn.Add($"{Path.GetFileName(file)}: {length:N0} of {body.Length:N0} bytes");
                    }
                }

                if (last)
                {
                    return;
                }
            }
        });

        for (var i = 0; i < Requests; i++)
        {
            body[0] = (byte)i; // a distinct body, so a distinct file name
            await api.SendBulkAsync(Route, body, CancellationToken.None);
        }

        await writing.CancelAsync();
        await reader.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(torn);
        Assert.Equal(Requests, Directory.GetFiles(output.FullName).Length);
    }

    [Fact]
    public async Task AWriteThatFails_LeavesNothingInTheOutputFolder_AndSaysSo()
    {
        var output = new DirectoryInfo(Path.Combine(work, "requests"));
        var api = new DryRunEventsApi(output);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => api.SendBulkAsync(Route, new byte[1024], cancelled.Token));

        Assert.Empty(Directory.GetFiles(output.FullName, "*", SearchOption.AllDirectories));
    }

    private static string Hash(byte[] body) => Convert.ToHexStringLower(SHA256.HashData(body))[..32];
}
