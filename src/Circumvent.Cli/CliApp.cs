using System.CommandLine;
using Circumvent.Cli.Commands;

namespace Circumvent.Cli;

/// <summary>The command tree. Parse errors become one line on stderr and exit code 2.</summary>
internal sealed class CliApp
{
    private readonly RootCommand _root;
    private readonly TextWriter _stderr;
    private readonly TextWriter _stdout;

    public CliApp(TextWriter stdout, TextWriter stderr, bool interactive, CancellationToken cancellation)
    {
        _stdout = stdout;
        _stderr = stderr;
        var console = new CliConsole(stdout, stderr, interactive, cancellation);
        _root = new RootCommand("circumvent: train, evaluate and repair image classifiers (TSC backdoor removal).")
        {
            TrainCommand.Create(console),
            PretrainCommand.Create(console),
            EvalCommand.Create(console),
            BenchCommand.Create(console),
            DemoCommand.Create(console),
            PurifyCommand.Create(console),
            CurveCommand.Create(console),
            InspectCommand.Create(console),
            ExperimentCommand.Create(console),
            NarcissusTriggerCommand.Create(console),
        };
        NumberOptions.Install(_root);
        HelpWithMore.Install(_root);
    }

    /// <summary>The command tree (tests walk it to check every option).</summary>
    internal RootCommand Root => _root;

    public int Invoke(string[] args)
    {
        var parse = _root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // An unknown token explains more than the "required command missing" that it also causes.
            var error = parse.Errors.FirstOrDefault(e => parse.UnmatchedTokens.Any(t => e.Message.Contains(t, StringComparison.Ordinal)))
                        ?? parse.Errors[0];
            _stderr.WriteLine($"circumvent: {error.Message.TrimEnd('.')} (see 'circumvent --help').");
            return Program.BadInput;
        }
        return parse.Invoke(new InvocationConfiguration
        {
            Output = _stdout,
            Error = _stderr,
            EnableDefaultExceptionHandler = false,
        });
    }
}

/// <summary>Where commands write: stdout for results, stderr for problems, and whether a live display is allowed.</summary>
internal sealed record CliConsole(TextWriter Out, TextWriter Error, bool Interactive, CancellationToken Cancellation)
{
    /// <summary>A problem that did not stop the command, as one stderr line.</summary>
    public void Warn(string message) => Error.WriteLine($"circumvent: warning: {message}");
}
