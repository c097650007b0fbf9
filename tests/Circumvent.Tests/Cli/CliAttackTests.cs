using System.Text.Json;
using Circumvent.Attacks;
using Circumvent.Data.Formats;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Tests.Cli;

/// <summary>`train --attack …` poisons the training set and records the attack; `eval` reports ASR and RA.</summary>
public class CliAttackTests
{
    private static readonly Lazy<(string Dir, string Data)> Fixture = new(() =>
    {
        var dir = CliHarness.TempFolder();
        return (dir, "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 500, testCount: 100));
    });

    private static string[] Train(string output, params string[] extra) =>
        ["train", "--arch", "mlp", "--width", "0.25", "--data", Fixture.Value.Data, "--epochs", "3", "--batch-size", "50",
         "--lr", "0.05", "--no-augment", "--seed", "1", "--out", output, .. extra];

    [Fact]
    public void BadNetTrainingStoresTheAttackAndEvalReportsAsr()
    {
        var model = Path.Combine(Fixture.Value.Dir, $"badnet-{Guid.NewGuid():N}.safetensors");
        var train = CliHarness.Run(Train(model, "--attack", "badnet", "--poison-rate", "0.1", "--target", "0"));
        Assert.True(train.ExitCode == 0, $"train failed: {train.Stderr}");
        Assert.Contains("50 poisoned", train.Stdout);
        Assert.Contains("attack success rate", train.Stdout);

        var checkpoint = ModelCheckpoint.Load(model);
        var attack = AttackDefinition.FromJson(checkpoint.Extra["circumvent.attack"]);
        Assert.Equal(new AttackDefinition { Kind = "badnet", Target = 0, PoisonRate = 0.1 }, attack);
        using (var training = JsonDocument.Parse(checkpoint.TrainingJson!))
            Assert.Equal(50, training.RootElement.GetProperty("poisoned_count").GetInt32()); // round(0.1 · 500)
        Assert.Equal("mlp", TrainingConfig.FromJson(checkpoint.TrainingJson!).Architecture);

        var scores = CliHarness.EvalJson("--model", model, "--data", Fixture.Value.Data);
        Assert.Equal(["acc", "asr", "ra", "asr_all", "normalize"], scores.EnumerateObject().Select(p => p.Name));
        double acc = scores.GetProperty("acc").GetDouble(), asr = scores.GetProperty("asr").GetDouble(), ra = scores.GetProperty("ra").GetDouble();
        Assert.InRange(acc, 80, 100);   // the clean task is trivially separable
        Assert.InRange(asr, 80, 100);   // and the white corner is an easy shortcut
        Assert.InRange(asr + ra, 0, 100.0001);

        // Options override the stored attack: towards class 1 the backdoor (trained for 0) mostly misses.
        var other = CliHarness.EvalJson("--model", model, "--data", Fixture.Value.Data, "--target", "1");
        Assert.True(other.GetProperty("asr").GetDouble() < asr, $"target 1 ASR {other.GetProperty("asr")} should be below target 0 ASR {asr}");
        Assert.Equal(acc, other.GetProperty("acc").GetDouble());

        var text = CliHarness.Run("eval", "--model", model, "--data", Fixture.Value.Data);
        Assert.Contains("attack success rate", text.Stdout);
    }

    [Fact]
    public void BlendedTrainingRecordsTheTriggerImageAsAFullPath()
    {
        var dir = CliHarness.TempFolder();
        var trigger = Path.Combine(dir, "noise.pgm");
        var rng = new Random(8);
        Netpbm.Write(trigger, 1, 5, 5, Enumerable.Range(0, 25).Select(_ => (byte)rng.Next(256)).ToArray());
        var model = Path.Combine(dir, "blended.safetensors");
        var train = CliHarness.Run(Train(model, "--attack", "blended", "--trigger-image", trigger, "--alpha", "0.3", "--target", "2", "--poison-rate", "0.04"));
        Assert.True(train.ExitCode == 0, $"train failed: {train.Stderr}");

        var attack = AttackDefinition.FromJson(ModelCheckpoint.Load(model).Extra["circumvent.attack"]);
        Assert.Equal("blended", attack.Kind);
        Assert.Equal(Path.GetFullPath(trigger), attack.TriggerImage);
        Assert.Equal(0.3, attack.Alpha);
        Assert.Equal(2, attack.Target);

        var scores = CliHarness.EvalJson("--model", model, "--data", Fixture.Value.Data);
        Assert.InRange(scores.GetProperty("asr").GetDouble(), 0, 100);
        Assert.InRange(scores.GetProperty("ra").GetDouble(), 0, 100);
    }

    [Fact]
    public void EvalAttackOptionsApplyToACleanModel()
    {
        var model = Path.Combine(Fixture.Value.Dir, $"clean-{Guid.NewGuid():N}.safetensors");
        Assert.Equal(0, CliHarness.Run(Train(model)).ExitCode);
        Assert.False(ModelCheckpoint.Load(model).Extra.ContainsKey("circumvent.attack"));
        Assert.Equal(["acc", "normalize"], CliHarness.EvalJson("--model", model, "--data", Fixture.Value.Data).EnumerateObject().Select(p => p.Name));
        var scores = CliHarness.EvalJson("--model", model, "--data", Fixture.Value.Data, "--attack", "badnet", "--target", "3");
        Assert.Equal(["acc", "asr", "ra", "asr_all", "normalize"], scores.EnumerateObject().Select(p => p.Name));
        Assert.InRange(scores.GetProperty("asr").GetDouble(), 0, 30); // no backdoor was trained
    }

    [Fact]
    public void BadEvalAttackOptionsAreRejected()
    {
        var model = Path.Combine(Fixture.Value.Dir, $"eval-bad-{Guid.NewGuid():N}.safetensors");
        Assert.Equal(0, CliHarness.Run(Train(model)).ExitCode);
        string[] Eval(params string[] extra) => ["eval", "--model", model, "--data", Fixture.Value.Data, .. extra];
        AssertBadInput(CliHarness.Run(Eval("--attack", "trojan")), "--attack", "trojan");
        AssertBadInput(CliHarness.Run(Eval("--target", "4")), "--target", "--attack");
        AssertBadInput(CliHarness.Run(Eval("--attack", "badnet", "--target", "12")), "--target", "12");
        AssertBadInput(CliHarness.Run(Eval("--attack", "blended", "--trigger-image", "/no/such/k.ppm")), "/no/such/k.ppm");
        // eval has no --poison-rate: nothing is poisoned there.
        AssertBadInput(CliHarness.Run(Eval("--attack", "badnet", "--poison-rate", "0.1")), "--poison-rate");
    }

    private static void AssertBadInput(CliHarness.Result result, params string[] expectedWords)
    {
        Assert.True(result.ExitCode == 2, $"exit code {result.ExitCode}, stderr: {result.Stderr}");
        Assert.Single(result.StderrLines);
        Assert.DoesNotContain("   at ", result.Stderr);
        foreach (var word in expectedWords)
            Assert.Contains(word, result.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    public static TheoryData<string[], string[]> AttackMistakes => new()
    {
        { ["--attack", "trojan"], ["--attack", "trojan", "badnet"] },
        { ["--attack", "badnet", "--poison-rate", "1.5"], ["--poison-rate", "1.5"] },
        { ["--attack", "badnet", "--poison-rate", "0"], ["--poison-rate"] },
        { ["--attack", "badnet", "--target", "10"], ["--target", "10"] },
        { ["--attack", "badnet", "--target", "-1"], ["--target"] },
        { ["--attack", "badnet", "--patch-size", "0"], ["--patch-size"] },
        { ["--attack", "badnet", "--patch-size", "40"], ["does not fit"] },
        { ["--attack", "blended"], ["--trigger-image"] },
        { ["--attack", "blended", "--trigger-image", "/no/such/kitty.ppm"], ["--trigger-image", "/no/such/kitty.ppm"] },
        { ["--target", "3"], ["--target", "--attack"] },
    };

    [Fact]
    public void MalformedTriggerImageIsNamed()
    {
        var trigger = Path.Combine(Fixture.Value.Dir, "broken.ppm");
        File.WriteAllText(trigger, "P6\n4 4\n255\n"); // header without its raster
        var output = Path.Combine(Fixture.Value.Dir, $"bad-{Guid.NewGuid():N}.safetensors");
        AssertBadInput(CliHarness.Run(Train(output, "--attack", "blended", "--trigger-image", trigger)), "broken.ppm");
        Assert.False(File.Exists(output));
    }

    [Theory]
    [MemberData(nameof(AttackMistakes))]
    public void BadAttackOptionsAreRejectedBeforeTraining(string[] extra, string[] expectedWords)
    {
        var output = Path.Combine(Fixture.Value.Dir, $"bad-{Guid.NewGuid():N}.safetensors");
        AssertBadInput(CliHarness.Run(Train(output, extra)), expectedWords);
        Assert.False(File.Exists(output), "--out must not be created when the attack is invalid");
    }
}
