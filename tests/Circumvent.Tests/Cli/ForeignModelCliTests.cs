using System.Text.Json;
using Circumvent.Attacks;
using Circumvent.Models.Checkpoints;
using Circumvent.Models.Checkpoints.PyTorch;
using Circumvent.Tests.Data;

namespace Circumvent.Tests.Cli;

/// <summary>
/// A model trained elsewhere, as issue #20 found them: a plain .pth whose inputs were scaled to [−1, 1]
/// (mean 0.5, std 0.5), backdoored with a white trigger → class 1. Its preprocessing and attack must be
/// given once and are then recorded in everything written here.
/// </summary>
public class ForeignModelCliTests
{
    /// <summary>
    /// Trains (here, with --normalize 0.5,0.5) a BadNet model with a 5×5 trigger → class 1, then strips it to a bare
    /// state_dict .pth as PyTorch would save it: no architecture, no normalisation, no attack.
    /// </summary>
    private static readonly Lazy<(string Dir, string Data, string Trained, string Pth)> Foreign = new(() =>
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + WriteBrightnessClasses(Path.Combine(dir, "data"));
        var trained = Path.Combine(dir, "trained-here.safetensors");
        var train = CliHarness.Run("train", "--arch", "mlp", "--width", "0.25", "--data", data, "--epochs", "6", "--batch-size", "50",
            "--lr", "0.05", "--no-augment", "--seed", "1", "--normalize", "0.5,0.5",
            "--attack", "badnet", "--patch-size", "5", "--target", "1", "--poison-rate", "0.2", "--out", trained);
        Assert.True(train.ExitCode == 0, train.Stderr);
        var tensors = SafeTensorsReader.Read(trained).Tensors.ToList();
        var pth = Path.Combine(dir, "foreign.pth");
        PyTorchCheckpointWriter.Write(pth, tensors);
        return (dir, data, trained, pth);
    });

    /// <summary>
    /// 28×28 images in the MNIST layout whose class is their brightness (class k: pixels 75k..75k+40, k = 0, 1, 2):
    /// a task where the input normalisation decides the answer, as it does for real models (a shifted input
    /// scale moves every image into another class's range), unlike shape tasks that survive any affine rescaling.
    /// </summary>
    private static string WriteBrightnessClasses(string folder)
    {
        Directory.CreateDirectory(folder);
        var rng = new Random(3);
        foreach (var (split, count) in new[] { ("train", 600), ("t10k", 300) })
        {
            var pixels = new byte[count * 28 * 28];
            var labels = new byte[count];
            for (int i = 0; i < count; i++)
            {
                labels[i] = (byte)(i % 3);
                for (int p = 0; p < 28 * 28; p++) pixels[i * 28 * 28 + p] = (byte)(75 * labels[i] + rng.Next(0, 41));
            }
            Circumvent.Data.Formats.Idx.Write(Path.Combine(folder, $"{split}-images-idx3-ubyte"), [count, 28, 28], pixels);
            Circumvent.Data.Formats.Idx.Write(Path.Combine(folder, $"{split}-labels-idx1-ubyte"), [count], labels);
        }
        return folder;
    }

    [Fact]
    public void TrainRecordsNormalizeAndAForeignCopyNeedsIt()
    {
        var (_, data, trained, pth) = Foreign.Value;
        var recorded = ModelCheckpoint.Load(trained);
        Assert.Equal(new[] { 0.5f }, recorded.NormalizationMean);
        Assert.Equal(new[] { 0.5f }, recorded.NormalizationStd);
        var truth = CliHarness.EvalJson("--model", trained, "--data", data);
        Assert.Equal("0.5,0.5", truth.GetProperty("normalize").GetString());

        // The bare .pth scored as it must be: the same numbers as the model that records its inputs.
        var right = CliHarness.EvalJson("--model", pth, "--data", data, "--normalize", "0.5,0.5", "--attack", "badnet", "--patch-size", "5", "--target", "1");
        Assert.Equal(truth.GetProperty("acc").GetDouble(), right.GetProperty("acc").GetDouble());
        Assert.Equal(truth.GetProperty("asr").GetDouble(), right.GetProperty("asr").GetDouble());
        Assert.InRange(right.GetProperty("acc").GetDouble(), 80, 100);

        // Without it the dataset's default applies, with a warning, and the scores are not the model's.
        var guessed = CliHarness.Run("eval", "--model", pth, "--data", data, "--json");
        Assert.Equal(0, guessed.ExitCode);
        Assert.Contains("records no input normalisation", guessed.Stderr);
        Assert.Contains("--normalize", guessed.Stderr);
        var wrong = JsonDocument.Parse(guessed.Stdout).RootElement;
        Assert.Equal("0.1307,0.3081", wrong.GetProperty("normalize").GetString());
        Assert.True(wrong.GetProperty("acc").GetDouble() < truth.GetProperty("acc").GetDouble() - 30,
            $"with mnist's default normalisation ACC {wrong.GetProperty("acc")} should be far below the model's {truth.GetProperty("acc")}");

        // The text output names the preprocessing on the score line.
        var text = CliHarness.Run("eval", "--model", pth, "--data", data, "--normalize", "0.5,0.5");
        Assert.Contains("test accuracy", text.Stdout);
        Assert.Contains("(inputs mean 0.5 std 0.5 (--normalize))", text.Stdout);
    }

    [Fact]
    public void PurifyingAForeignModelRecordsItsInputsAndAttackSoEvalNeedsNoOptions()
    {
        var (dir, data, trained, pth) = Foreign.Value;
        var output = Path.Combine(dir, $"purified-{Guid.NewGuid():N}.pth");
        var purify = CliHarness.Run("purify", "--model", pth, "--data", data, "--normalize", "0.5,0.5",
            "--attack", "badnet", "--patch-size", "5", "--target", "1", "--defense", "ft", "--finetune-epochs", "1",
            "--batch-size", "50", "--clean-fraction", "0.2", "--out", output);
        Assert.True(purify.ExitCode == 0, purify.Stderr);
        Assert.Contains("inputs mean 0.5 std 0.5 (--normalize)", purify.Stdout);
        Assert.Contains("over all test images", purify.Stdout);

        var purified = ModelCheckpoint.Load(output);
        Assert.Equal(new[] { 0.5f }, purified.NormalizationMean);
        Assert.Equal(new[] { 0.5f }, purified.NormalizationStd);
        var attack = AttackDefinition.FromJson(purified.Extra["circumvent.attack"]);
        Assert.Equal(("badnet", 1, 5), (attack.Kind, attack.Target, attack.PatchSize));

        // No --normalize, no --attack: both come from the purified file.
        var eval = CliHarness.Run("eval", "--model", output, "--data", data);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.Equal("", eval.Stderr);
        Assert.Contains("inputs mean 0.5 std 0.5 (recorded in the model)", eval.Stdout);
        Assert.Contains("badnet attack (target 1): attack success rate", eval.Stdout);
        Assert.Contains("of all test images", eval.Stdout);
    }

    [Fact]
    public void ThePngTriggerOfAForeignAttackIsResizedAndPlacedAsAsked()
    {
        var (dir, data, _, pth) = Foreign.Value;
        // A 40×40 white PNG: larger than the 28×28 inputs, usable only resized to the 5×5 patch.
        var png = Path.Combine(dir, "white-40.png");
        EncodedImages.Write(png, 1, 40, 40, Enumerable.Repeat((byte)255, 40 * 40).ToArray());
        string[] eval = ["--model", pth, "--data", data, "--normalize", "0.5,0.5", "--attack", "badnet", "--target", "1", "--trigger-image", png];

        var unsized = CliHarness.Run(["eval", .. eval]);
        Assert.Equal(2, unsized.ExitCode);
        Assert.Contains("give --patch-size N to resize the trigger image", Assert.Single(unsized.StderrLines));

        // Resized to 5×5 white it is the square the model was backdoored with: the same ASR.
        var square = CliHarness.EvalJson([.. eval[..^2], "--patch-size", "5"]);
        var image = CliHarness.EvalJson([.. eval, "--patch-size", "5"]);
        Assert.Equal(square.GetProperty("asr").GetDouble(), image.GetProperty("asr").GetDouble());
        Assert.InRange(image.GetProperty("asr").GetDouble(), 80, 100);
        // Moved to the opposite corner the trigger is not the one learnt.
        var moved = CliHarness.EvalJson([.. eval, "--patch-size", "5", "--patch-position", "top-left"]);
        Assert.True(moved.GetProperty("asr").GetDouble() < image.GetProperty("asr").GetDouble() - 30,
            $"top-left ASR {moved.GetProperty("asr")} should be far below bottom-right {image.GetProperty("asr")}");
    }

    [Fact]
    public void PatchPositionAndImageSizeAreRecordedWithTheAttack()
    {
        var (dir, data, _, _) = Foreign.Value;
        var png = Path.Combine(dir, "grey-7.png");
        EncodedImages.Write(png, 1, 7, 7, Enumerable.Repeat((byte)200, 49).ToArray());
        var model = Path.Combine(dir, $"placed-{Guid.NewGuid():N}.safetensors");
        var train = CliHarness.Run("train", "--arch", "mlp", "--width", "0.0625", "--data", data, "--epochs", "1", "--batch-size", "50",
            "--no-augment", "--attack", "badnet", "--trigger-image", png, "--patch-size", "4", "--patch-position", "2,3", "--out", model);
        Assert.True(train.ExitCode == 0, train.Stderr);
        var attack = AttackDefinition.FromJson(ModelCheckpoint.Load(model).Extra["circumvent.attack"]);
        Assert.Equal((4, 3, 2), (attack.PatchImageSize, attack.PatchRow, attack.PatchColumn));
    }

    [Fact]
    public void ADescriptionMaySayHowItsInputsAreNormalised()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 60, testCount: 30, size: 16);
        var pth = Circumvent.Tests.Support.TestData.FixturePath("described", "custom_cnn_gray.pth");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Circumvent.Tests.Support.TestData.FixturePath("described", "custom_cnn_gray.json")))!;
        string Described(string normalize)
        {
            json["normalize"] = normalize;
            var path = Path.Combine(dir, $"described-{Guid.NewGuid():N}.json");
            File.WriteAllText(path, json.ToJsonString());
            return path;
        }

        var said = CliHarness.Run("eval", "--model", pth, "--description", Described("0.5,0.5"), "--data", data);
        Assert.True(said.ExitCode == 0, said.Stderr);
        Assert.Equal("", said.Stderr);
        Assert.Contains("(inputs mean 0.5 std 0.5 (from its description))", said.Stdout);
        // --normalize still wins over it.
        var given = CliHarness.Run("eval", "--model", pth, "--description", Described("0.5,0.5"), "--data", data, "--normalize", "none");
        Assert.Contains("(inputs raw [0, 1] (--normalize))", given.Stdout);

        var bad = CliHarness.Run("eval", "--model", pth, "--description", Described("half"), "--data", data);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("description 'custom-cnn-gray', field normalize", Assert.Single(bad.StderrLines));
    }

    [Theory]
    [InlineData(new[] { "--normalize", "0.5" }, "--normalize")]
    [InlineData(new[] { "--normalize", "0.5,0,1/0.5" }, "--normalize")]
    [InlineData(new[] { "--normalize", "0.5,0" }, "positive")]
    [InlineData(new[] { "--normalize", "0.1,0.2,0.3/0.5,0.5,0.5" }, "3 values")]
    [InlineData(new[] { "--attack", "badnet", "--patch-position", "middle" }, "--patch-position")]
    [InlineData(new[] { "--attack", "blended", "--trigger-image", "PNG", "--patch-position", "top-left" }, "--patch-position")]
    public void BadForeignModelOptionsAreOneLine(string[] extra, string mentioned)
    {
        var (dir, data, _, pth) = Foreign.Value;
        var png = Path.Combine(dir, "k.png");
        if (!File.Exists(png)) EncodedImages.Write(png, 3, 4, 4, new byte[48]);
        var run = CliHarness.Run(["eval", "--model", pth, "--data", data, .. extra.Select(a => a == "PNG" ? png : a)]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(mentioned, Assert.Single(run.StderrLines));
    }
}
