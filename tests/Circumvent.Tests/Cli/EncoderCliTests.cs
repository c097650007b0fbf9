using System.Text.Json;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Data;

namespace Circumvent.Tests.Cli;

/// <summary>
/// An encoder on the command line (issue #17): `eval` gives its kNN accuracy and downstream probes' ACC/ASR on a user's
/// image folder, `purify --objective simclr` purifies it with the stages scored the same way, `curve` samples kNN along
/// t, and a broken downstream folder or a mismatched objective is one line, exit 2, nothing written.
/// </summary>
public class EncoderCliTests
{
    /// <summary>A tiny encoder pre-trained on a 2-class image folder (20 PNG/JPEG training files), and that folder.</summary>
    private static (string Encoder, string Data, string Folder) PretrainedEncoder()
    {
        var dir = CliHarness.TempFolder();
        var data = "imagefolder:" + SyntheticImageFolder.Write(Path.Combine(dir, "pets"), ["cats", "dogs"], trainPerClass: 10, testPerClass: 5);
        var encoder = Path.Combine(dir, "encoder.safetensors");
        var run = CliHarness.Run("pretrain", "--method", "simclr", "--arch", "resnet18", "--width", "0.0625", "--data", data,
            "--epochs", "1", "--batch-size", "10", "--knn-k", "5", "--out", encoder);
        Assert.True(run.ExitCode == 0, run.Stderr);
        return (encoder, data, dir);
    }

    // A user's own downstream folder: another 20 files (PNG and JPEG) in 2 class folders.
    private static string UserFolder(string dir) =>
        "imagefolder:" + SyntheticImageFolder.Write(Path.Combine(dir, "signs"), ["go", "stop"], trainPerClass: 10, testPerClass: 5, seed: 9);

    private static readonly string[] Attack = ["--attack", "badnet", "--patch-size", "3", "--target", "1"];

    [Fact]
    public void EvalOfAnEncoderReportsKnnAndBothProbesOnAUsersFolder()
    {
        var (encoder, data, dir) = PretrainedEncoder();
        var json = CliHarness.EvalJson(["--model", encoder, "--data", data, "--downstream", UserFolder(dir), "--probe-epochs", "3", .. Attack]);
        Assert.InRange(json.GetProperty("knn").GetDouble(), 0, 100);
        var probes = json.GetProperty("probes").EnumerateArray().ToList();
        Assert.Equal(["mlp", "linear"], probes.Select(p => p.GetProperty("probe").GetString()));
        Assert.All(probes, p => Assert.InRange(p.GetProperty("acc").GetDouble(), 0, 100));
        Assert.All(probes, p => Assert.InRange(p.GetProperty("asr").GetDouble(), 0, 100));
        Assert.Equal(probes[0].GetProperty("acc").GetDouble(), json.GetProperty("acc").GetDouble());

        var text = CliHarness.Run("eval", "--model", encoder, "--data", data);
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.Contains("kNN accuracy", text.Stdout);
        Assert.Contains("no --downstream", text.Stdout);
    }

    /// <summary>The text report says kNN and each probe once: the summary, not also the evaluation's step lines before it.</summary>
    [Fact]
    public void EvalOfAnEncoderPrintsKnnAndEachProbeOnce()
    {
        var (encoder, data, dir) = PretrainedEncoder();
        var text = CliHarness.Run(["eval", "--model", encoder, "--data", data, "--downstream", UserFolder(dir), "--probe-epochs", "1", .. Attack]);
        Assert.True(text.ExitCode == 0, text.Stderr);
        var lines = text.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines, l => l.Contains("kNN accuracy"));
        Assert.Single(lines, l => l.Contains("MLP probe"));
        Assert.Single(lines, l => l.Contains("linear probe"));
        Assert.Contains(lines, l => l.StartsWith("MLP probe on ") && l.Contains("attack success rate"));
    }

    public static TheoryData<string, string[]> BadFolders => ImageFolderTests.BadFolders;

    [Theory]
    [MemberData(nameof(BadFolders))]
    public void ABrokenDownstreamFolderIsOneLineExitTwoAndWritesNothing(string defect, string[] expected)
    {
        var (encoder, data, dir) = PretrainedEncoder();
        var broken = "imagefolder:" + ImageFolderTests.Broken(dir, defect);
        var eval = CliHarness.Run("eval", "--model", encoder, "--data", data, "--downstream", broken, "--probe-epochs", "1");
        Assert.True(eval.ExitCode == 2, $"exit {eval.ExitCode}: {eval.Stderr}");
        var line = Assert.Single(eval.StderrLines);
        Assert.DoesNotContain("   at ", eval.Stderr);
        foreach (var word in expected) Assert.Contains(word.Replace('/', Path.DirectorySeparatorChar), line);

        var output = Path.Combine(dir, "never.safetensors");
        var purify = CliHarness.Run("purify", "--model", encoder, "--data", data, "--objective", "simclr", "--downstream", broken, "--out", output);
        Assert.True(purify.ExitCode == 2, $"exit {purify.ExitCode}: {purify.Stderr}");
        Assert.Single(purify.StderrLines);
        Assert.False(File.Exists(output));
        Assert.False(Directory.Exists(output + ".run"));
    }

    [Fact]
    public void PurifyObjectiveSimclrScoresEveryStageAndWritesAnEncoder()
    {
        var (encoder, data, dir) = PretrainedEncoder();
        var output = Path.Combine(dir, "purified.safetensors");
        var report = Path.Combine(dir, "report.json");
        var purify = CliHarness.Run(["purify", "--model", encoder, "--data", data, "--objective", "simclr", "--defense", "tsc", "--rounds", "1",
            "--curve-epochs", "1", "--batch-size", "5", "--clean-fraction", "0.5", "--downstream", UserFolder(dir), "--probe-epochs", "2", "--probe", "mlp",
            .. Attack, "--out", output, "--report", report]);
        Assert.True(purify.ExitCode == 0, purify.Stderr);
        Assert.Contains("kNN", purify.Stdout);
        Assert.Contains("NT-Xent on two views", purify.Stdout);
        using (var json = JsonDocument.Parse(File.ReadAllText(report)))
        {
            var root = json.RootElement;
            foreach (var key in new[] { "acc_before", "asr_before", "knn_before", "acc_after", "asr_after", "knn_after" })
                Assert.Equal(JsonValueKind.Number, root.GetProperty(key).ValueKind);
            var stages = root.GetProperty("rounds")[0].GetProperty("stages").EnumerateArray().ToList();
            Assert.Equal(["stage 1", "stage 2"], stages.Select(s => s.GetProperty("stage").GetString()));
            Assert.All(stages, s => Assert.Equal(JsonValueKind.Number, s.GetProperty("knn").ValueKind));
            var options = root.GetProperty("config").GetProperty("options");
            Assert.Equal(0.25, options.GetProperty("t").GetDouble());
            Assert.Equal("adam", options.GetProperty("curve").GetProperty("optimizer").GetString());
        }
        var purified = ModelCheckpoint.Load(output);
        Assert.IsType<SimClrNetwork>(purified.Encoder);

        var csv = Path.Combine(dir, "curves.csv");
        var curve = CliHarness.Run("curve", "--run", output + ".run", "--points", "2", "--csv", csv, "--svg", Path.Combine(dir, "curves.svg"));
        Assert.True(curve.ExitCode == 0, curve.Stderr);
        var lines = File.ReadAllLines(csv);
        Assert.Equal("round,stage,t,acc,asr,ra,knn", lines[0]);
        Assert.Equal(5, lines.Length); // 2 curves × 2 points
    }

    [Fact]
    public void AnObjectiveThatDoesNotFitTheModelIsOneLineExitTwo()
    {
        var (encoder, data, dir) = PretrainedEncoder();
        var output = Path.Combine(dir, "never.safetensors");
        var asClassifier = CliHarness.Run("purify", "--model", encoder, "--data", data, "--out", output);
        Assert.Equal(2, asClassifier.ExitCode);
        Assert.Contains("--objective simclr", Assert.Single(asClassifier.StderrLines));

        var classifier = Path.Combine(dir, "classifier.safetensors");
        Assert.Equal(0, CliHarness.Run("train", "--arch", "mlp", "--width", "0.125", "--data", data, "--epochs", "1", "--batch-size", "10", "--out", classifier).ExitCode);
        var asEncoder = CliHarness.Run("purify", "--model", classifier, "--data", data, "--objective", "simclr", "--out", output);
        Assert.Equal(2, asEncoder.ExitCode);
        Assert.Contains("is a classifier", Assert.Single(asEncoder.StderrLines));
        var probeOnClassifier = CliHarness.Run("eval", "--model", classifier, "--data", data, "--downstream", data);
        Assert.Equal(2, probeOnClassifier.ExitCode);
        Assert.False(File.Exists(output));
    }
}
