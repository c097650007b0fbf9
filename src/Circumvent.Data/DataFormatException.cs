namespace Circumvent.Data;

/// <summary>
/// A data file is missing, truncated or not in the expected format. The message starts with the
/// file name and says what was expected and what was found, so the CLI can print it as is.
/// </summary>
public sealed class DataFormatException : Exception
{
    public DataFormatException(string path, string problem, Exception? inner = null)
        : this(path, DisplayName(path), problem, inner)
    {
    }

    private DataFormatException(string path, string shownAs, string problem, Exception? inner)
        : base($"{shownAs}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>
    /// The same error naming the file by its whole path rather than its name alone: for a file deep in a
    /// dataset folder, whose class and split folders say which image it is.
    /// </summary>
    public static DataFormatException AtPath(string path, string problem, Exception? inner = null) => new(path, path, problem, inner);

    private static string DisplayName(string path)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(path));
        return name.Length > 0 ? name : path;
    }

    /// <summary>The full path of the offending file (or folder).</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with it, without the file name.</summary>
    public string Problem { get; }
}
