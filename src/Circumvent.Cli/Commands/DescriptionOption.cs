using System.CommandLine;
using Circumvent.Models;
using Circumvent.Models.Described;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `--description D.json|D.yaml`: the network described in a file, used where a built-in would be named
/// with --arch (train), or to read a plain state_dict that carries no Circumvent metadata (eval, purify, inspect).
/// </summary>
internal sealed class DescriptionOption
{
    private readonly Option<string?> _option;

    public DescriptionOption(string description) =>
        _option = new Option<string?>("--description") { Description = description };

    public void AddTo(Command command) => command.Options.Add(_option);

    public bool IsGiven(ParseResult parse) => parse.GetValue(_option) is not null;

    /// <summary>The description file as given, or null.</summary>
    public (string Option, string? Path) File(ParseResult parse) => (_option.Name, parse.GetValue(_option));

    /// <summary>The parsed, checked description, or null when the option is absent.</summary>
    public ModelDescription? Parse(ParseResult parse)
    {
        if (parse.GetValue(_option) is not { } path) return null;
        if (!System.IO.File.Exists(path)) throw new UsageException($"--description '{path}': file not found.");
        return DescriptionParser.ParseFile(path);
    }

    /// <summary>The architecture to load a checkpoint with: the description's, or null to use the checkpoint's own metadata.</summary>
    public ArchitectureConfig? Architecture(ParseResult parse) => Parse(parse)?.ToConfig();
}
