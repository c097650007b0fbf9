namespace Circumvent.Models.Described;

/// <summary>
/// A model description that cannot be read or does not form a valid network. The message names the
/// source (file path, or the checkpoint metadata it came from), where in it (JSON path such as
/// "$.layers[3].kernel_size", or line and column for a syntax error) and what was expected.
/// </summary>
public sealed class DescriptionException : Exception
{
    public DescriptionException(string source, string location, string problem, Exception? inner = null)
        : base($"model description '{source}'{(location.Length == 0 ? "" : " at " + location)}: {problem}", inner)
    {
        Origin = source;
        Location = location;
        Problem = problem;
    }

    /// <summary>The file (or metadata key) the description came from.</summary>
    public string Origin { get; }

    /// <summary>JSON path ("$.layers[2].bias") or "line L, column C"; empty when the problem concerns the whole file.</summary>
    public string Location { get; }

    /// <summary>What was wrong, without the source and location.</summary>
    public string Problem { get; }
}
