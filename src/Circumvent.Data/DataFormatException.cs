namespace Circumvent.Data;

/// <summary>
/// A data file is missing, truncated or not in the expected format. The message starts with the
/// file name and says what was expected and what was found, so the CLI can print it as is.
/// </summary>
public sealed class DataFormatException : Exception
{
    public DataFormatException(string path, string problem, Exception? inner = null)
        : base($"{DisplayName(path)}: {problem}", inner)
    {
        FilePath = path;
    }

    private static string DisplayName(string path)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(path));
        return name.Length > 0 ? name : path;
    }

    /// <summary>The full path of the offending file (or folder).</summary>
    public string FilePath { get; }
}
