using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace Circumvent.Cli;

/// <summary>A command whose help ends with text that depends on the rest of the line (`purify --defense tsc --help` lists tsc's settings).</summary>
internal sealed class CommandWithMoreHelp(string name, string description, Func<ParseResult, string> more) : Command(name, description)
{
    public string MoreHelp(ParseResult parse) => more(parse);
}

/// <summary>The standard help, then <see cref="CommandWithMoreHelp.MoreHelp"/> of the command asked about.</summary>
internal sealed class HelpWithMore(HelpAction standard) : SynchronousCommandLineAction
{
    /// <summary>Makes the root's --help (which every subcommand inherits) add the commands' own text.</summary>
    public static void Install(RootCommand root)
    {
        var help = root.Options.OfType<HelpOption>().Single();
        if (help.Action is HelpAction standard) help.Action = new HelpWithMore(standard);
    }

    // As the standard help: a --help line is not refused for the required options it leaves out.
    public override bool ClearsParseErrors => standard.ClearsParseErrors;
    public override bool Terminating => standard.Terminating;

    public override int Invoke(ParseResult parse)
    {
        int code = standard.Invoke(parse);
        if (parse.CommandResult.Command is CommandWithMoreHelp command)
        {
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine(command.MoreHelp(parse));
            output.WriteLine();
        }
        return code;
    }
}
