namespace Circumvent.Method.Pipelines;

/// <summary>Checks on output file paths, done before any long work so a typo never costs a run.</summary>
public static class OutputPaths
{
    /// <summary>
    /// The full path of an output file after checking its folder exists and it is not a folder itself.
    /// Throws <see cref="ArgumentException"/> naming <paramref name="option"/>.
    /// </summary>
    public static string Check(string option, string path, string expected = "a file path")
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new ArgumentException($"{option} '{path}' is a directory; expected {expected}.");
        string? folder = Path.GetDirectoryName(full);
        if (folder is not null && !Directory.Exists(folder))
            throw new ArgumentException($"{option} '{path}': folder '{folder}' does not exist.");
        return full;
    }
}
