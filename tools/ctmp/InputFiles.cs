namespace CtMparticle.Tool;

/// <summary>One delivery body read from the command line's inputs, with where it came from (for messages to people).</summary>
internal sealed record InputItem(string Source, byte[] Body);

/// <summary>
/// Reads deliveries from files, folders (every *.json, *.ndjson and *.jsonl, in ordinal order), NDJSON files
/// (one delivery a line) and standard input ("-", NDJSON). Streams: one item in memory at a time.
/// </summary>
internal static class InputFiles
{
    public static IEnumerable<string> Problems(IEnumerable<string> paths) =>
        paths.Where(p => p != "-" && !File.Exists(p) && !Directory.Exists(p))
            .Select(p => $"'{p}' is neither a file nor a folder (give message files, folders of them, NDJSON files, or - for standard input).");

    public static IEnumerable<InputItem> Read(IEnumerable<string> paths)
    {
        foreach (var path in paths)
        {
            if (path == "-")
            {
                foreach (var item in Lines("stdin", Console.OpenStandardInput()))
                {
                    yield return item;
                }
            }
            else if (Directory.Exists(path))
            {
                var files = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                    .Where(IsDeliveryFile)
                    .Order(StringComparer.Ordinal);
                foreach (var item in files.SelectMany(ReadFile))
                {
                    yield return item;
                }
            }
            else
            {
                foreach (var item in ReadFile(path))
                {
                    yield return item;
                }
            }
        }
    }

    private static bool IsDeliveryFile(string path) =>
        path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || IsLineDelimited(path);

    private static bool IsLineDelimited(string path) =>
        path.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase);

    private static IEnumerable<InputItem> ReadFile(string path) =>
        IsLineDelimited(path) ? Lines(path, File.OpenRead(path)) : [new InputItem(path, File.ReadAllBytes(path))];

    private static IEnumerable<InputItem> Lines(string source, Stream stream)
    {
        using var reader = new StreamReader(stream, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: false);
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (!string.IsNullOrWhiteSpace(line))
            {
                yield return new InputItem($"{source}:{number}", System.Text.Encoding.UTF8.GetBytes(line));
            }
        }
    }
}
