namespace Circumvent.Tests.Cli;

/// <summary>`purify` learns its defences and their knobs from the registry: help per defence, one-line refusals.</summary>
public class PurifyDefenseHelpTests
{
    [Fact]
    public void HelpOfOneDefenceListsItsKnobsWithDefaults()
    {
        var run = CliHarness.Run("purify", "--defense", "fp", "--help");
        Assert.Equal(0, run.ExitCode);
        int section = run.Stdout.IndexOf("--defense fp: Fine-Pruning", StringComparison.Ordinal);
        Assert.True(section > 0, run.Stdout);
        string own = run.Stdout[section..];
        Assert.Contains("--prune-step NUMBER", own);
        Assert.Contains("[0.01]", own);
        Assert.Contains("--acc-ratio NUMBER", own);
        Assert.DoesNotContain("--rounds", own);
    }

    [Fact]
    public void HelpWithAnEncoderObjectiveShowsTheDefaultsThatRunUses()
    {
        // TSC on a classifier: E 3, t 0.4, curves at 0.02; on a SimCLR encoder E 2, t 0.25, Adam 5e-3, fine-tuning 5 epochs.
        string Section(params string[] args)
        {
            var run = CliHarness.Run(["purify", .. args, "--help"]);
            Assert.Equal(0, run.ExitCode);
            int at = run.Stdout.IndexOf("--defense ", run.Stdout.IndexOf("Show help", StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.True(at > 0, run.Stdout);
            return run.Stdout[at..];
        }
        string supervised = Section("--defense", "tsc");
        Assert.Matches(@"--rounds INT +Rounds E\. \[3\]", supervised);
        Assert.Matches(@"--t NUMBER +.*\[0\.4\]", supervised);
        string simclr = Section("--objective", "simclr", "--defense", "tsc");
        Assert.Contains("Its settings with --objective simclr", simclr);
        Assert.Matches(@"--rounds INT +Rounds E\. \[2\]", simclr);
        Assert.Matches(@"--t NUMBER +.*\[0\.25\]", simclr);
        Assert.Matches(@"--curve-lr NUMBER +.*\[0\.005\]", simclr);
        Assert.Matches(@"--finetune-epochs INT +.*\[5\]", simclr);
        Assert.Matches(@"--finetune-epochs INT +.*\[10\]", Section("--objective", "simclr", "--defense", "mcr"));
        Assert.Matches(@"--finetune-lr NUMBER +.*\[0\.001\]", Section("--objective", "clip", "--defense", "ft"));
        Assert.Contains("repairs classifiers only", Section("--objective", "simclr", "--defense", "fp"));
        // SimCLR refuses --no-augment (its loss compares two augmented views), so its help does not offer it.
        Assert.Contains("--no-augment", supervised);
        Assert.DoesNotContain("--no-augment", simclr);
    }

    [Fact]
    public void HelpWithoutADefenceListsEveryDefence()
    {
        var run = CliHarness.Run("purify", "--help");
        Assert.Equal(0, run.ExitCode);
        foreach (var name in new[] { "tsc", "mcr", "ft", "none", "fp" })
            Assert.Matches($@"(?m)^  {name} +\S", run.Stdout);
        Assert.Contains("--retune", run.Stdout);
    }

    [Theory]
    [InlineData(new[] { "--defense", "tsc", "--prune-step", "0.05" }, "--prune-step does not apply to --defense tsc (it uses --rounds")]
    [InlineData(new[] { "--defense", "fp", "--rounds", "2" }, "--rounds does not apply to --defense fp (it uses --prune-step")]
    [InlineData(new[] { "--defense", "fp", "--prune-stepp", "0.05" }, "'--prune-stepp'")]
    [InlineData(new[] { "--defense", "fp", "--acc-ratio", "1.5" }, "--acc-ratio must be strictly between 0 and 1, got 1.5")]
    public void AKnobTheDefenceDoesNotHaveIsOneLineExitTwo(string[] knob, string expected)
    {
        var dir = CliHarness.TempFolder();
        var run = CliHarness.Run(["purify", "--model", Path.Combine(dir, "m.safetensors"), "--data", "mnist:" + dir,
            "--out", Path.Combine(dir, "p.safetensors"), .. knob]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(expected, Assert.Single(run.StderrLines));
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }
}
