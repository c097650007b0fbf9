using System.Runtime.InteropServices;
using Circumvent.Training;

namespace Circumvent.Cli;

public static class Program
{
    /// <summary>Exit code for bad input (files, options, values): the message says what was expected.</summary>
    public const int BadInput = 2;
    /// <summary>Exit code for an unexpected internal failure.</summary>
    public const int InternalError = 1;

    /// <summary>Exit code after Ctrl+C (128 + SIGINT), as shells report it.</summary>
    public const int Interrupted = 130;
    /// <summary>Exit code after SIGTERM (128 + 15), as shells report it.</summary>
    public const int Terminated = 143;

    public static int Main(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        int stoppedWith = Interrupted;
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
        // `kill`, a job scheduler's time limit or a container stop send SIGTERM: stop as for Ctrl+C, after the
        // current batch, keeping every finished epoch, curve and cell, instead of the runtime exiting mid-step.
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stoppedWith = Terminated;
            cancel.Cancel();
        });
        int code = Run(args, Console.Out, Console.Error, interactive: !Console.IsOutputRedirected, cancel.Token);
        return code == Interrupted ? stoppedWith : code;
    }

    /// <summary>
    /// Runs one command line in-process. Every failure the user can fix ends here as ONE line on
    /// <paramref name="stderr"/> and exit code 2; nothing below the CLI prints or exits by itself.
    /// </summary>
    /// <param name="interactive">Use the live Spectre display (only when stdout is a real terminal).</param>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool interactive = false, CancellationToken cancellation = default)
    {
        var app = new CliApp(stdout, stderr, interactive, cancellation);
        try
        {
            return app.Invoke(args);
        }
        catch (Exception ex) when (Describe(ex) is string message)
        {
            stderr.WriteLine($"circumvent: {message}");
            return BadInput;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("circumvent: cancelled; no partial output was written (finished work is kept: rerun the command to resume).");
            return Interrupted;
        }
        catch (Exception ex)
        {
            // Not the user's fault: still one line, with the type so a bug report is useful.
            stderr.WriteLine($"circumvent: internal error ({ex.GetType().Name}): {OneLine(ex.Message)}");
            if (Environment.GetEnvironmentVariable("CIRCUMVENT_DEBUG") == "1") stderr.WriteLine(ex);
            return InternalError;
        }
    }

    /// <summary>
    /// One line for any error, as <see cref="Run"/> would print it after "circumvent: ", for a failed cell of a plan; a bad
    /// file is named by its whole path here, since a plan may read several files of the same name.
    /// </summary>
    internal static string OneLineError(Exception ex) => ex switch
    {
        Circumvent.Data.DataFormatException d => OneLine($"{d.FilePath}: {d.Problem}"),
        Circumvent.Experiments.Running.ModelFailedEarlierException m => $"its {m.Model} failed to train earlier in this run: {OneLineError(m.InnerException!)}",
        _ => Describe(ex) ?? $"internal error ({ex.GetType().Name}): {OneLine(ex.Message)}",
    };

    /// <summary>The one-line message for an error the user can act on, or null for a bug.</summary>
    private static string? Describe(Exception ex) => ex switch
    {
        UsageException or ArgumentException or TrainingDivergedException => OneLine(ex.Message),
        FileNotFoundException f => $"file not found: {f.FileName ?? OneLine(f.Message)}",
        DirectoryNotFoundException or UnauthorizedAccessException or IOException => OneLine(ex.Message),
        _ when LowerLayerErrors.IsInputError(ex) => OneLine(ex.Message),
        _ => null,
    };

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}

/// <summary>A problem with the command line or its inputs, described for the user.</summary>
public sealed class UsageException(string message) : Exception(message);
