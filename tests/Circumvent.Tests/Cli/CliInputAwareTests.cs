using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Method.Pipelines;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Tests.Cli;

/// <summary>`train --attack input-aware` end to end on a tiny synthetic set, and its option errors.</summary>
public class CliInputAwareTests
{
    private static readonly Lazy<(string Dir, string Data)> Fixture = new(() =>
    {
        var dir = CliHarness.TempFolder();
        return (dir, "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 600, testCount: 200, size: 16));
    });

    /// <summary>15 epochs of a small MLP: about 35 s of CPU with input-aware's networks (most of it the 5 mask epochs).</summary>
    private static string[] Train(string output, params string[] extra) => TrainFor(15, output, extra);

    private static string[] TrainFor(int epochs, string output, params string[] extra) =>
        ["train", "--arch", "mlp", "--width", "0.5", "--data", Fixture.Value.Data, "--epochs", $"{epochs}", "--batch-size", "50",
         "--lr", "0.05", "--no-augment", "--seed", "1", "--out", output, .. extra];

    private static string NewModelPath(string name) => Path.Combine(Fixture.Value.Dir, $"{name}-{Guid.NewGuid():N}.safetensors");

    /// <summary>One backdoored model (trained once for the class) and the eval of it.</summary>
    private static readonly Lazy<(string Model, CliHarness.Result Train)> Backdoored = new(() =>
    {
        var model = NewModelPath("input-aware");
        return (model, CliHarness.Run(Train(model, "--attack", "input-aware", "--mask-epochs", "5", "--target", "2")));
    });

    private static JsonObject EvalJson(params string[] args)
    {
        var eval = CliHarness.Run(["eval", "--data", Fixture.Value.Data, "--json", .. args]);
        Assert.True(eval.ExitCode == 0, $"eval failed: {eval.Stderr}");
        return JsonNode.Parse(eval.Stdout)!.AsObject();
    }

    [Fact]
    public void TrainedBackdoorBeatsACleanModelOnTheSameTriggersAndEvalRebuildsThemFromTheCheckpoint()
    {
        var (model, train) = Backdoored.Value;
        Assert.True(train.ExitCode == 0, $"train failed: {train.Stderr}");
        Assert.Contains("mask epoch 5/5", train.Stdout);
        var checkpoint = ModelCheckpoint.Load(model);
        var attack = AttackDefinition.FromJson(checkpoint.Extra[BackdoorTraining.AttackKey]);
        string generators = InputAwareTraining.GeneratorsPath(model);
        Assert.Equal(new AttackDefinition { Kind = "input-aware", Target = 2, PoisonRate = 0.1, MaskEpochs = 5, Generators = generators }, attack);
        Assert.True(File.Exists(generators));
        Assert.False(checkpoint.Extra.ContainsKey(BackdoorTraining.PoisoningKey));
        var settings = JsonNode.Parse(checkpoint.Extra[BackdoorTraining.InputAwareTrainingKey])!;
        Assert.Equal((5, 5), (settings["backdoor_per_batch"]!.GetValue<int>(), settings["cross_per_batch"]!.GetValue<int>()));

        var backdoored = EvalJson("--model", model);
        var cleanModel = NewModelPath("clean");
        var clean = CliHarness.Run(Train(cleanModel));
        Assert.True(clean.ExitCode == 0, clean.Stderr);
        var cleanScores = EvalJson("--model", cleanModel, "--attack", "input-aware", "--generators", generators, "--target", "2");
        double asr = backdoored["asr"]!.GetValue<double>(), cleanAsr = cleanScores["asr"]!.GetValue<double>();
        // A short run learns the dynamic trigger only partly (the authors train for hundreds of epochs), and how far
        // depends on rounding: over seeds 1-6 and oneDNN's AVX-512/AVX2/SSE4.1 kernels it reached 52-100% against a
        // clean model's 0-13%. The claim is the gap, with room below the smallest one seen (52 points).
        Assert.True(asr > cleanAsr + 30, $"ASR {asr:F2}% backdoored vs {cleanAsr:F2}% clean");
        Assert.True(backdoored["acc"]!.GetValue<double>() > 80, $"clean accuracy {backdoored["acc"]}");
    }

    [Fact]
    public void SameSeedGivesTheSameNetworksAndModel()
    {
        string[] quick = ["--attack", "input-aware", "--mask-epochs", "1"];
        var first = NewModelPath("first");
        var again = NewModelPath("again");
        foreach (var model in new[] { first, again })
        {
            var run = CliHarness.Run(TrainFor(1, model, quick));
            Assert.True(run.ExitCode == 0, run.Stderr);
        }
        Assert.Equal(File.ReadAllBytes(InputAwareTraining.GeneratorsPath(first)), File.ReadAllBytes(InputAwareTraining.GeneratorsPath(again)));
        var a = ModelCheckpoint.Load(first).Parameters;
        var b = ModelCheckpoint.Load(again).Parameters;
        foreach (var name in a.Names) Assert.Equal(a[name].ToArray(), b[name].ToArray());
    }

    [Fact]
    public void PurifyMeasuresAsrFromTheStoredAttack()
    {
        var (model, train) = Backdoored.Value;
        Assert.True(train.ExitCode == 0, train.Stderr);
        var output = NewModelPath("purified");
        var report = output + ".json";
        var purify = CliHarness.Run("purify", "--model", model, "--data", Fixture.Value.Data, "--defense", "none", "--out", output, "--report", report);
        Assert.True(purify.ExitCode == 0, purify.Stderr);
        var json = JsonNode.Parse(File.ReadAllText(report))!;
        Assert.Equal(EvalJson("--model", model)["asr"]!.GetValue<double>(), json["asr_before"]!.GetValue<double>(), 1);
    }

    public static TheoryData<string, string[], string> BadOptions => new()
    {
        { "cross rate of 1", ["--attack", "input-aware", "--cross-rate", "1"], "--cross-rate must be in [0, 1)" },
        { "no clean samples left", ["--attack", "input-aware", "--poison-rate", "0.6", "--cross-rate", "0.4"], "sum < 1" },
        { "no mask training", ["--attack", "input-aware", "--mask-epochs", "0"], "--mask-epochs must be at least 1" },
        { "cross rate on badnet", ["--attack", "badnet", "--cross-rate", "0.2"], "--cross-rate does not apply to the badnet attack" },
        { "rate too small for a batch", ["--attack", "input-aware", "--poison-rate", "0.01"], "rounds down to no backdoor sample" },
        { "adaptive on input-aware", ["--attack", "input-aware", "--adaptive-tsc"], "--adaptive-tsc does not support --attack input-aware" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void BadTrainingOptionsAreOneLineExitTwo(string why, string[] options, string message)
    {
        var output = NewModelPath("bad");
        var result = CliHarness.Run(Train(output, options));
        Assert.True(result.ExitCode == 2, $"{why}: exit {result.ExitCode}, {result.Stderr}");
        Assert.Single(result.StderrLines);
        Assert.Contains(message, result.Stderr);
        Assert.False(File.Exists(output), why);
        Assert.False(File.Exists(InputAwareTraining.GeneratorsPath(output)), why);
    }

    [Fact]
    public void EvalNeedsTheTriggerNetworks()
    {
        var (model, train) = Backdoored.Value;
        Assert.True(train.ExitCode == 0, train.Stderr);
        var missing = CliHarness.Run("eval", "--model", model, "--data", Fixture.Value.Data, "--attack", "input-aware");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("needs --generators FILE", Assert.Single(missing.StderrLines));
        var wrong = CliHarness.Run("eval", "--model", model, "--data", Fixture.Value.Data, "--attack", "input-aware", "--generators", model);
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("not an input-aware generator file", Assert.Single(wrong.StderrLines));
        var onTrain = CliHarness.Run(Train(NewModelPath("g"), "--attack", "input-aware", "--generators", model));
        Assert.Equal(2, onTrain.ExitCode);
    }
}
