using System.Text.Json;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Tests.Cli;

public class PurifyCliTests
{
    private static readonly string[] Quick =
        ["--rounds", "1", "--curve-epochs", "1", "--batch-size", "32", "--finetune-epochs", "1", "--clean-fraction", "0.2"];

    /// <summary>A folder with the synthetic MNIST-layout data and a BadNet-backdoored small MLP trained on it.</summary>
    internal static (string Dir, string Data, string Model) Setup()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 300, testCount: 100);
        var model = Path.Combine(dir, "backdoored.safetensors");
        var train = CliHarness.Run("train", "--arch", "mlp", "--width", "0.0625", "--data", data, "--epochs", "2",
            "--batch-size", "30", "--no-augment", "--attack", "badnet", "--poison-rate", "0.1", "--target", "0", "--out", model);
        Assert.True(train.ExitCode == 0, train.Stderr);
        return (dir, data, model);
    }

    [Fact]
    public void TheReportCarriesWhatTheDefenceFound()
    {
        var (dir, data, model) = Setup();
        string report = Path.Combine(dir, "report.json");
        var run = CliHarness.Run("purify", "--model", model, "--data", data, "--defense", "i-bau", "--ibau-rounds", "2", "--batch-size", "50",
            "--out", Path.Combine(dir, "purified.safetensors"), "--report", report);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var norms = json.RootElement.GetProperty("findings").GetProperty("i-bau").GetProperty("perturbation_l2_per_round");
        Assert.Equal(2, norms.GetArrayLength());
        Assert.All(norms.EnumerateArray(), n => Assert.True(n.GetDouble() > 0));
    }

    [Fact]
    public void ARunWhoseDataMovedResumesAndOneWhoseDataChangedIsRefused()
    {
        var (dir, data, model) = Setup();
        string output = Path.Combine(dir, "purified.safetensors"), report = Path.Combine(dir, "report.json"), runFolder = Path.Combine(dir, "run");
        string[] Args(string spec) => ["purify", "--model", model, "--data", spec, "--defense", "tsc", .. Quick, "--out", output, "--report", report, "--run-folder", runFolder];
        var first = CliHarness.Run(Args(data));
        Assert.True(first.ExitCode == 0, first.Stderr);

        // The data folder moved (a checkout moved, another machine mounts it elsewhere): every unit resumes.
        string moved = Path.Combine(dir, "moved");
        Directory.Move(data["mnist:".Length..], moved);
        var again = CliHarness.Run(Args("mnist:" + moved));
        Assert.True(again.ExitCode == 0, again.Stderr);
        using (var json = JsonDocument.Parse(File.ReadAllText(report)))
        {
            Assert.Equal(0, json.RootElement.GetProperty("units_run").GetInt32());
            Assert.Equal(4, json.RootElement.GetProperty("units_resumed").GetInt32());
        }
        string config = File.ReadAllText(Path.Combine(runFolder, "config.json"));
        Assert.Contains(moved, config);
        var curve = CliHarness.Run("curve", "--run", runFolder, "--points", "2"); // finds the data where it is now
        Assert.True(curve.ExitCode == 0, curve.Stderr);

        // Other data under another name (one test pixel changed): refused in one line, the run folder as it was.
        string other = Path.Combine(dir, "other");
        Directory.CreateDirectory(other);
        foreach (var file in Directory.GetFiles(moved)) File.Copy(file, Path.Combine(other, Path.GetFileName(file)));
        string images = Path.Combine(other, "t10k-images-idx3-ubyte");
        var bytes = File.ReadAllBytes(images);
        bytes[^1] ^= 0xff;
        File.WriteAllBytes(images, bytes);
        var refused = CliHarness.Run(Args("mnist:" + other));
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("other content", refused.Stderr);
        Assert.Single(refused.Stderr.Trim().Split('\n'));
        Assert.Equal(config, File.ReadAllText(Path.Combine(runFolder, "config.json")));
    }

    [Fact]
    public void TscPurifiesWritesModelReportAndResumableRunThenCurveEvaluatesIt()
    {
        var (dir, data, model) = Setup();
        var output = Path.Combine(dir, "purified.safetensors");
        var report = Path.Combine(dir, "report.json");
        string[] args = ["purify", "--model", model, "--data", data, "--defense", "tsc", .. Quick, "--out", output, "--report", report];

        var run = CliHarness.Run(args);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Equal("", run.Stderr);
        foreach (var label in new[] { "before", "round 1 · stage 1", "round 1 · stage 2", "after" }) Assert.Contains(label, run.Stdout);

        using (var json = JsonDocument.Parse(File.ReadAllText(report)))
        {
            var root = json.RootElement;
            foreach (var key in new[] { "acc_before", "asr_before", "ra_before", "acc_after", "asr_after", "ra_after" })
                Assert.Equal(JsonValueKind.Number, root.GetProperty(key).ValueKind);
            var round = Assert.Single(root.GetProperty("rounds").EnumerateArray());
            Assert.Equal(1, round.GetProperty("round").GetInt32());
            Assert.Equal(["stage 1", "stage 2"], round.GetProperty("stages").EnumerateArray().Select(s => s.GetProperty("stage").GetString()));
            Assert.Equal(root.GetProperty("acc_after").GetDouble(), round.GetProperty("acc").GetDouble());
            Assert.Equal("tsc", root.GetProperty("config").GetProperty("defense").GetString());
            Assert.Equal(1, root.GetProperty("config").GetProperty("options").GetProperty("rounds").GetInt32());
            Assert.True(root.GetProperty("wall_time_seconds").GetDouble() > 0);
            Assert.Equal(4, root.GetProperty("units_run").GetInt32());
        }

        var purified = ModelCheckpoint.Load(output);
        Assert.Contains("circumvent.defense", purified.Extra.Keys);
        Assert.Contains("circumvent.attack", purified.Extra.Keys);
        Assert.Contains("backdoored.safetensors", purified.Extra["circumvent.source_model"]);

        // The same command again resumes every unit from the run folder.
        var again = CliHarness.Run(args);
        Assert.True(again.ExitCode == 0, again.Stderr);
        using (var json = JsonDocument.Parse(File.ReadAllText(report)))
        {
            Assert.Equal(0, json.RootElement.GetProperty("units_run").GetInt32());
            Assert.Equal(4, json.RootElement.GetProperty("units_resumed").GetInt32());
        }
        Assert.Equal(purified.Parameters["fc1.weight"].ToArray(), ModelCheckpoint.Load(output).Parameters["fc1.weight"].ToArray());

        // ACC/ASR along both curves.
        var curve = CliHarness.Run("curve", "--run", output + ".run", "--points", "3");
        Assert.True(curve.ExitCode == 0, curve.Stderr);
        var csv = File.ReadAllLines(Path.Combine(output + ".run", "curves.csv"));
        Assert.Equal("round,stage,t,acc,asr,ra", csv[0]);
        Assert.Equal(1 + 2 * 3, csv.Length);
        Assert.Equal(["0", "0.5", "1"], csv.Skip(1).Take(3).Select(l => l.Split(',')[2]));
        Assert.All(csv.Skip(1), l => Assert.InRange(double.Parse(l.Split(',')[3], System.Globalization.CultureInfo.InvariantCulture), 0, 100));
        var svg = File.ReadAllText(Path.Combine(output + ".run", "curves.svg"));
        Assert.StartsWith("<svg", svg);
        Assert.Equal(4, svg.Split("<polyline").Length - 1); // ACC and ASR for two curves

        // The same curves scored on the clean images they were trained on: every ACC is a whole number of those images.
        string cleanCsv = Path.Combine(dir, "on-clean.csv"), cleanSvg = Path.Combine(dir, "on-clean.svg");
        var onClean = CliHarness.Run("curve", "--run", output + ".run", "--points", "3", "--on", "clean", "--csv", cleanCsv, "--svg", cleanSvg);
        Assert.True(onClean.ExitCode == 0, onClean.Stderr);
        var count = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(cleanSvg), @"on the (\d+) clean images");
        Assert.True(count.Success, "the plot's title names the images it scored");
        int cleanImages = int.Parse(count.Groups[1].Value);
        Assert.NotEqual(100, cleanImages); // the test set's size
        Assert.All(File.ReadAllLines(cleanCsv).Skip(1), l =>
        {
            double correct = double.Parse(l.Split(',')[3], System.Globalization.CultureInfo.InvariantCulture) * cleanImages / 100;
            Assert.Equal(Math.Round(correct), correct, 3);
        });
    }

    [Fact]
    public void BaselinesRunThroughTheSameCommand()
    {
        var (dir, data, model) = Setup();
        foreach (var defense in new[] { "none", "ft", "mcr" })
        {
            var output = Path.Combine(dir, defense + ".safetensors");
            var report = Path.Combine(dir, defense + ".json");
            string[] extra = defense == "none" ? [] : ["--finetune-epochs", "1", "--batch-size", "32"];
            if (defense == "mcr") extra = [.. extra, "--curve-epochs", "1"];
            var run = CliHarness.Run(["purify", "--model", model, "--data", data, "--defense", defense, "--clean-fraction", "0.2", .. extra, "--out", output, "--report", report]);
            Assert.True(run.ExitCode == 0, $"{defense}: {run.Stderr}");
            using var json = JsonDocument.Parse(File.ReadAllText(report));
            Assert.Equal(defense, json.RootElement.GetProperty("defense").GetString());
            Assert.Equal(JsonValueKind.Number, json.RootElement.GetProperty("asr_after").ValueKind);
            if (defense == "none")
                Assert.Equal(json.RootElement.GetProperty("acc_before").GetDouble(), json.RootElement.GetProperty("acc_after").GetDouble());
        }
    }

    public static TheoryData<string[], string> BadInputs => new()
    {
        { ["--defense", "magic"], "--defense" },
        { ["--t", "1.5"], "--t" },
        { ["--rounds", "0"], "--rounds" },
        { ["--clean-fraction", "0"], "--clean-fraction" },
        { ["--curve-lr", "-1"], "--curve-lr" },
        { ["--defense", "ft", "--rounds", "2"], "--rounds" },
        { ["--model", "/nonexistent/model.safetensors"], "model.safetensors" },
        { ["--data", "nosuchkind"], "nosuchkind" },
        { ["--rounds", "two"], "two" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInputIsOneLineExitTwoAndNoOutput(string[] change, string mentioned)
    {
        var (dir, data, model) = Setup();
        var output = Path.Combine(dir, "out.safetensors");
        var report = Path.Combine(dir, "r.json");
        var args = new List<string> { "purify", "--model", model, "--data", data, "--out", output, "--report", report };
        for (int i = 0; i + 1 < change.Length; i += 2)
        {
            int at = args.IndexOf(change[i]);
            if (at >= 0) args[at + 1] = change[i + 1];
            else args.AddRange([change[i], change[i + 1]]);
        }
        var run = CliHarness.Run([.. args]);
        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.StderrLines);
        Assert.Contains(mentioned, run.Stderr);
        Assert.False(File.Exists(output));
        Assert.False(File.Exists(report));
        Assert.False(Directory.Exists(output + ".run"));
    }

    [Fact]
    public void OutputIntoAMissingFolderFailsBeforeLoading()
    {
        var (dir, data, model) = Setup();
        var run = CliHarness.Run("purify", "--model", model, "--data", data, "--out", Path.Combine(dir, "missing", "p.safetensors"));
        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.StderrLines);
        Assert.Contains("does not exist", run.Stderr);
    }

    [Fact]
    public void CurveNeedsARunFolderWithCurves()
    {
        var dir = CliHarness.TempFolder();
        var missing = CliHarness.Run("curve", "--run", Path.Combine(dir, "nope"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Single(missing.StderrLines);

        var notARun = CliHarness.Run("curve", "--run", dir);
        Assert.Equal(2, notARun.ExitCode);
        Assert.Contains("config.json", notARun.Stderr);

        var tooFew = CliHarness.Run("curve", "--run", dir, "--points", "1");
        Assert.Equal(2, tooFew.ExitCode);
        Assert.Contains("--points", tooFew.Stderr);

        var badImages = CliHarness.Run("curve", "--run", dir, "--on", "train");
        Assert.Equal(2, badImages.ExitCode);
        Assert.Contains("--on", Assert.Single(badImages.StderrLines));
    }
}
