using Circumvent.Attacks;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Tests.Cli;

/// <summary>Smoke tests of `train --attack sig|lf|wanet|lc` on a tiny synthetic set: the definition and what was poisoned are recorded, eval rebuilds the triggered test set.</summary>
public class CliAttackSuiteTests
{
    private static readonly Lazy<(string Dir, string Data)> Fixture = new(() =>
    {
        var dir = CliHarness.TempFolder();
        return (dir, "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 300, testCount: 60, size: 16));
    });

    internal static string[] Train(string output, params string[] extra) =>
        ["train", "--arch", "mlp", "--width", "0.25", "--data", Fixture.Value.Data, "--epochs", "1", "--batch-size", "50",
         "--lr", "0.05", "--no-augment", "--seed", "1", "--out", output, .. extra];

    internal static string NewModelPath(string name) => Path.Combine(Fixture.Value.Dir, $"{name}-{Guid.NewGuid():N}.safetensors");

    /// <summary>Trains with the given attack options; returns the checkpoint's attack and poisoning record.</summary>
    internal static (AttackDefinition Attack, PoisoningRecord Record, string Model) TrainWith(params string[] attackArgs)
    {
        var (attack, record, model, _) = TrainWithOutput(attackArgs);
        return (attack, record, model);
    }

    /// <summary>As <see cref="TrainWith"/>, with what `train` printed.</summary>
    internal static (AttackDefinition Attack, PoisoningRecord Record, string Model, string Stdout) TrainWithOutput(params string[] attackArgs)
    {
        var model = NewModelPath("attack");
        var train = CliHarness.Run(Train(model, attackArgs));
        Assert.True(train.ExitCode == 0, $"train failed: {train.Stderr}");
        Assert.Contains("attack success rate", train.Stdout);
        var checkpoint = ModelCheckpoint.Load(model);
        var attack = AttackDefinition.FromJson(checkpoint.Extra["circumvent.attack"]);
        var record = PoisoningRecord.FromJson(checkpoint.Extra["circumvent.poisoning"]);
        var eval = CliHarness.Run("eval", "--model", model, "--data", Fixture.Value.Data, "--json");
        Assert.True(eval.ExitCode == 0, $"eval failed: {eval.Stderr}");
        Assert.Contains("\"asr\"", eval.Stdout);
        return (attack, record, model, train.Stdout);
    }

    [Fact]
    public void SigPoisonsTargetClassSamplesAndRecordsThem()
    {
        var (attack, record, _) = TrainWith("--attack", "sig", "--target", "3", "--poison-rate", "0.05", "--sig-delta", "30");
        Assert.Equal(new AttackDefinition { Kind = "sig", Target = 3, PoisonRate = 0.05, SigDelta = 30 }, attack);
        Assert.Equal(15, record.Poisoned.Length); // round(0.05 · 300)
        Assert.Equal(300, record.TrainingSamples);
        Assert.Empty(record.Noise);
        Assert.Equal(record.Poisoned.Order(), record.Poisoned);
    }

    [Fact]
    public void LimitTrainRecordsIndicesIntoTheWholeTrainingSplit()
    {
        var model = NewModelPath("limited");
        var train = CliHarness.Run(Train(model, "--attack", "badnet", "--poison-rate", "0.1", "--limit-train", "100"));
        Assert.True(train.ExitCode == 0, $"train failed: {train.Stderr}");
        var record = PoisoningRecord.FromJson(ModelCheckpoint.Load(model).Extra["circumvent.poisoning"]);
        Assert.Equal(100, record.TrainingSamples);
        Assert.Equal(10, record.Poisoned.Length);
        Assert.All(record.Poisoned, i => Assert.InRange(i, 0, 299));
        Assert.True(record.Poisoned.Max() >= 100, "indices must be into the 300-image split, not the 100-image subset (a draw of 100 of 300 reaches past 100)");
    }

    [Fact]
    public void LfTrainsWithAUserPatternAndRejectsAWrongShape()
    {
        var pattern = Path.Combine(Fixture.Value.Dir, "lf.npy");
        Circumvent.Data.Formats.Npy.Write(pattern, [8, 8, 3], Enumerable.Range(0, 192).Select(i => (byte)(i % 52)).ToArray());
        var (attack, record, _) = TrainWith("--attack", "lf", "--trigger-image", pattern, "--poison-rate", "0.1");
        Assert.Equal(Path.GetFullPath(pattern), attack.TriggerImage);
        Assert.Equal(30, record.Poisoned.Length);

        var chw = Path.Combine(Fixture.Value.Dir, "lf-chw.npy");
        Circumvent.Data.Formats.Npy.Write(chw, [3, 8, 8], new byte[192]);
        var output = NewModelPath("lf-bad");
        var result = CliHarness.Run(Train(output, "--attack", "lf", "--trigger-image", chw));
        Assert.True(result.ExitCode == 2, $"exit code {result.ExitCode}, stderr: {result.Stderr}");
        Assert.Single(result.StderrLines);
        Assert.Contains("lf-chw.npy", result.Stderr);
        Assert.Contains("(H, W, C)", result.Stderr);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void WaNetRecordsItsSeedAndNoiseSamples()
    {
        var (attack, record, _) = TrainWith("--attack", "wanet", "--poison-rate", "0.1", "--attack-seed", "7", "--warp-strength", "1");
        Assert.Equal(new AttackDefinition { Kind = "wanet", PoisonRate = 0.1, Seed = 7, WarpStrength = 1 }, attack);
        Assert.Equal(30, record.Poisoned.Length);
        Assert.Equal(60, record.Noise.Length);
        Assert.Empty(record.Noise.Intersect(record.Poisoned));
    }

    [Fact]
    public void LcPerturbsAgainstAUserCleanModelAndEvalNeedsNoneOfIt()
    {
        var clean = NewModelPath("clean");
        Assert.Equal(0, CliHarness.Run(Train(clean)).ExitCode);
        var (attack, record, model) = TrainWith("--attack", "lc", "--clean-model", clean, "--target", "1", "--poison-rate", "0.05", "--pgd-steps", "3");
        Assert.Equal(Path.GetFullPath(clean), attack.CleanModel);
        Assert.Equal(3, attack.PgdSteps);
        Assert.Equal(15, record.Poisoned.Length);

        // The test-time trigger needs no clean model: eval still works once it is gone.
        File.Delete(clean);
        var eval = CliHarness.Run("eval", "--model", model, "--data", Fixture.Value.Data, "--json");
        Assert.True(eval.ExitCode == 0, $"eval failed: {eval.Stderr}");
    }

    [Fact]
    public void SapaCraftsAgainstAUserSurrogateAndEvalNeedsNoneOfIt()
    {
        var clean = NewModelPath("surrogate");
        Assert.Equal(0, CliHarness.Run(Train(clean)).ExitCode);
        var (attack, record, model, stdout) = TrainWithOutput("--attack", "sapa", "--clean-model", clean, "--target", "1", "--poison-rate", "0.02",
            "--sapa-steps", "3", "--sapa-sources", "10", "--sapa-patch-size", "4", "--sapa-retrain", "1", "--sapa-select-poisons");
        Assert.Contains("SAPA: crafting 6 poisons against 10 patched sources, 3 steps, 1 retraining of the surrogate", stdout); // its progress is shown
        Assert.Contains("SAPA retraining 1: epoch 1/", stdout);
        Assert.False(File.Exists(model + ".sapa-state"), "the crafting's progress file outlived the saved model");
        Assert.Equal(Path.GetFullPath(clean), attack.CleanModel);
        Assert.Equal((3, 10, 4), (attack.SapaSteps, attack.SapaSources, attack.SapaPatchSize));
        Assert.Equal((1, true), (attack.SapaRetrainings, attack.SapaSelectPoisons)); // recorded in the model's attack metadata
        Assert.Equal(6, record.Poisoned.Length);

        File.Delete(clean);
        var eval = CliHarness.Run("eval", "--model", model, "--data", Fixture.Value.Data, "--json");
        Assert.True(eval.ExitCode == 0, $"eval failed: {eval.Stderr}");
    }

    [Fact]
    public void AdaptiveTscSavesTheAttacksResultAndRecordsIt()
    {
        var (_, record, model) = TrainWith("--attack", "badnet", "--poison-rate", "0.1", "--adaptive-tsc", "--adaptive-epochs", "1");
        Assert.Equal(30, record.Poisoned.Length);
        var checkpoint = ModelCheckpoint.Load(model);
        using var settings = System.Text.Json.JsonDocument.Parse(checkpoint.Extra["circumvent.adaptive_tsc"]);
        Assert.Equal(1, settings.RootElement.GetProperty("Epochs").GetInt32());
    }

    private static string JunkCheckpoint()
    {
        var path = Path.Combine(Fixture.Value.Dir, "junk.safetensors");
        File.WriteAllText(path, "not a checkpoint");
        return path;
    }

    public static TheoryData<string[], string[]> Mistakes => new()
    {
        { ["--attack", "sig", "--sig-delta", "0"], ["--sig-delta"] },
        { ["--attack", "sig", "--patch-size", "4"], ["--patch-size", "sig"] },
        { ["--attack", "badnet", "--sig-delta", "20"], ["--sig-delta", "badnet"] },
        { ["--attack", "sig", "--poison-rate", "0.5"], ["clean-label", "target class"] },
        { ["--sig-frequency", "3"], ["--sig-frequency", "--attack sig"] },
        { ["--attack", "lf"], ["--trigger-image", "lf"] },
        { ["--adaptive-tsc"], ["--adaptive-tsc", "--attack"] },
        { ["--attack", "badnet", "--adaptive-epochs", "3"], ["--adaptive-epochs", "--adaptive-tsc"] },
        { ["--attack", "badnet", "--adaptive-tsc", "--adaptive-lr", "0"], ["--adaptive-lr"] },
        { ["--attack", "lc"], ["--clean-model"] },
        { ["--attack", "sapa"], ["--clean-model"] },
        { ["--attack", "sapa", "--clean-model", JunkCheckpoint(), "--sapa-eps", "0"], ["--sapa-eps"] },
        { ["--attack", "sapa", "--clean-model", JunkCheckpoint(), "--sapa-retrain", "-1"], ["--sapa-retrain"] },
        { ["--attack", "lc", "--clean-model", "/no/such/clean.safetensors"], ["--clean-model", "/no/such/clean.safetensors"] },
        { ["--attack", "lc", "--clean-model", JunkCheckpoint()], ["junk.safetensors"] },
        { ["--attack", "sig", "--pgd-eps", "4"], ["--pgd-eps", "sig"] },
        { ["--attack", "wanet", "--warp-grid", "1"], ["--warp-grid"] },
        { ["--attack", "wanet", "--poison-rate", "0.2", "--noise-ratio", "9"], ["noise", "--noise-ratio"] },
        { ["--attack", "blended", "--attack-seed", "3"], ["--attack-seed", "blended"] },
        { ["--attack", "lf", "--trigger-image", "/no/such/lf.npy"], ["/no/such/lf.npy"] },
    };

    [Theory]
    [MemberData(nameof(Mistakes))]
    public void BadOptionsAreOneLineAndExitTwo(string[] extra, string[] expectedWords)
    {
        var output = NewModelPath("bad");
        var result = CliHarness.Run(Train(output, extra));
        Assert.True(result.ExitCode == 2, $"exit code {result.ExitCode}, stderr: {result.Stderr}");
        Assert.Single(result.StderrLines);
        Assert.DoesNotContain("   at ", result.Stderr);
        foreach (var word in expectedWords)
            Assert.Contains(word, result.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.False(File.Exists(output));
    }
}
