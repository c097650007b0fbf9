using System.Text.Json;
using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Tests.Experiments;

namespace Circumvent.Tests.Cli;

/// <summary>`purify --retune`, the plan's "retune" and the report's P-ASR column: the retuning attack after any defence.</summary>
public class PurifyRetuneTests
{
    [Fact]
    public void RetuneReportsPAsrBesideOAsrAndAcc()
    {
        var (dir, data, model) = PurifyCliTests.Setup();
        var report = Path.Combine(dir, "r.json");
        var run = CliHarness.Run("purify", "--model", model, "--data", data, "--defense", "ft", "--finetune-epochs", "1", "--batch-size", "32",
            "--clean-fraction", "0.2", "--retune", "--out", Path.Combine(dir, "p.safetensors"), "--report", report);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("P-ASR", run.Stdout);
        var root = JsonNode.Parse(File.ReadAllText(report))!.AsObject();
        Assert.Equal(JsonValueKind.Number, root["p_asr"]!.GetValueKind());
        Assert.Equal(JsonValueKind.Number, root["asr_after"]!.GetValueKind());
        // The synthetic MNIST has 30 training images per class: 2% rounds to 1 per class, 10 in all, 5 of them poisoned.
        Assert.Equal(10, root["retune"]!["images"]!.GetValue<int>());
        Assert.Equal(5, root["retune"]!["poisoned"]!.GetValue<int>());
        Assert.Equal(root["p_asr"]!.GetValue<double>(), root["retune"]!["asr"]!.GetValue<double>());
    }

    [Fact]
    public void RetuneWithoutAKnownAttackIsRefusedBeforeAnyWork()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 100, testCount: 50);
        var model = Path.Combine(dir, "clean.safetensors");
        Assert.Equal(0, CliHarness.Run("train", "--arch", "mlp", "--width", "0.0625", "--data", data, "--epochs", "1", "--out", model).ExitCode);
        var output = Path.Combine(dir, "p.safetensors");
        var run = CliHarness.Run("purify", "--model", model, "--data", data, "--defense", "none", "--retune", "--out", output);
        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("circumvent: --retune poisons its fine-tuning set with the model's attack", Assert.Single(run.StderrLines));
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void APlansRetuneChangesTheCellKeyButNotTheDefencesRunFolder()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var plain = Grid.Expand(PlanReader.Read(TinyPlans.Write(dir, TinyPlans.Plan(data, trigger))));
        var withRetune = TinyPlans.Plan(data, trigger);
        withRetune["retune"] = true;
        var retuned = Grid.Expand(PlanReader.Read(TinyPlans.Write(dir, withRetune, "retune.json")));
        Assert.All(plain, c => Assert.False(c.Retune));
        Assert.All(plain, c => Assert.Equal(c.Key, c.RunKey)); // plans without retune keep their keys and folders
        for (int i = 0; i < plain.Count; i++)
        {
            Assert.True(retuned[i].Retune);
            Assert.NotEqual(plain[i].Key, retuned[i].Key);
            Assert.Equal(plain[i].Key, retuned[i].RunKey);
        }
        var bad = TinyPlans.Plan(data, trigger);
        bad["retune"] = "yes";
        Assert.Contains("retune", Assert.ThrowsAny<Exception>(() => PlanReader.Read(TinyPlans.Write(dir, bad, "bad.json"))).Message);
    }

    [Fact]
    public void TheReportHasAPAsrColumnWhenTheResultsHaveIt()
    {
        var dir = CliHarness.TempFolder();
        JsonObject Line(string defense, int seed, double asr, double? pAsr) => new()
        {
            ["key"] = $"{defense}-{seed}", ["dataset"] = "cifar10:/d", ["architecture"] = "cnn-small", ["width"] = 1.0, ["attack"] = "badnet",
            ["poison_rate"] = 0.05, ["defense"] = defense, ["seed"] = seed, ["acc_before"] = 90.0, ["asr_before"] = 100.0, ["ra_before"] = 0.0,
            ["acc_after"] = 88.0, ["asr_after"] = asr, ["ra_after"] = 50.0, ["rounds"] = new JsonArray(), ["curves"] = new JsonArray(), ["p_asr"] = pAsr,
        };
        var results = Path.Combine(dir, "results.jsonl");
        File.WriteAllLines(results, [.. new[] { Line("ft", 0, 10, 90), Line("ft", 1, 12, 80), Line("tsc", 0, 2, 4) }.Select(l => l.ToJsonString())]);
        var run = CliHarness.Run("experiment", "report", results, "--out", Path.Combine(dir, "report"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        var md = File.ReadAllText(Path.Combine(dir, "report", "table.md"));
        Assert.Contains("| Attack | Rate | ft ACC | ft ASR | ft P-ASR | tsc ACC | tsc ASR | tsc P-ASR |", md);
        Assert.Contains("| 85.00 ± 7.07 |", md); // ft: P-ASR 90, 80
        Assert.Contains("| 4.00 |", md);
    }
}
