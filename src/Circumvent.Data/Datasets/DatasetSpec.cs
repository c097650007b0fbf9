namespace Circumvent.Data;

/// <summary>
/// A dataset named on the command line as KIND[:PATH], e.g. "cifar10:/data/cifar10", "imagefolder:~/photos" or
/// "fashion-mnist"; the kinds are <see cref="KnownDatasets.All"/>. When PATH is omitted the kind's default folder is
/// used: $CIRCUMVENT_DATA_DIR/KIND when that variable is set and the folder exists, otherwise the kind's system
/// folder (/usr/share/datasets/fashion-mnist, the Debian package, for fashion-mnist).
/// </summary>
public sealed record DatasetSpec(string Kind, string Path)
{
    public const string DataDirVariable = "CIRCUMVENT_DATA_DIR";
    public const string FashionMnistSystemPath = "/usr/share/datasets/fashion-mnist";
    public static IReadOnlyList<string> KnownKinds { get; } = KnownDatasets.All.Select(k => k.Name).ToArray();

    public static DatasetSpec Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new ArgumentException($"Empty dataset; expected KIND[:PATH] with KIND one of {string.Join(", ", KnownKinds)}.");
        int colon = text.IndexOf(':');
        string kind = (colon < 0 ? text : text[..colon]).Trim().ToLowerInvariant();
        string? path = colon < 0 ? null : text[(colon + 1)..].Trim();
        if (KnownDatasets.Find(kind) is null)
            throw new ArgumentException($"Unknown dataset kind '{kind}' in '{text}'; known kinds: {string.Join(", ", KnownKinds)}.");
        if (!string.IsNullOrEmpty(path)) path = WithHome(path);
        if (string.IsNullOrEmpty(path))
            path = DefaultPath(kind) ?? throw new ArgumentException(
                $"Dataset '{kind}' has no default location; give one as {kind}:PATH or set {DataDirVariable} (then {kind} is read from $" + DataDirVariable + $"/{kind}).");
        return new DatasetSpec(kind, path);
    }

    /// <summary>
    /// <paramref name="text"/> as a config records it: KIND:PATH with PATH absolute ("~/" is the home folder, a relative
    /// path is taken against the working folder), so the config names the same data from any folder — a stopped training
    /// resumes from another one, a model's metadata says where its data was. A bare KIND (its default folder) and text
    /// that is not KIND:PATH of a known kind are returned as given.
    /// </summary>
    public static string WithFullPath(string text)
    {
        int colon = text.IndexOf(':');
        if (colon <= 0 || KnownDatasets.Find(text[..colon].Trim().ToLowerInvariant()) is null) return text;
        string path = text[(colon + 1)..].Trim();
        return path.Length == 0 ? text : text[..colon] + ":" + System.IO.Path.GetFullPath(WithHome(path));
    }

    // "~" and "~/…" name the home folder (the shell expands "~" only at the start of a word, not after "KIND:").
    private static string WithHome(string path) =>
        path == "~" || path.StartsWith("~/", StringComparison.Ordinal)
            ? System.IO.Path.Join(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), path[1..].TrimStart('/'))
            : path;

    /// <summary>The default folder for <paramref name="kind"/>, or null when there is none.</summary>
    public static string? DefaultPath(string kind)
    {
        string? dataDir = Environment.GetEnvironmentVariable(DataDirVariable);
        string? fromVariable = string.IsNullOrEmpty(dataDir) ? null : System.IO.Path.Combine(dataDir, kind);
        if (fromVariable is not null && Directory.Exists(fromVariable)) return fromVariable;
        return KnownDatasets.Find(kind)?.SystemPath ?? fromVariable;
    }

    /// <summary>What <see cref="Kind"/> names.</summary>
    public DatasetKind Definition => KnownDatasets.Find(Kind) ?? throw new InvalidOperationException($"Unknown dataset kind '{Kind}'.");

    /// <summary>Reads both splits; throws <see cref="DataFormatException"/> for missing or malformed files.</summary>
    public DatasetPair Load() => Definition.Load(Path);

    /// <summary>
    /// Reads the test split only (for scoring: a folder holding just the test files is enough), with the
    /// kind's normalisation; throws <see cref="DataFormatException"/> for missing or malformed files.
    /// </summary>
    public (ImageDataset Test, Normalization Normalization) LoadTest() => Definition.LoadTest(Path);

    public static DatasetPair Load(string text) => Parse(text).Load();

    public override string ToString() => $"{Kind}:{Path}";
}
