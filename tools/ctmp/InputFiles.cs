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

    /// <summary>
    /// The stream's non-blank lines, split as a text reader splits them (at \r, \n or \r\n; a UTF-8 byte order mark
    /// at the start skipped), each numbered as the reader counts lines. A line is handed on as its own bytes: decoded
    /// and encoded again only when it is not valid UTF-8 (its bad sequences become U+FFFD, as the reader's decoding
    /// made them), so the common line costs one copy and not a UTF-16 string and a second array.
    /// </summary>
    internal static IEnumerable<InputItem> Lines(string source, Stream stream, int bufferBytes = 1 << 16)
    {
        using (stream)
        {
            var buffer = new byte[Math.Max(4, bufferBytes)];
            var (start, end, eof) = (0, 0, false);
            while (end < 3 && !eof)
            {
                var read = stream.Read(buffer, end, buffer.Length - end);
                (end, eof) = (end + read, read == 0);
            }

            if (buffer.AsSpan(0, end).StartsWith(ByteOrderMark))
            {
                start = ByteOrderMark.Length;
            }

            var number = 0;
            while (start < end || !eof)
            {
                var found = buffer.AsSpan(start, end - start).IndexOfAny((byte)'\r', (byte)'\n');
                var lineEnd = found < 0 ? end : start + found;
                // A line needs its end in the buffer, and a \r the byte after it (a \n there belongs to it), unless the stream ended.
                if (!eof && (found < 0 || lineEnd + 1 == end))
                {
                    if (start > 0)
                    {
                        Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                        (end, start) = (end - start, 0);
                    }

                    if (end == buffer.Length)
                    {
                        Array.Resize(ref buffer, buffer.Length * 2);
                    }

                    var read = stream.Read(buffer, end, buffer.Length - end);
                    (end, eof) = (end + read, read == 0);
                    continue;
                }

                var next = lineEnd + 1;
                if (found >= 0 && buffer[lineEnd] == (byte)'\r' && next < end && buffer[next] == (byte)'\n')
                {
                    next++;
                }

                number++;
                if (Body(buffer.AsSpan(start, lineEnd - start)) is { } body)
                {
                    yield return new InputItem($"{source}:{number}", body);
                }

                start = Math.Min(next, end);
            }
        }
    }

    private static ReadOnlySpan<byte> ByteOrderMark => [0xEF, 0xBB, 0xBF];

    /// <summary>A line's body, or null for a blank one (white space only, as <see cref="string.IsNullOrWhiteSpace"/> says).</summary>
    private static byte[]? Body(ReadOnlySpan<byte> line)
    {
        var blank = true;
        foreach (var b in line)
        {
            if (b < 0x80 && !char.IsWhiteSpace((char)b))
            {
                blank = false;
                break;
            }
        }

        if (System.Text.Unicode.Utf8.IsValid(line))
        {
            return blank && string.IsNullOrWhiteSpace(System.Text.Encoding.UTF8.GetString(line)) ? null : line.ToArray();
        }

        var text = System.Text.Encoding.UTF8.GetString(line);
        return string.IsNullOrWhiteSpace(text) ? null : System.Text.Encoding.UTF8.GetBytes(text);
    }
}
