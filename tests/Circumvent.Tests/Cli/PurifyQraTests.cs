using System.Text.Json;
using System.Text.Json.Nodes;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Pipelines;
using Circumvent.Experiments.Plans;
using Circumvent.Tests.Experiments;

namespace Circumvent.Tests.Cli;

/// <summary>`purify --qra CLEAN_MODEL`: the query-based reactivation attack after the retuning attack, its report fields and its refusals.</summary>
public class PurifyQraTests
{
    private static string TrainClean(string dir, string data, string arch = "mlp", string name = "clean")
    {
        var clean = Path.Combine(dir, $"{name}-{arch}.safetensors");
        var run = CliHarness.Run("train", "--arch", arch, "--width", "0.0625", "--data", data, "--epochs", "2", "--batch-size", "30", "--no-augment", "--out", clean);
        Assert.True(run.ExitCode == 0, run.Stderr);
        return clean;
    }

    /// <summary>Through the purification pipeline (QRA scaled down: 3 epochs, a 32-unit generator): --qra implies the retuning attack and reports both.</summary>
    [Fact]
    public void QraRunsAfterTheRetuningAttackAndReportsBothModels()
    {
        var (dir, data, model) = PurifyCliTests.Setup();
        var clean = TrainClean(dir, data);
        var request = new PurificationRequest(model, data, Path.Combine(dir, "p.safetensors"), Path.Combine(dir, "r.json"), Path.Combine(dir, "p.run"),
            DefenseRegistry.Create("none", DefenseSettings.None), CleanFraction: 0.2, Seed: 0, ResolveAttack: stored => stored,
            QraCleanModel: clean, Qra: new QraOptions { Epochs = 3, Hidden = 32, BatchSize = 64, LearningRate = 0.01 });
        var outcome = Purification.Run(request, observer: null, log: null, CancellationToken.None);

        Assert.NotNull(outcome.Retune);
        var qra = Assert.IsType<QraResult>(outcome.Qra);
        // The synthetic MNIST has 300 training images: all 300 clean, and the 270 outside target class 0 triggered.
        Assert.Equal(570, qra.TrainingImages);
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "r.json")))!.AsObject();
        Assert.Equal(JsonValueKind.Number, root["p_asr"]!.GetValueKind());
        foreach (var field in new[] { "asr", "clean_to_target", "clean_model_asr", "clean_model_clean_to_target" })
            Assert.InRange(root["qra"]![field]!.GetValue<double>(), 0, 100);
        Assert.Equal(qra.PurifiedAsr, root["qra"]!["asr"]!.GetValue<double>());
    }

    [Fact]
    public void QraIsRefusedBeforeAnyWorkWithoutItsFileAnAttackOrAMatchingCleanModel()
    {
        var (dir, data, model) = PurifyCliTests.Setup();
        var output = Path.Combine(dir, "p.safetensors");
        string[] purify = ["purify", "--model", model, "--data", data, "--defense", "none", "--out", output];

        var missing = CliHarness.Run([.. purify, "--qra", Path.Combine(dir, "nope.safetensors")]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--qra", Assert.Single(missing.StderrLines));

        var otherArch = TrainClean(dir, data, "cnn-small");
        var mismatch = CliHarness.Run([.. purify, "--qra", otherArch]);
        Assert.Equal(2, mismatch.ExitCode);
        Assert.StartsWith($"circumvent: --qra: clean model '{otherArch}' has no tensor", Assert.Single(mismatch.StderrLines));

        var clean = TrainClean(dir, data);
        var noAttack = CliHarness.Run("purify", "--model", clean, "--data", data, "--defense", "none", "--qra", clean, "--out", output);
        Assert.Equal(2, noAttack.ExitCode);
        Assert.StartsWith("circumvent: --qra poisons its fine-tuning set with the model's attack", Assert.Single(noAttack.StderrLines));
        Assert.False(File.Exists(output));
    }

    /// <summary>The clean model goes through the shared model loader, whose refusals then name --qra and the file, never --model.</summary>
    [Fact]
    public void ACleanModelThatDoesNotLoadOrFitIsNamedByQraAndItsFile()
    {
        var (dir, data, model) = PurifyCliTests.Setup();
        var output = Path.Combine(dir, "p.safetensors");
        string[] purify = ["purify", "--model", model, "--data", data, "--defense", "none", "--out", output];

        // Trained on 16×16 images: a valid checkpoint that does not take the data's 28×28 ones.
        var smallData = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "small"), trainCount: 60, testCount: 20, size: 16);
        var small = TrainClean(dir, smallData, name: "small");
        var misfit = CliHarness.Run([.. purify, "--qra", small]);
        Assert.Equal(2, misfit.ExitCode);
        Assert.Equal($"circumvent: --qra '{small}' expects 1×16×16 images but mnist has 1×28×28.", Assert.Single(misfit.StderrLines));

        var broken = Path.Combine(dir, "broken.safetensors");
        File.WriteAllText(broken, "not a checkpoint");
        var unreadable = CliHarness.Run([.. purify, "--qra", broken]);
        Assert.Equal(2, unreadable.ExitCode);
        Assert.StartsWith($"circumvent: --qra: Checkpoint '{broken}'", Assert.Single(unreadable.StderrLines));
        Assert.DoesNotContain("--model", unreadable.Stderr);
        Assert.False(File.Exists(output));
    }

    /// <summary>
    /// A plan's "qra": true changes the cell keys (not the defence's run folder) and gives every cell of a recipe one clean
    /// model in the cache, shared by its attacks and defences and distinct from the backdoored ones.
    /// </summary>
    [Fact]
    public void APlansQraSharesOneCleanModelPerRecipe()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var plain = Grid.Expand(PlanReader.Read(TinyPlans.Write(dir, TinyPlans.Plan(data, trigger))));
        var withQra = TinyPlans.Plan(data, trigger);
        withQra["qra"] = true;
        var cells = Grid.Expand(PlanReader.Read(TinyPlans.Write(dir, withQra, "qra.json")));
        Assert.All(cells, c => Assert.True(c.Qra));
        for (int i = 0; i < cells.Count; i++)
        {
            Assert.NotEqual(plain[i].Key, cells[i].Key);
            Assert.Equal(plain[i].RunKey, cells[i].RunKey);
        }
        Assert.Single(cells.Select(c => c.CleanModelKey).Distinct());
        Assert.DoesNotContain(cells[0].CleanModelKey, cells.Select(c => c.ModelKey));
        Assert.Null(cells[0].CleanModelConfig()["attack"]);
        var bad = TinyPlans.Plan(data, trigger);
        bad["qra"] = 1;
        Assert.Contains("qra", Assert.ThrowsAny<Exception>(() => PlanReader.Read(TinyPlans.Write(dir, bad, "bad.json"))).Message);
    }

    /// <summary>
    /// "qra": true added to a plan whose defences have run (as session 22 did to defences.json): the cells get new keys, but
    /// the defence's run folder is resumed, not rerun, so its scores are the first run's; the retuning attack and QRA follow,
    /// and the line records the recipe's clean model with its test accuracy (what `eval` measures on it).
    /// </summary>
    [Fact]
    public void QraAddedToAPlanThatRanResumesItsDefencesAndRecordsTheCleanModel()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var json = TinyPlans.Plan(data, trigger);
        json["attacks"] = new JsonArray(new JsonObject { ["kind"] = "badnet", ["target"] = 0 });
        json["defenses"] = new JsonArray(new JsonObject { ["name"] = "ft", ["finetune_epochs"] = 1, ["batch_size"] = 32 });
        json["retune"] = true;
        var outFolder = Path.Combine(dir, "out");
        var first = CliHarness.Run("experiment", "run", TinyPlans.Write(dir, json), "--out", outFolder);
        Assert.True(first.ExitCode == 0, first.Stderr);

        json["qra"] = true;
        var second = CliHarness.Run("experiment", "run", TinyPlans.Write(dir, json, "qra.json"), "--out", outFolder);
        Assert.True(second.ExitCode == 0, second.Stderr);
        var lines = File.ReadAllLines(Path.Combine(outFolder, "results.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(2, lines.Count);
        var (before, after) = (lines[0], lines[1]);
        Assert.NotEqual(before["key"]!.GetValue<string>(), after["key"]!.GetValue<string>());
        Assert.Equal(0, after["units_run"]!.GetValue<int>());
        Assert.True(after["units_resumed"]!.GetValue<int>() > 0, after.ToJsonString());
        foreach (var field in new[] { "acc_after", "asr_after", "p_asr" })
            Assert.Equal(before[field]!.GetValue<double>(), after[field]!.GetValue<double>());
        Assert.Null(before["qra"]);
        Assert.Equal(JsonValueKind.Number, after["qra"]!["asr"]!.GetValueKind());

        var clean = after["clean_model"]!.AsObject();
        var eval = CliHarness.Run("eval", "--model", clean["path"]!.GetValue<string>(), "--data", data, "--json");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.Equal(JsonNode.Parse(eval.Stdout)!["acc"]!.GetValue<double>(), clean["training"]!["acc"]!.GetValue<double>(), 6);
        Assert.Null(clean["training"]!["asr"]);
    }
}
