using Circumvent.Data;
using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Method.Runs;
using Circumvent.Method.Pipelines;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Attacks;

namespace Circumvent.Tests.Cli;

/// <summary>`train --attack ssba` end to end on a tiny synthetic CIFAR-10 layout: the encoder beside the model, its hash, eval and the option errors.</summary>
public class CliSsbaTests
{
    private static readonly Lazy<(string Dir, string Data)> Fixture = new(() =>
    {
        var dir = CliHarness.TempFolder();
        return (dir, "cifar10:" + WriteSyntheticCifar(Path.Combine(dir, "cifar")));
    });

    /// <summary>A CIFAR-10 binary layout of <see cref="SsbaEncoderTests.SyntheticImages"/>: 5 × 40 training and 60 test images, 10 classes.</summary>
    internal static string WriteSyntheticCifar(string folder)
    {
        Directory.CreateDirectory(folder);
        static byte[] Records(Circumvent.Data.ImageDataset images)
        {
            var bytes = new byte[images.Count * 3073];
            for (int i = 0; i < images.Count; i++)
            {
                bytes[i * 3073] = (byte)images.Labels[i];
                images.Image(i).CopyTo(bytes.AsSpan(i * 3073 + 1, 3072));
            }
            return bytes;
        }
        int seed = 10;
        foreach (var name in Circumvent.Data.Formats.Cifar10Binary.TrainFiles)
            File.WriteAllBytes(Path.Combine(folder, name), Records(SsbaEncoderTests.SyntheticImages(40, seed++, classes: 10)));
        File.WriteAllBytes(Path.Combine(folder, Circumvent.Data.Formats.Cifar10Binary.TestFile), Records(SsbaEncoderTests.SyntheticImages(60, 99, classes: 10)));
        return folder;
    }

    /// <summary>A 2-epoch quarter-width encoder with 8 bits and one epoch of a small MLP: plumbing, not attack strength.</summary>
    private static string[] Train(string output, params string[] extra) =>
        ["train", "--arch", "mlp", "--width", "0.25", "--data", Fixture.Value.Data, "--epochs", "1", "--batch-size", "50", "--lr", "0.05",
         "--no-augment", "--seed", "1", "--out", output, .. extra];

    private static readonly string[] SmallEncoder = ["--attack", "ssba", "--fingerprint-bits", "8", "--encoder-width", "0.25", "--encoder-epochs", "2", "--encoder-lr", "1e-3"];

    private static string NewModelPath(string name) => Path.Combine(Fixture.Value.Dir, $"{name}-{Guid.NewGuid():N}.safetensors");

    private static readonly Lazy<(string Model, CliHarness.Result Train)> Backdoored = new(() =>
    {
        var model = NewModelPath("ssba");
        return (model, CliHarness.Run(Train(model, [.. SmallEncoder, "--target", "3", "--secret-seed", "4"])));
    });

    [Fact]
    public void TrainWritesTheEncoderBesideTheModelRecordsItByHashAndEvalRebuildsTheTriggerFromIt()
    {
        var (model, train) = Backdoored.Value;
        Assert.True(train.ExitCode == 0, $"train failed: {train.Stderr}");
        Assert.Contains("ssba-encoder epoch 2/2", train.Stdout);
        string encoder = SsbaEncoder.PathBeside(model);
        Assert.True(File.Exists(encoder));
        Assert.False(File.Exists(model + ".encoder-state"), "the encoder's progress file is removed once the model is saved");
        var checkpoint = ModelCheckpoint.Load(model);
        var attack = AttackDefinition.FromJson(checkpoint.Extra[BackdoorTraining.AttackKey]);
        Assert.Equal((encoder, Sha256Hex.OfFile(encoder), 4, 3), (attack.Encoder, attack.EncoderSha256, attack.SecretSeed, attack.Target));
        // 5% of the 200 training images were poisoned ahead of training.
        Assert.Equal(10, JsonNode.Parse(checkpoint.Extra[BackdoorTraining.PoisoningKey])!["poisoned"]!.AsArray().Count);
        var record = JsonNode.Parse(checkpoint.Extra[BackdoorTraining.SsbaEncoderKey])!;
        Assert.Equal(attack.EncoderSha256, record["sha256"]!.GetValue<string>());
        Assert.Equal(8, record["training"]!["encoder"]!["Bits"]!.GetValue<int>());
        Assert.InRange(record["held_out_secret"]!["bit_accuracy"]!.GetValue<double>(), 0, 1);

        var eval = CliHarness.Run("eval", "--model", model, "--data", Fixture.Value.Data, "--json");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.NotNull(JsonNode.Parse(eval.Stdout)!["asr"]);
    }

    [Fact]
    public void TrainingWithAGivenEncoderPoisonsWithItInsteadOfTrainingOne()
    {
        var (model, train) = Backdoored.Value;
        Assert.True(train.ExitCode == 0, train.Stderr);
        string encoder = SsbaEncoder.PathBeside(model);
        var other = NewModelPath("given");
        var run = CliHarness.Run(Train(other, "--attack", "ssba", "--encoder", encoder));
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.DoesNotContain("ssba-encoder epoch", run.Stdout);
        var attack = AttackDefinition.FromJson(ModelCheckpoint.Load(other).Extra[BackdoorTraining.AttackKey]);
        Assert.Equal((encoder, Sha256Hex.OfFile(encoder)), (attack.Encoder, attack.EncoderSha256));
        Assert.False(File.Exists(SsbaEncoder.PathBeside(other)));
    }

    [Fact]
    public void EvalNeedsTheEncoderItWasTrainedWith()
    {
        var (model, train) = Backdoored.Value;
        Assert.True(train.ExitCode == 0, train.Stderr);
        var none = CliHarness.Run("eval", "--model", model, "--data", Fixture.Value.Data, "--attack", "ssba");
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("needs --encoder FILE", Assert.Single(none.StderrLines));
        var missing = CliHarness.Run("eval", "--model", model, "--data", Fixture.Value.Data, "--attack", "ssba", "--encoder", "nowhere.safetensors");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--encoder 'nowhere.safetensors': file not found", Assert.Single(missing.StderrLines));
        var notAnEncoder = CliHarness.Run("eval", "--model", model, "--data", Fixture.Value.Data, "--attack", "ssba", "--encoder", model);
        Assert.Equal(2, notAnEncoder.ExitCode);
        Assert.Contains("not an SSBA encoder file", Assert.Single(notAnEncoder.StderrLines));

        // Another encoder (one more epoch) in place of the recorded one: refused by its hash, before any work.
        var otherModel = NewModelPath("other");
        Assert.Equal(0, CliHarness.Run(Train(otherModel, [.. SmallEncoder[..^4], "--encoder-epochs", "1"])).ExitCode);
        var swapped = CliHarness.Run("eval", "--model", model, "--data", Fixture.Value.Data, "--encoder", SsbaEncoder.PathBeside(otherModel));
        Assert.Equal(2, swapped.ExitCode);
        Assert.Contains("is not the encoder the model was trained with", Assert.Single(swapped.StderrLines));

        // The recorded file gone: one line naming it.
        string recorded = SsbaEncoder.PathBeside(otherModel);
        File.Delete(recorded);
        var gone = CliHarness.Run("eval", "--model", otherModel, "--data", Fixture.Value.Data);
        Assert.Equal(2, gone.ExitCode);
        Assert.Contains($"ssba encoder '{recorded}' (recorded in the model's attack) not found", Assert.Single(gone.StderrLines));
    }

    public static TheoryData<string, string[], string> BadOptions => new()
    {
        { "no bits", ["--attack", "ssba", "--fingerprint-bits", "0"], "--fingerprint-bits must be at least 1" },
        { "no epochs", ["--attack", "ssba", "--encoder-epochs", "0"], "--encoder-epochs must be at least 1" },
        { "negative images", ["--attack", "ssba", "--encoder-images", "-1"], "--encoder-images must be ≥ 0" },
        { "zero width", ["--attack", "ssba", "--encoder-width", "0"], "--encoder-width must be a positive number" },
        { "encoder option on badnet", ["--attack", "badnet", "--encoder-epochs", "3"], "--encoder-epochs does not apply to the badnet attack" },
        { "missing encoder", ["--attack", "ssba", "--encoder", "nowhere.safetensors"], "--encoder 'nowhere.safetensors': file not found" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void BadTrainingOptionsAreOneLineExitTwo(string why, string[] options, string message)
    {
        var output = NewModelPath("bad");
        var result = CliHarness.Run(Train(output, options));
        Assert.True(result.ExitCode == 2, $"{why}: exit {result.ExitCode}, {result.Stderr}");
        Assert.Contains(message, Assert.Single(result.StderrLines));
        Assert.False(File.Exists(output), why);
        Assert.False(File.Exists(SsbaEncoder.PathBeside(output)), why);
    }
}
