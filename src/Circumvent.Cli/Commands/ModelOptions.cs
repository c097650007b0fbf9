using System.CommandLine;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Cli.Commands;

/// <summary>How the user wants --model read: architecture hints for a plain state_dict and the NaN/Inf policy.</summary>
internal sealed record ModelLoadSettings(string? Arch, double? Width, bool AllowNonFinite)
{
    public static readonly ModelLoadSettings Default = new(null, null, false);
}

/// <summary>
/// The --model options of `eval` and `purify`. A checkpoint written by Circumvent names its architecture;
/// a plain PyTorch state_dict (.pth or safetensors) does not, so it is inferred from the tensor names and
/// shapes (input height/width from the dataset) unless --arch / --width say otherwise.
/// </summary>
internal sealed class ModelOptions
{
    public Option<string?> Arch { get; } = new("--arch")
    {
        Description = $"Architecture of a plain state_dict ({string.Join(", ", Architectures.Names)}); inferred from its tensors when omitted.",
    };

    public Option<double?> Width { get; } = new("--width")
    {
        Description = "Channel-width multiplier of a plain state_dict; inferred from its first layer when omitted.",
    };

    public Option<bool> AllowNonFinite { get; } = new("--allow-nonfinite")
    {
        Description = "Load a checkpoint whose weights hold NaN or Inf (with a warning) instead of refusing it.",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Arch);
        command.Options.Add(Width);
        command.Options.Add(AllowNonFinite);
    }

    public ModelLoadSettings Parse(ParseResult parse)
    {
        string? arch = parse.GetValue(Arch)?.Trim().ToLowerInvariant();
        if (arch is not null && !Architectures.Names.Contains(arch))
            throw new UsageException($"--arch must be one of {string.Join(", ", Architectures.Names)}, got '{arch}'.");
        double? width = parse.GetValue(Width);
        if (width is double w && !(w > 0 && double.IsFinite(w)))
            throw new UsageException($"--width must be a positive number, got {w}.");
        return new ModelLoadSettings(arch, width, parse.GetValue(AllowNonFinite));
    }

    /// <summary>Reads the file's tensors (format errors surface here, before any dataset is loaded).</summary>
    public static SafeTensorsContent ReadFile(string modelPath)
    {
        if (!File.Exists(modelPath))
            throw new UsageException($"--model '{modelPath}': file not found.");
        return CheckpointFiles.Read(modelPath);
    }

    /// <summary>
    /// The checkpoint, built for the architecture the file stores or, for a plain state_dict or when
    /// --arch/--width are given, the one inferred for <paramref name="height"/>×<paramref name="width"/> inputs.
    /// Tells the user what was inferred and prints load warnings on stderr.
    /// </summary>
    public static ModelCheckpoint Build(string modelPath, SafeTensorsContent content, ModelLoadSettings settings, int height, int width,
        CliConsole console, bool quiet = false)
    {
        var stored = ModelCheckpoint.StoredArchitecture(modelPath, content);
        ArchitectureConfig config;
        if (stored is not null && settings.Arch is null && settings.Width is null)
            config = stored;
        else
        {
            config = ArchitectureInference.Infer(modelPath, content, settings.Arch ?? stored?.Name, settings.Width ?? stored?.WidthMultiplier, height, width);
            if (!quiet)
                console.Out.WriteLine($"model {Path.GetFileName(modelPath)}: {ArchitectureInference.Describe(config)} " +
                                      $"({(settings.Arch is null ? "architecture inferred from its tensors" : "--arch " + settings.Arch)})");
        }
        var checkpoint = ModelCheckpoint.FromContent(modelPath, content, config, settings.AllowNonFinite ? NonFinitePolicy.Warn : NonFinitePolicy.Reject);
        foreach (var warning in checkpoint.Warnings) console.Error.WriteLine($"circumvent: warning: {warning}");
        return checkpoint;
    }
}
