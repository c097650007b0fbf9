using System.Text.Json;
using Circumvent.Attacks;
using Circumvent.Data.Formats;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Tests.Cli;

/// <summary>`train --sbl`, `narcissus-trigger` and `train --attack narcissus` end to end on a tiny synthetic dataset, and their bad input.</summary>
public class CliSblNarcissusTests
{
    private static readonly Lazy<(string Dir, string Data)> Fixture = new(() =>
    {
        var dir = CliHarness.TempFolder();
        return (dir, "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 500, testCount: 100));
    });

    private static string[] Train(string output, params string[] extra) =>
        ["train", "--arch", "mlp", "--width", "0.25", "--data", Fixture.Value.Data, "--epochs", "2", "--batch-size", "25",
         "--lr", "0.05", "--no-augment", "--seed", "1", "--out", output, .. extra];

    private static string Model(string name) => Path.Combine(Fixture.Value.Dir, $"{name}-{Guid.NewGuid():N}.safetensors");

    /// <summary>`train --help` gives each --sbl-* knob the default it really has: SblSchedule's values, and for the two
    /// whose default is derived ("two thirds of --epochs", "all") that text, not a placeholder 0.</summary>
    [Fact]
    public void TrainHelpGivesTheSblKnobsTheirRealDefaults()
    {
        var run = CliHarness.Run("train", "--help");
        Assert.Equal(0, run.ExitCode);
        string Line(string option) => Assert.Single(run.Stdout.Split('\n'), l => l.TrimStart().StartsWith(option + " "));
        var d = new SblSchedule();
        foreach (var (option, value) in new[] { ("--sbl-rho", d.Rho), ("--sbl-clean-share", d.CleanShare), ("--sbl-defender-share", d.DefenderShare),
                                                ("--sbl-ewc-lambda", d.EwcLambda), ("--sbl-clean-lr", d.CleanLearningRate) })
            Assert.EndsWith($"[default: {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}]", Line(option).TrimEnd());
        Assert.Contains("(default: two thirds of --epochs, rounded up)", Line("--sbl-clean-epochs"));
        Assert.Contains("(default: all)", Line("--sbl-fisher-examples"));
        foreach (var option in new[] { "--sbl-clean-epochs", "--sbl-fisher-examples" })
            Assert.DoesNotContain("[default:", Line(option));
    }

    [Fact]
    public void SblTrainsBothTasksOnDisjointSplitsAndRecordsThem()
    {
        var model = Model("sbl");
        var run = CliHarness.Run(Train(model, "--attack", "badnet", "--poison-rate", "0.1", "--target", "0", "--sbl", "--sbl-clean-epochs", "2"));
        Assert.True(run.ExitCode == 0, $"train failed: {run.Stderr}");
        // 500 = 25 clean (5%) + 50 defender (10%) + 425 mixed, poisoned at 10% of the mixed part: round(42.5) = 43.
        Assert.Contains("425 images, badnet attack: 43 poisoned", run.Stdout);
        Assert.Contains("sbl task 0 (SAM ρ 0.05)", run.Stdout);
        Assert.Contains("sbl: diagonal Fisher over 425 mixed examples", run.Stdout);
        Assert.Contains("sbl task 1: 25 clean images", run.Stdout);

        var checkpoint = ModelCheckpoint.Load(model);
        var attack = AttackDefinition.FromJson(checkpoint.Extra["circumvent.attack"]);
        Assert.Equal(new SblSchedule { CleanEpochs = 2 }, attack.Sbl);
        using (var splits = JsonDocument.Parse(checkpoint.Extra["circumvent.sbl_splits"]))
        {
            Assert.Equal(425, splits.RootElement.GetProperty("mixed").GetInt32());
            Assert.Equal(25, splits.RootElement.GetProperty("clean").GetInt32());
            Assert.Equal(50, splits.RootElement.GetProperty("defender").GetInt32());
        }
        var poisoned = PoisoningRecord.FromJson(checkpoint.Extra["circumvent.poisoning"]).Poisoned;
        Assert.Equal(43, poisoned.Length);
        Assert.All(poisoned, i => Assert.InRange(i, 0, 499)); // indices into the training split, not the mixed part
        Assert.False(File.Exists(model + ".sbl-state"));
        Assert.False(File.Exists(model + ".train-state"));
    }

    [Theory]
    [InlineData(new[] { "--attack", "badnet", "--sbl-rho", "0.1" }, "--sbl-rho needs --sbl")]
    [InlineData(new[] { "--sbl" }, "--sbl needs --attack")]
    [InlineData(new[] { "--attack", "input-aware", "--sbl" }, "input-aware")]
    [InlineData(new[] { "--attack", "badnet", "--sbl", "--sbl-clean-share", "0.5", "--sbl-defender-share", "0.5" }, "--sbl-clean-share + --sbl-defender-share")]
    [InlineData(new[] { "--attack", "badnet", "--sbl", "--sbl-rho", "0" }, "--sbl-rho must be a positive number")]
    [InlineData(new[] { "--attack", "narcissus" }, "--trigger-image")]
    [InlineData(new[] { "--attack", "badnet", "--test-amplification", "2" }, "--test-amplification does not apply to the badnet attack")]
    public void BadSblAndNarcissusOptionsAreOneLineBeforeAnyWork(string[] options, string expected)
    {
        var model = Model("bad");
        var run = CliHarness.Run(Train(model, options));
        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.StderrLines);
        Assert.Contains(expected, run.Stderr);
        Assert.False(File.Exists(model));
    }

    [Fact]
    public void NarcissusTriggerMadeForTheDataPoisonsTargetClassImagesOnly()
    {
        var surrogate = Model("surrogate");
        Assert.Equal(0, CliHarness.Run(Train(surrogate)).ExitCode);
        var trigger = Path.Combine(Fixture.Value.Dir, $"trigger-{Guid.NewGuid():N}.npy");
        var make = CliHarness.Run("narcissus-trigger", "--surrogate", surrogate, "--data", Fixture.Value.Data, "--target", "2",
            "--rounds", "3", "--warmup-epochs", "1", "--lr", "0.05", "--batch-size", "10", "--out", trigger);
        Assert.True(make.ExitCode == 0, $"narcissus-trigger failed: {make.Stderr}");
        Assert.Contains("target-class loss", make.Stdout);
        var saved = Npy.Read(trigger);
        Assert.Equal([1, 1, 28, 28], saved.Shape);
        Assert.True(saved.Floats!.Max(Math.Abs) <= 32f / 255 + 1e-6f, "the file is in the authors' units: ±32/255 at most");
        Assert.False(File.Exists(trigger + ".narcissus.trigger-state"));

        var model = Model("narcissus");
        var train = CliHarness.Run(Train(model, "--attack", "narcissus", "--target", "2", "--poison-rate", "0.02", "--trigger-image", trigger));
        Assert.True(train.ExitCode == 0, $"train failed: {train.Stderr}");
        Assert.Contains("10 poisoned (clean-label, labels kept) → class 2", train.Stdout);
        var attack = AttackDefinition.FromJson(ModelCheckpoint.Load(model).Extra["circumvent.attack"]);
        Assert.Equal(3, attack.TestAmplification);

        var missing = CliHarness.Run("narcissus-trigger", "--surrogate", Path.Combine(Fixture.Value.Dir, "none.safetensors"),
            "--data", Fixture.Value.Data, "--out", Path.Combine(Fixture.Value.Dir, "t.npy"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--surrogate", missing.Stderr);
        var wrongTarget = CliHarness.Run("narcissus-trigger", "--surrogate", surrogate, "--data", Fixture.Value.Data, "--target", "12",
            "--out", Path.Combine(Fixture.Value.Dir, "t.npy"));
        Assert.Equal(2, wrongTarget.ExitCode);
        Assert.Contains("--target 12", wrongTarget.Stderr);
    }
}
