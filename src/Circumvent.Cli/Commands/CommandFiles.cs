using Circumvent.Method.Pipelines;
using Circumvent.Method.Runs;

namespace Circumvent.Cli.Commands;

/// <summary>
/// The files and folders a command reads and writes, checked together before any work: no output is one
/// of the inputs or another output (paths compared after resolving symbolic links); an output file has the
/// extension of a format it is written in and an existing folder (a missing one is refused, not created);
/// an output folder is not a file (a missing one is created later, parents included); every output can be created.
/// Every command that writes declares its paths here, so the rules are the same for all of them.
/// </summary>
internal sealed class CommandFiles
{
    /// <param name="Extensions">An output file's accepted extensions; null for inputs and folders.</param>
    private sealed record Entry(string Option, string Path, bool IsFolder, IReadOnlyList<string>? Extensions = null);

    private readonly List<Entry> _inputs = [];
    private readonly List<Entry> _outputs = [];

    /// <summary>Report and results files: JSON only.</summary>
    public static readonly string[] Json = [".json"];

    /// <summary>A file or folder the command reads; null (an absent option) is skipped.</summary>
    public CommandFiles Reads(string option, string? path)
    {
        if (!string.IsNullOrWhiteSpace(path)) _inputs.Add(new Entry(option, path, IsFolder: false));
        return this;
    }

    /// <summary>Several inputs, e.g. the files the attack options name.</summary>
    public CommandFiles Reads(IEnumerable<(string Option, string? Path)> files)
    {
        foreach (var (option, path) in files) Reads(option, path);
        return this;
    }

    /// <summary>A file the command writes, with the extensions of the formats it can be written in; null is skipped.</summary>
    public CommandFiles Writes(string option, string? path, IReadOnlyList<string> extensions)
    {
        if (path is not null) _outputs.Add(new Entry(option, path, IsFolder: false, extensions));
        return this;
    }

    /// <summary>A folder the command writes into; it is created (with missing parents) when absent.</summary>
    public CommandFiles WritesFolder(string option, string? path)
    {
        if (path is not null) _outputs.Add(new Entry(option, path, IsFolder: true));
        return this;
    }

    /// <summary>
    /// Refuses an output that is an input or another output (first, as the most telling message), then an
    /// output file with a foreign extension or no folder, then probes that every output can be written.
    /// </summary>
    public void Check()
    {
        var seen = _inputs.Select(e => (Entry: e, Written: false, Full: OutputPaths.Resolve(e.Path))).ToList();
        foreach (var output in _outputs)
        {
            string full = OutputPaths.Resolve(output.Path);
            var clash = seen.FirstOrDefault(s => OutputPaths.Comparer.Equals(s.Full, full));
            if (clash.Entry is not null)
                throw new UsageException($"{output.Option} and {clash.Entry.Option} name the same path '{full}': {output.Option} would overwrite " +
                                         $"what {clash.Entry.Option} {(clash.Written ? "writes" : "reads")}; give {output.Option} another path.");
            seen.Add((output, true, full));
        }
        foreach (var output in _outputs)
        {
            if (output.IsFolder && File.Exists(output.Path)) throw new UsageException($"{output.Option} '{output.Path}' is a file; expected a folder.");
            if (output.IsFolder) continue;
            CheckExtension(output.Option, output.Path, output.Extensions!);
            OutputPaths.Check(output.Option, output.Path);
        }
        foreach (var output in _outputs) OutputPaths.CheckWritable(output.Option, output.Path, output.IsFolder);
    }

    private static void CheckExtension(string option, string path, IReadOnlyList<string> extensions)
    {
        string extension = Path.GetExtension(path);
        if (!extensions.Contains(extension, StringComparer.OrdinalIgnoreCase))
            throw new UsageException($"{option} '{path}' must end in {string.Join(", ", extensions)} (the format{(extensions.Count > 1 ? "s" : "")} it is written in), " +
                                     (extension.Length == 0 ? "got no extension." : $"got '{extension}'."));
    }
}
