using System.CommandLine;

namespace Circumvent.Cli.Commands;

/// <summary>Option constructors shared by the commands.</summary>
internal static class Options
{
    public static Option<T> Make<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    public static Option<string> Required(string name, string description) =>
        new(name) { Description = description, Required = true };

    public static Option<bool> Json() => new("--json") { Description = "Print one JSON object on stdout instead of text." };

    /// <summary>The value of a required option (System.CommandLine has already checked it is present).</summary>
    public static string Value(this ParseResult parse, Option<string> option) =>
        parse.GetValue(option) is { Length: > 0 } value ? value : throw new UsageException($"{option.Name} needs a value.");
}
