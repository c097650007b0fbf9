using System.Text;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Tests.Cli;

/// <summary>
/// `circumvent pretrain --method badencoder` on a tiny synthetic CIFAR-10 folder: a clean encoder in, a backdoored
/// encoder out that records the attack, with f's BN and the head exactly as they were; bad input refused up front.
/// </summary>
public class BadEncoderCliTests
{
    private static string WritePpm(string path, int side, byte value)
    {
        var header = Encoding.ASCII.GetBytes($"P6\n{side} {side}\n255\n");
        var pixels = Enumerable.Range(0, side * side * 3).Select(i => (byte)(value + i % 7)).ToArray();
        File.WriteAllBytes(path, [.. header, .. pixels]);
        return path;
    }

    private static (string Folder, string Cifar, string Clean) CleanEncoder()
    {
        var folder = CliHarness.TempFolder();
        var cifar = PretrainCliTests.WriteSyntheticCifar(Path.Combine(folder, "cifar"));
        var clean = Path.Combine(folder, "clean.safetensors");
        var run = CliHarness.Run("pretrain", "--method", "simclr", "--arch", "resnet18", "--width", "0.0625", "--data", "cifar10:" + cifar,
            "--epochs", "1", "--batch-size", "8", "--knn-k", "5", "--out", clean);
        Assert.True(run.ExitCode == 0, run.Stderr);
        return (folder, cifar, clean);
    }

    [Fact]
    public void BadEncoderWritesABackdooredEncoderThatRecordsTheAttackAndKeepsBatchNorm()
    {
        var (folder, cifar, clean) = CleanEncoder();
        var reference = WritePpm(Path.Combine(folder, "priority.ppm"), 32, 120);
        var output = Path.Combine(folder, "bad.safetensors");
        var run = CliHarness.Run("pretrain", "--method", "badencoder", "--encoder", clean, "--reference", reference, "--target", "12",
            "--data", "cifar10:" + cifar, "--epochs", "2", "--batch-size", "8", "--lr", "0.05", "--out", output);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("BadEncoder on", run.Stdout);
        Assert.Contains("L0", run.Stdout);
        Assert.Contains("triggered-to-reference cosine", run.Stdout);
        Assert.False(File.Exists(output + ".train-state"));

        var before = EncoderCheckpoint.Load(clean);
        var after = EncoderCheckpoint.Load(output);
        Assert.Equal("encoder", after.Extra["circumvent.role"]);
        Assert.Contains("\"target\":12", after.Extra["circumvent.attack"]);
        Assert.Contains("\"patch_size\":10", after.Extra["circumvent.attack"]);
        Assert.Contains("cosine_after", after.Extra["circumvent.badencoder"]);
        Assert.False(after.Extra.ContainsKey("circumvent.knn_accuracy"));
        Assert.Contains("\"freeze\":[\"g.*\",\"f.bn1.weight\"", after.TrainingJson);
        int moved = 0;
        foreach (var entry in after.Parameters)
        {
            bool same = entry.Tensor.ToArray().SequenceEqual(before.Parameters[entry.Name].ToArray());
            bool batchNormOrHead = entry.Name.StartsWith("g.", StringComparison.Ordinal) || entry.Name.Contains(".bn") || entry.Name.Contains("shortcut.1");
            if (batchNormOrHead) Assert.True(same, $"{entry.Name} changed");
            else if (!same) moved++;
        }
        Assert.True(moved > 10, $"only {moved} tensors were trained");
    }

    [Fact]
    public void BadInputIsOneLineAndWritesNothing()
    {
        var (folder, cifar, clean) = CleanEncoder();
        var small = WritePpm(Path.Combine(folder, "small.ppm"), 16, 10);
        var good = WritePpm(Path.Combine(folder, "good.ppm"), 32, 10);
        var output = Path.Combine(folder, "bad.safetensors");
        string[] common = ["pretrain", "--method", "badencoder", "--data", "cifar10:" + cifar, "--epochs", "1", "--batch-size", "8", "--out", output];
        foreach (var (args, message) in new (string[], string)[]
        {
            ([.. common, "--reference", good], "needs --encoder"),
            ([.. common, "--encoder", clean], "needs --reference"),
            ([.. common, "--encoder", clean, "--reference", small], "is 3×16×16; the shadow images are 3×32×32"),
            ([.. common, "--encoder", clean, "--reference", good, "--patch-size", "20"], "does not fit"),
            ([.. common, "--encoder", clean, "--reference", good, "--temperature", "0.2"], "--temperature does not apply to --method badencoder"),
            ([.. common, "--encoder", Path.Combine(folder, "missing.safetensors"), "--reference", good], "missing.safetensors"),
        })
        {
            var run = CliHarness.Run(args);
            Assert.True(run.ExitCode == 2, $"{message}: exit {run.ExitCode}, {run.Stderr}");
            Assert.Single(run.StderrLines);
            Assert.Contains(message, run.Stderr);
            Assert.False(File.Exists(output));
        }
    }
}

/// <summary>`circumvent pretrain --method ctrl`: poisoned SimCLR pre-training, from scratch or from a clean encoder, with its kNN ASR.</summary>
public class CtrlCliTests
{
    [Fact]
    public void CtrlPoisonsTheTargetClassAndReportsTheKnnAttackSuccess()
    {
        var folder = CliHarness.TempFolder();
        var cifar = PretrainCliTests.WriteSyntheticCifar(Path.Combine(folder, "cifar"));
        var output = Path.Combine(folder, "ctrl.safetensors");
        var run = CliHarness.Run("pretrain", "--method", "ctrl", "--arch", "resnet18", "--width", "0.0625", "--data", "cifar10:" + cifar,
            "--target", "0", "--poison-rate", "0.1", "--epochs", "1", "--batch-size", "8", "--knn-k", "5", "--out", output);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("CTRL: 4 of 40 images (class 0) carry ctrl (magnitude 100, window 32, UV at (15,15) (31,31))", run.Stdout);
        Assert.Contains("kNN ASR", run.Stdout);
        var checkpoint = EncoderCheckpoint.Load(output);
        Assert.Contains("\"poisoned\":4", checkpoint.Extra["circumvent.ctrl"]);
        Assert.True(checkpoint.Extra.ContainsKey("circumvent.knn_attack_success"));
        Assert.Contains("\"learning_rate\":0.06", checkpoint.TrainingJson);

        // Continued from that encoder, as the authors start CTRL from a clean one.
        var again = Path.Combine(folder, "ctrl2.safetensors");
        var resumed = CliHarness.Run("pretrain", "--method", "ctrl", "--encoder", output, "--data", "cifar10:" + cifar,
            "--target", "1", "--poison-rate", "0.1", "--epochs", "1", "--batch-size", "8", "--knn-k", "5", "--out", again);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Equal(Path.GetFullPath(output), EncoderCheckpoint.Load(again).Extra["circumvent.source_model"]);

        var refused = CliHarness.Run("pretrain", "--method", "ctrl", "--data", "cifar10:" + cifar, "--reference", output, "--out", Path.Combine(folder, "x.safetensors"));
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--reference does not apply to --method ctrl", refused.Stderr);
    }
}
