using System.Text;
using System.Text.Json;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Tests.Cli;

/// <summary>
/// The CLIP pipeline through the CLI on a tiny synthetic CIFAR-10: `pretrain --method clip` writes both towers and the
/// scale in one file, `eval` scores it zero-shot, `pretrain --method badencoder` attacks the image tower only, and
/// `purify --objective clip` (TSC and MCR) changes the image tower and leaves the text tower and scale bit for bit.
/// </summary>
public class ClipCliTests
{
    private static (string Folder, string Cifar, string Clip) CleanClip()
    {
        var folder = CliHarness.TempFolder();
        var cifar = PretrainCliTests.WriteSyntheticCifar(Path.Combine(folder, "cifar"));
        var clip = Path.Combine(folder, "clip.safetensors");
        var run = CliHarness.Run("pretrain", "--method", "clip", "--arch", "cnn-small", "--width", "0.125", "--data", "cifar10:" + cifar,
            "--epochs", "2", "--batch-size", "8", "--joint", "8", "--text-width", "8", "--out", clip);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("CLIP pre-training", run.Stdout);
        Assert.Contains("zero-shot accuracy", run.Stdout);
        return (folder, cifar, clip);
    }

    private static string WritePpm(string path, byte value)
    {
        var header = Encoding.ASCII.GetBytes("P6\n32 32\n255\n");
        File.WriteAllBytes(path, [.. header, .. Enumerable.Range(0, 32 * 32 * 3).Select(i => (byte)(value + i % 7))]);
        return path;
    }

    private static void AssertTextTowerAndScaleUnchanged(ModelCheckpoint before, ModelCheckpoint after, int minimumMoved)
    {
        int moved = 0;
        foreach (var entry in after.Parameters)
        {
            bool same = entry.Tensor.ToArray().SequenceEqual(before.Parameters[entry.Name].ToArray());
            if (!entry.Name.StartsWith(ClipImageTower.Prefix, StringComparison.Ordinal)) Assert.True(same, $"{entry.Name} changed");
            else if (!same) moved++;
        }
        Assert.True(moved >= minimumMoved, $"only {moved} image-tower tensors changed");
    }

    [Fact]
    public void PretrainEvalBadEncoderAndPurifyKeepTheTextTower()
    {
        var (folder, cifar, clipPath) = CleanClip();
        var clean = ModelCheckpoint.Load(clipPath);
        Assert.IsType<ClipNetwork>(clean.Network);
        Assert.Equal("clip", clean.Extra["circumvent.role"]);
        Assert.Contains("a photo of a clean {}.", clean.Extra["circumvent.clip.captions"]);
        Assert.Contains(clean.Parameters.Names, n => n == "logit_scale");

        var eval = CliHarness.Run("eval", "--model", clipPath, "--data", "cifar10:" + cifar, "--json");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        using (var json = JsonDocument.Parse(eval.Stdout.Trim().Split('\n')[^1]))
        {
            Assert.True(json.RootElement.GetProperty("zero_shot").GetBoolean());
            Assert.InRange(json.RootElement.GetProperty("acc").GetDouble(), 0, 100);
        }

        var reference = WritePpm(Path.Combine(folder, "truck.ppm"), 150);
        var bad = Path.Combine(folder, "bad.safetensors");
        var attack = CliHarness.Run("pretrain", "--method", "badencoder", "--encoder", clipPath, "--reference", reference, "--target", "9",
            "--data", "cifar10:" + cifar, "--epochs", "2", "--batch-size", "8", "--lr", "0.05", "--out", bad);
        Assert.True(attack.ExitCode == 0, attack.Stderr);
        Assert.Contains("zero-shot ASR", attack.Stdout);
        var backdoored = ModelCheckpoint.Load(bad);
        Assert.Equal("clip", backdoored.Extra["circumvent.role"]);
        Assert.Contains("\"target\":9", backdoored.Extra["circumvent.attack"]);
        Assert.Contains("\"text.*\",\"logit_scale\"", backdoored.TrainingJson);
        AssertTextTowerAndScaleUnchanged(clean, backdoored, minimumMoved: 3);

        var evalBad = CliHarness.Run("eval", "--model", bad, "--data", "cifar10:" + cifar);
        Assert.True(evalBad.ExitCode == 0, evalBad.Stderr);
        Assert.Contains("zero-shot attack success rate", evalBad.Stdout);

        foreach (var defense in new[] { "tsc", "mcr" })
        {
            var purified = Path.Combine(folder, defense + ".safetensors");
            var report = Path.Combine(folder, defense + ".json");
            string[] knobs = defense == "tsc" ? ["--rounds", "1", "--curve-epochs", "1"] : ["--curve-epochs", "1", "--finetune-epochs", "1"];
            var purify = CliHarness.Run(["purify", "--model", bad, "--data", "cifar10:" + cifar, "--objective", "clip", "--defense", defense, .. knobs,
                "--batch-size", "5", "--clean-fraction", "0.5", "--out", purified, "--report", report]);
            Assert.True(purify.ExitCode == 0, purify.Stderr);
            Assert.Contains("CLIP image tower", purify.Stdout);
            var after = ModelCheckpoint.Load(purified);
            Assert.IsType<ClipNetwork>(after.Network);
            AssertTextTowerAndScaleUnchanged(backdoored, after, minimumMoved: 3);
            using var json = JsonDocument.Parse(File.ReadAllText(report));
            var options = json.RootElement.GetProperty("config").GetProperty("options");
            Assert.Equal(0.25, options.GetProperty("t").GetDouble());
            Assert.Equal(0.2, options.GetProperty("curve").GetProperty("weight_decay").GetDouble());
            Assert.Equal(JsonValueKind.Number, json.RootElement.GetProperty("asr_after").ValueKind);
        }
    }

    [Fact]
    public void ObjectivesAndModelsMustMatch()
    {
        var (folder, cifar, clipPath) = CleanClip();
        var output = Path.Combine(folder, "out.safetensors");
        foreach (var (args, message) in new (string[], string)[]
        {
            (["purify", "--model", clipPath, "--data", "cifar10:" + cifar, "--objective", "simclr", "--out", output], "purify it with --objective clip"),
            (["purify", "--model", clipPath, "--data", "cifar10:" + cifar, "--out", output], "purify it with --objective clip"),
            (["pretrain", "--method", "clip", "--data", "cifar10:" + cifar, "--temperature", "0.2", "--out", output], "--temperature does not apply to --method clip"),
            (["pretrain", "--method", "simclr", "--data", "cifar10:" + cifar, "--joint", "8", "--out", output], "--joint does not apply to --method simclr"),
            (["eval", "--model", clipPath, "--data", "cifar10:" + cifar, "--tta", "1"], "do not apply to a CLIP model"),
        })
        {
            var run = CliHarness.Run(args);
            Assert.True(run.ExitCode == 2, $"{string.Join(' ', args)}: exit {run.ExitCode}: {run.Stderr}");
            Assert.Single(run.StderrLines);
            Assert.Contains(message, run.Stderr);
            Assert.False(File.Exists(output));
        }
    }
}
