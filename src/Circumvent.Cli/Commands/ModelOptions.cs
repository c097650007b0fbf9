using System.CommandLine;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Cli.Commands;

/// <summary>
/// The options of `eval` and `purify` that say how to read --model, gathered into one
/// <see cref="ModelLoadSettings"/>. A checkpoint written by Circumvent names its architecture; a plain
/// PyTorch state_dict (.pth or safetensors) does not, so it is read with --description, or inferred from
/// the tensor names and shapes (input height/width from the dataset) guided by --arch / --width. Nor does it
/// say how its inputs were normalised: --normalize does.
/// </summary>
internal sealed class ModelOptions
{
    private readonly DescriptionOption _description =
        new("Network description (JSON/YAML) to read --model with, e.g. a plain PyTorch state_dict of your own network.");

    private readonly Option<string?> _arch = new("--arch")
    {
        Description = $"Built-in architecture of a plain state_dict ({string.Join(", ", Architectures.Names)}); inferred from its tensors when omitted.",
    };

    private readonly Option<double?> _width = new("--width")
    {
        Description = "Channel-width multiplier of a plain state_dict; inferred from its first layer when omitted.",
    };

    private readonly Option<bool> _allowNonFinite = new("--allow-nonfinite")
    {
        Description = "Load a checkpoint whose weights hold NaN or Inf (with a warning) instead of refusing it.",
    };

    private readonly NormalizeOption _normalize = new();

    public void AddTo(Command command)
    {
        _description.AddTo(command);
        _normalize.AddTo(command);
        command.Options.Add(_arch);
        command.Options.Add(_width);
        command.Options.Add(_allowNonFinite);
    }

    /// <summary>The files these options read (the description), for <see cref="CommandFiles"/>.</summary>
    public IEnumerable<(string Option, string? Path)> Files(ParseResult parse) => [_description.File(parse)];

    /// <summary>--normalize, or null: then the checkpoint's recorded normalisation, else the dataset's (see <see cref="Method.Pipelines.InputPreprocessing"/>).</summary>
    public Circumvent.Data.Normalization? Normalize(ParseResult parse) => _normalize.Parse(parse);

    public ModelLoadSettings Parse(ParseResult parse)
    {
        string? arch = parse.GetValue(_arch)?.Trim().ToLowerInvariant();
        if (arch is not null && !Architectures.Names.Contains(arch))
            throw new UsageException($"--arch must be one of {string.Join(", ", Architectures.Names)}, got '{arch}'.");
        double? width = parse.GetValue(_width);
        if (width is double w && !(w > 0 && double.IsFinite(w)))
            throw new UsageException($"--width must be a positive number, got {w}.");
        if (_description.IsGiven(parse) && (arch is not null || width is not null))
            throw new UsageException("--description fixes the whole network; give it or --arch/--width, not both.");
        return new ModelLoadSettings(_description.Architecture(parse), arch, width, parse.GetValue(_allowNonFinite));
    }
}
