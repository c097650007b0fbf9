using System.Text.RegularExpressions;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Scripts;

/// <summary>
/// The README's `$ $C …` commands (sections "Using it" and "Experiments") that run from a fresh clone —
/// no CIFAR-10, and every file they read is in the checkout (or is the missing file an error example is
/// about) — run here as written, from the checkout root, with the real executable: exit 0 and the same
/// first line for a run, exit 2 and exactly the README's line for an error example. The others need a
/// model or file the reader makes first (from CIFAR-10, PyTorch or a description typed from the README).
/// </summary>
public partial class ReadmeCommandTests
{
    /// <param name="Line">1-based line of the README where the command starts.</param>
    /// <param name="Output">The lines the README shows it printing.</param>
    public sealed record ReadmeCommand(int Line, string[] Args, string[] Output)
    {
        public override string ToString() => $"README.md:{Line}: $C {string.Join(' ', Args)}";

        public string? ErrorLine => Output.FirstOrDefault(l => l.StartsWith("circumvent: ", StringComparison.Ordinal));

        public bool NeedsCifar10 => Args.Any(a => a.Contains("cifar10", StringComparison.Ordinal));

        /// <summary>The files the command reads: option values that name files and `experiment run|report`'s positional arguments.</summary>
        public IEnumerable<string> Inputs()
        {
            string[] fileOptions = ["--model", "--description", "--run", "--generators", "--trigger-image", "--clean-model"];
            for (int i = 0; i < Args.Length; i++)
            {
                if (fileOptions.Contains(Args[i]) && i + 1 < Args.Length) yield return Args[i + 1];
                bool positional = Args[0] == "experiment" && i >= 2 && !Args[i].StartsWith("--", StringComparison.Ordinal) && !Args[i - 1].StartsWith("--", StringComparison.Ordinal);
                if (positional) yield return Args[i];
            }
        }

        public bool RunsFromAClone(string root) =>
            !NeedsCifar10 && Inputs().All(f => File.Exists(Path.Combine(root, f)) || ErrorLine?.Contains($"'{f}': file not found") == true);
    }

    public static List<ReadmeCommand> Commands(string readme)
    {
        var lines = File.ReadAllLines(readme);
        int start = Array.FindIndex(lines, l => l == "## Using it");
        int end = Array.FindIndex(lines, l => l == "## How it is built");
        Assert.True(start >= 0 && end > start, "README.md: sections '## Using it' … '## How it is built' not found");
        var commands = new List<ReadmeCommand>();
        bool inBlock = false;
        for (int i = start; i < end; i++)
        {
            if (lines[i].StartsWith("```", StringComparison.Ordinal)) { inBlock = !inBlock; continue; }
            if (!inBlock || !lines[i].StartsWith("$ $C ", StringComparison.Ordinal)) continue;
            int first = i;
            string text = lines[i][5..];
            while (text.EndsWith('\\') && i + 1 < end) text = text[..^1] + " " + lines[++i].Trim();
            text = Comment().Replace(text, "");
            var output = lines.Skip(i + 1).TakeWhile(l => !l.StartsWith("$ ", StringComparison.Ordinal) && !l.StartsWith("```", StringComparison.Ordinal)).ToArray();
            commands.Add(new ReadmeCommand(first + 1, text.Split(' ', StringSplitOptions.RemoveEmptyEntries), output));
        }
        return commands;
    }

    [GeneratedRegex(@"\s+#\s.*$")]
    private static partial Regex Comment();

    [GeneratedRegex(@"^plan '[^']+': \d+ cells \(shard [^)]+\)")]
    private static partial Regex PlanHeader();

    [SkippableFact]
    public void EveryCommandThatRunsFromACloneRunsAsTheReadmeShows()
    {
        string root = RepositoryRoot.Path;
        var exe = Path.Combine(AppContext.BaseDirectory, "circumvent");
        Skip.IfNot(File.Exists(exe), $"the circumvent executable is not beside the tests ({exe})");
        var runnable = Commands(Path.Combine(root, "README.md")).Where(c => c.RunsFromAClone(root)).ToList();
        Assert.Contains(runnable, c => c.Args is ["experiment", "run", "experiments/tiny.yaml", ..]);
        Skip.If(runnable.Any(c => c.Args.Contains("fashion-mnist") || c.Args.Contains("experiments/tiny.yaml")) &&
                !Directory.Exists("/usr/share/datasets/fashion-mnist"),
            "Fashion-MNIST is not installed (Debian's dataset-fashion-mnist; scripts/install-deps installs it)");

        // Every --out goes to one temporary folder: the plan runs once, the reruns find its cells done.
        string outFolder = Scratch.NewFilePath("readme-", "");
        foreach (var command in runnable)
        {
            var args = command.Args.Select((a, i) => i > 0 && command.Args[i - 1] == "--out" ? outFolder : a).ToList();
            var run = ExternalProcess.Run(exe, args, workingDirectory: root, timeout: TimeSpan.FromMinutes(5));
            if (command.ErrorLine is { } error)
            {
                Assert.True(run.ExitCode == 2, $"{command}\n{run}");
                Assert.Equal(error, run.Stderr.TrimEnd('\n'));
                continue;
            }
            Assert.True(run.ExitCode == 0, $"{command}\n{run}");
            if (command.Output.FirstOrDefault() is { } shown && PlanHeader().Match(shown) is { Success: true } header)
                Assert.StartsWith(header.Value, run.Stdout);
        }
    }

    [Fact]
    public void TheReadmeNamesNoFoldersOfTheMachineItWasWrittenOn()
    {
        var lines = File.ReadAllLines(Path.Combine(RepositoryRoot.Path, "README.md"));
        var local = lines.Select((l, i) => (Text: l, Line: i + 1))
            .Where(l => l.Text.Contains("/work/", StringComparison.Ordinal) || l.Text.Contains("/root", StringComparison.Ordinal) ||
                        l.Text.Contains("/home/", StringComparison.Ordinal) || l.Text.Contains("circumvent-tests", StringComparison.Ordinal))
            .Select(l => $"README.md:{l.Line}: {l.Text}");
        Assert.Empty(local);
    }
}
