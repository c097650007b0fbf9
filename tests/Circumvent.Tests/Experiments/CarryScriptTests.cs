using Circumvent.Tests.Support;

namespace Circumvent.Tests.Experiments;

/// <summary>experiments/carry.sh, run from a copy so its archive folder is the test's own.</summary>
public class CarryScriptTests
{
    [Fact]
    public void ARunsUnfinishedPartAndItsFilesComeBackAndFinishedDefencesAndLocksStayBehind()
    {
        string root = Circumvent.Tests.Cli.CliHarness.TempFolder();
        string script = Path.Combine(root, "checkout", "experiments", "carry.sh");
        Directory.CreateDirectory(Path.GetDirectoryName(script)!);
        ExternalProcess.WriteScript(script, File.ReadAllText(RepositoryRoot.File("experiments", "carry.sh")));

        string out1 = Path.Combine(root, "out");
        void Write(string path, string text)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }
        Write(Path.Combine(out1, "results.jsonl"), "{\"key\":\"a\"}\n");
        Write(Path.Combine(out1, "models", "m1", "model.safetensors.train-state"), "state");
        Write(Path.Combine(out1, "models", "m1", "model.lock"), "");
        Write(Path.Combine(out1, "runs", "finished", "purified.safetensors"), "done");
        Write(Path.Combine(out1, "runs", "unfinished", "purified.safetensors.run", "state.json"), "{}");
        string made = Path.Combine(root, "made", "clean.safetensors");
        Write(made, "surrogate");

        var save = ExternalProcess.Run(script, ["save", "lane", out1, made]);
        Assert.True(save.ExitCode == 0, save.ToString());
        string carried = Path.Combine(root, "checkout", "experiments", "results", "in-progress", "lane");
        Assert.Equal("state", File.ReadAllText(Path.Combine(carried, "out", "models", "m1", "model.safetensors.train-state")));

        // A second save replaces the carry whole: what the run no longer has is gone from it, and
        // nothing of the first save's staging is left beside it.
        File.Delete(Path.Combine(out1, "runs", "unfinished", "purified.safetensors.run", "state.json"));
        save = ExternalProcess.Run(script, ["save", "lane", out1, made]);
        Assert.True(save.ExitCode == 0, save.ToString());
        Assert.False(File.Exists(Path.Combine(carried, "out", "runs", "unfinished", "purified.safetensors.run", "state.json")));
        Assert.Equal(["lane"], Directory.GetFileSystemEntries(Path.GetDirectoryName(carried)!).Select(Path.GetFileName));
        Write(Path.Combine(out1, "runs", "unfinished", "purified.safetensors.run", "state.json"), "{}");
        save = ExternalProcess.Run(script, ["save", "lane", out1, made]);
        Assert.True(save.ExitCode == 0, save.ToString());

        // A save that fails (a named file is missing) leaves the last carry as it was.
        var failed = ExternalProcess.Run(script, ["save", "lane", out1, Path.Combine(root, "made", "gone.safetensors")]);
        Assert.Equal(2, failed.ExitCode);
        Assert.Contains("gone.safetensors", failed.Stderr);
        Assert.Equal("{}", File.ReadAllText(Path.Combine(carried, "out", "runs", "unfinished", "purified.safetensors.run", "state.json")));

        File.Delete(made);
        string out2 = Path.Combine(root, "elsewhere");
        var restore = ExternalProcess.Run(script, ["restore", "lane", out2]);
        Assert.True(restore.ExitCode == 0, restore.ToString());
        Assert.Equal("{\"key\":\"a\"}\n", File.ReadAllText(Path.Combine(out2, "results.jsonl")));
        Assert.Equal("state", File.ReadAllText(Path.Combine(out2, "models", "m1", "model.safetensors.train-state")));
        Assert.Equal("{}", File.ReadAllText(Path.Combine(out2, "runs", "unfinished", "purified.safetensors.run", "state.json")));
        Assert.False(Directory.Exists(Path.Combine(out2, "runs", "finished")));
        Assert.False(File.Exists(Path.Combine(out2, "models", "m1", "model.lock")));
        Assert.Equal("surrogate", File.ReadAllText(made));

        // A missing out folder or carry is one line and exit 2.
        var missing = ExternalProcess.Run(script, ["restore", "nothing", out2]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("in-progress/nothing", missing.Stderr);
        var noOut = ExternalProcess.Run(script, ["save", "lane", Path.Combine(root, "no-such-out")]);
        Assert.Equal(2, noOut.ExitCode);
        Assert.Contains("no-such-out", noOut.Stderr);
    }

    [Fact]
    public void TheRepositoryKeepsTheTrainingStatesACarryHoldsAndOnlyThere()
    {
        if (!Directory.Exists(RepositoryRoot.File(".git")) && !File.Exists(RepositoryRoot.File(".git")))
            throw new SkipException("not a git checkout: .gitignore's effect cannot be asked of git here.");
        int CheckIgnore(string path) =>
            ExternalProcess.Run("git", ["check-ignore", "-q", path], workingDirectory: RepositoryRoot.Path).ExitCode;

        // Exit 1: not ignored, so `git add -A` takes what carry.sh saved.
        Assert.Equal(1, CheckIgnore("experiments/results/in-progress/lane/out/models/m1/model.safetensors.train-state"));
        Assert.Equal(1, CheckIgnore("experiments/results/in-progress/lane/out/models/m1/model.safetensors.mask-state"));
        Assert.Equal(1, CheckIgnore("experiments/results/in-progress/lane/out/runs/r/purified.safetensors.run/state.json"));
        // Exit 0: everywhere else the same names stay out of the tree.
        Assert.Equal(0, CheckIgnore("experiments/models/m1/model.safetensors.train-state"));
        Assert.Equal(0, CheckIgnore("work/purified.safetensors.run/state.json"));
    }
}
