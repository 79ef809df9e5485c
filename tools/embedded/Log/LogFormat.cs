using System.Globalization;

namespace CtMparticle.Embedded.Log;

/// <summary>
/// A log store this build cannot read (a newer build wrote it, or its form file is damaged). An <see cref="IOException"/>,
/// so every command says it as it says that another process has the store open: its message, no stack trace.
/// </summary>
internal sealed class StoreFormatException(string message) : IOException(message);

/// <summary>
/// A log store damaged where no crash could have left it so (a flipped byte before the last durable commit, a segment
/// missing): refused rather than cut. An <see cref="IOException"/>, said by every command as <see cref="StoreFormatException"/> is.
/// </summary>
internal sealed class StoreDamagedException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// The form of a log store's records, in a file beside the log (<see cref="FileName"/>): a build refuses a store that a
/// newer build wrote in a form it does not know, saying so, before it reads a record it would take for damage. Builds
/// before 2026-12-07 (form 1) do not read the file, and cannot read a log of form 2: they report its consent records as
/// damaged. A store without the file is of form 1 or 2 (this build reads both) and gets it at its next open.
/// </summary>
internal static class LogFormat
{
    public const string FileName = "state.format";

    /// <summary>
    /// 1: consent, order contexts and identity decisions as JSON (until 2026-12-07); 2: written field by field
    /// (<see cref="StateCodec"/>), the JSON of form 1 still read.
    /// </summary>
    public const int Current = 2;

    /// <summary>Refuses a store of a newer form; records this build's form in a store that has none or an older one.</summary>
    /// <exception cref="StoreFormatException">A newer build wrote the store, or the file is not a form number.</exception>
    public static void Ensure(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (File.Exists(path))
        {
            var text = File.ReadAllText(path).Trim();
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var form))
            {
                throw new StoreFormatException($"{path} should hold the form number of the store's records, but holds '{Shorten(text)}'. " +
                    $"Put back the number a backup of the store has (this build writes {Current}), or delete the file if the store was written by this build.");
            }

            if (form > Current)
            {
                throw new StoreFormatException($"The store in {directory} holds records of form {form}, written by a newer ctmp; this build reads forms up to {Current}. " +
                    "Run the newer build on it (a store is never converted back).");
            }

            if (form == Current)
            {
                return;
            }
        }

        var temporary = path + ".tmp";
        File.WriteAllText(temporary, Current.ToString(CultureInfo.InvariantCulture));
        File.Move(temporary, path, overwrite: true);
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
