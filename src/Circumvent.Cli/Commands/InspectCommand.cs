using System.CommandLine;
using System.Globalization;
using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Models.Described;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `circumvent inspect M.safetensors [--description D.json]`: lists a checkpoint's tensors (name, dtype,
/// shape, element count) and metadata; with a description, checks the tensors fit it and names every
/// missing, unexpected or mis-shaped tensor (exit code 2 when they do not fit).
/// </summary>
internal static class InspectCommand
{
    public static Command Create(CliConsole console)
    {
        var model = new Argument<string>("model") { Description = "Checkpoint to inspect (.safetensors, or a PyTorch .pth/.pt)." };
        var description = new DescriptionOption("Check the tensors against this network description (JSON/YAML).");
        var command = new Command("inspect", "List a checkpoint's tensors and metadata; with --description, check they fit it.") { model };
        description.AddTo(command);
        command.SetAction(parse =>
        {
            string path = parse.GetValue(model) ?? throw new UsageException("inspect needs a checkpoint path.");
            if (!File.Exists(path)) throw new UsageException($"'{path}': file not found.");
            var described = description.Parse(parse);
            var content = CheckpointFiles.Read(path);
            console.Out.Write(Listing(path, content));
            if (described is null) return 0;

            var problems = StateDictFit.Problems(new DescribedArchitecture(described), content.Tensors);
            if (problems.Count > 0)
                throw new UsageException($"'{path}' does not fit description '{described.Name}': {string.Join("; ", problems)}.");
            console.Out.WriteLine($"fits description '{described.Name}' ({described.InChannels}×{described.Height}×{described.Width} → {described.Classes} classes).");
            return 0;
        });
        return command;
    }

    /// <summary>An aligned table of the tensors in file order, totals, then the metadata entries.</summary>
    private static string Listing(string path, SafeTensorsContent content)
    {
        var rows = content.Tensors.Select(t => (t.Name, DType: t.DType.ToString(), Shape: Shape.Format(t.Shape), Count: t.ElementCount)).ToList();
        int nameWidth = Math.Max(4, rows.Select(r => r.Name.Length).DefaultIfEmpty(0).Max());
        int shapeWidth = Math.Max(5, rows.Select(r => r.Shape.Length).DefaultIfEmpty(0).Max());
        var text = new System.Text.StringBuilder();
        long floats = content.Tensors.Where(t => t.IsFloat).Sum(t => (long)t.ElementCount);
        // BN running statistics are state, not trained parameters (by their PyTorch names).
        long statistics = content.Tensors.Where(t => t.IsFloat && (t.Name.EndsWith(".running_mean", StringComparison.Ordinal) || t.Name.EndsWith(".running_var", StringComparison.Ordinal)))
            .Sum(t => (long)t.ElementCount);
        text.AppendLine($"{path}: {rows.Count} tensors, {Count(floats - statistics)} parameters (+ {Count(statistics)} BN running statistics)");
        text.AppendLine($"{"name".PadRight(nameWidth)}  {"dtype",-5}  {"shape".PadRight(shapeWidth)}  {"elements",12}");
        foreach (var r in rows)
            text.AppendLine($"{r.Name.PadRight(nameWidth)}  {r.DType,-5}  {r.Shape.PadRight(shapeWidth)}  {Count(r.Count),12}");
        if (content.Metadata.Count > 0)
        {
            text.AppendLine("metadata:");
            foreach (var (key, value) in content.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                text.AppendLine($"  {key} = {Shorten(value)}");
        }
        return text.ToString();
    }

    private static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Long values (a stored description) are cut so the listing stays readable.</summary>
    private static string Shorten(string value) => value.Length <= 160 ? value : value[..157] + "...";
}
