namespace Circumvent.Method.Runs;

/// <summary>
/// Checks on output paths, done before any long work so a typo never costs a run: the folder of an output
/// file must exist (it is not created: a mistyped folder would otherwise grow a tree), an output folder is
/// created with its parents, and either must be writable. Errors are <see cref="ArgumentException"/>s naming the option.
/// </summary>
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

    /// <summary>
    /// Checks a file can be created where <paramref name="path"/> (a file, or a folder that may not exist yet)
    /// will be written, by creating and deleting a probe file in its folder (a folder still to be created: in
    /// its nearest existing ancestor). A read-only or full file system is found now, not after the run.
    /// </summary>
    public static void CheckWritable(string option, string path, bool isFolder = false)
    {
        string full = Path.GetFullPath(path);
        string? folder = isFolder ? full : Path.GetDirectoryName(full);
        while (folder is not null && !Directory.Exists(folder)) folder = Path.GetDirectoryName(folder);
        if (folder is null) return; // nothing of the path exists, not even its root: the write reports it
        string probe = Path.Combine(folder, $".circumvent-write-probe-{Guid.NewGuid():N}.tmp");
        try
        {
            using var stream = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{option} '{path}': cannot write in folder '{folder}' ({e.Message.TrimEnd('.')}).");
        }
    }

    /// <summary>
    /// The path with every symbolic link along it resolved (existing parts only; the rest is kept as
    /// written), so two spellings of one file compare equal. Hard links are not detected.
    /// </summary>
    public static string Resolve(string path) => Resolve(Path.GetFullPath(path), linksLeft: 40);

    /// <summary>How paths compare: case matters on Linux, not on Windows' and macOS's default file systems.</summary>
    public static StringComparer Comparer { get; } = OperatingSystem.IsLinux() ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;

    private static string Resolve(string full, int linksLeft)
    {
        string root = Path.GetPathRoot(full) ?? "";
        string current = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, part);
            // NOTE: FileInfo reads the link itself (lstat), for directory links too.
            if (new FileInfo(current).LinkTarget is not { } target) continue;
            if (linksLeft == 0) throw new ArgumentException($"'{full}': too many levels of symbolic links.");
            current = Resolve(Path.GetFullPath(target, Path.GetDirectoryName(current)!), linksLeft - 1);
        }
        return current;
    }
}
