using System.Text;
using CsCheck;

namespace CtMparticle.Tool.Tests;

/// <summary>
/// NDJSON lines read as bytes (<see cref="InputFiles"/>) against the text reader they replaced, as the oracle: the same
/// lines, numbers and bodies for any bytes, including \r, \n and \r\n ends split across reads, byte order marks, blank
/// and Unicode-white lines, and invalid UTF-8.
/// </summary>
public sealed class InputFilesTests
{
    // Pieces a line is made of: JSON-ish text, ends of lines, white space (ASCII and not: U+00A0, U+2028, U+0085),
    // UTF-8 letters, and bytes that are not UTF-8 (a stray continuation, 0xFF, a sequence cut short).
    private static readonly byte[][] Pieces =
    [
        "{"u8.ToArray(), "\"a\":1}"u8.ToArray(), "x"u8.ToArray(), " "u8.ToArray(), "\t"u8.ToArray(), "\r"u8.ToArray(), "\n"u8.ToArray(),
        "\r\n"u8.ToArray(), [0xEF, 0xBB, 0xBF], [0xC3, 0xA9], [0xC2, 0xA0], [0xE2, 0x80, 0xA8], [0xC2, 0x85], [0x80], [0xFF], [0xE2, 0x82],
        [0x0B], [0x1F], [0x00],
    ];

    [Fact]
    public void Lines_OfAnyBytes_AreTheTextReadersLinesNumbersAndBodies()
    {
        var content = Gen.Int[0, Pieces.Length - 1].Array[0, 60].Select(picks => picks.SelectMany(p => Pieces[p]).ToArray());
        Gen.Select(content, Gen.Int[4, 16]).Sample((bytes, bufferBytes) =>
        {
            var expected = Oracle(bytes);
            var actual = InputFiles.Lines("f", new MemoryStream(bytes), bufferBytes).Select(i => (i.Source, Convert.ToHexString(i.Body))).ToList();
            Assert.Equal(expected, actual);
        }, iter: 20_000);
    }

    [Fact]
    public void Lines_LongerThanTheBuffer_ComeWhole()
    {
        var line = "{\"id\":\"" + new string('é', 5_000) + "\"}";
        var bytes = Encoding.UTF8.GetBytes($"{line}\r\n\r\n{line}");

        var items = InputFiles.Lines("big", new MemoryStream(bytes), bufferBytes: 64).ToList();

        Assert.Equal(["big:1", "big:3"], items.Select(i => i.Source));
        Assert.All(items, i => Assert.Equal(line, Encoding.UTF8.GetString(i.Body)));
    }

    // What the reader did before: StreamReader's lines (a UTF-8 byte order mark skipped), blank ones left out, each
    // line encoded back to UTF-8.
    private static List<(string, string)> Oracle(byte[] bytes)
    {
        var lines = new List<(string, string)>();
        using var reader = new StreamReader(new MemoryStream(bytes), Encoding.UTF8, detectEncodingFromByteOrderMarks: false);
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (!string.IsNullOrWhiteSpace(line))
            {
                lines.Add(($"f:{number}", Convert.ToHexString(Encoding.UTF8.GetBytes(line))));
            }
        }

        return lines;
    }
}
