using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Experiments.Running;

namespace Circumvent.Tests.Experiments;

/// <summary>Cell keys name what a cell computes, not where the checkout is (see PortablePaths).</summary>
[Collection(Circumvent.Tests.Support.EngineThreadBudgetCollection.Name)]
public class PortableKeyTests
{
    [Theory]
    [InlineData("/a/data/cifar10", "/a/plans", "../data/cifar10")]
    [InlineData("cifar10:/a/data/cifar10", "/a/plans", "cifar10:../data/cifar10")]
    [InlineData("gtsrb:/a/plans/gtsrb", "/a/plans", "gtsrb:gtsrb")]
    [InlineData("/a/plans/triggers/t.npy", "/a/plans", "triggers/t.npy")]
    [InlineData("cosine", "/a/plans", "cosine")]
    [InlineData("cifar10:data/cifar10", "/a/plans", "cifar10:data/cifar10")]
    [InlineData("a b:/x", "/a/plans", "a b:/x")]
    public void RootedPathsAndDatasetSpecsBecomeRelativeToThePlanFolderAndOtherTextStays(string text, string folder, string expected) =>
        Assert.Equal(expected, PortablePaths.Relative(text, folder));

    [Fact]
    public void OnlyStringsChangeNumbersBooleansAndNestingAreKept()
    {
        var config = JsonNode.Parse("""{"a":{"data":"mnist:/p/d","rate":0.05,"on":true,"none":null},"files":["/p/plan/x.pgm",3]}""")!;
        var portable = PortablePaths.Of(config, "/p/plan")!;
        Assert.Equal("""{"a":{"data":"mnist:../d","rate":0.05,"on":true,"none":null},"files":["x.pgm",3]}""", portable.ToJsonString());
        Assert.Equal("""{"a":{"data":"mnist:/p/d","rate":0.05,"on":true,"none":null},"files":["/p/plan/x.pgm",3]}""", config.ToJsonString());
    }

    /// <summary>A plan folder with its data and trigger beside it, named relatively, as a checkout holds them.</summary>
    private static (string Dir, string PlanPath) RelativePlan(string[] defenses)
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var document = TinyPlans.Plan("mnist:" + Path.GetRelativePath(dir, data["mnist:".Length..]), Path.GetFileName(trigger));
        document["attacks"] = new JsonArray(new JsonObject { ["kind"] = "blended", ["trigger_image"] = Path.GetFileName(trigger), ["alpha"] = 0.2 });
        document["defenses"] = new JsonArray([.. defenses.Select(d => (JsonNode)d)]);
        return (dir, TinyPlans.Write(dir, document));
    }

    private static ExperimentRunner.Summary Run(string planPath, string dir, IdleObserver? observer = null) =>
        ExperimentRunner.Run(PlanReader.Read(planPath), new RunSettings(Path.Combine(dir, "out")), observer ?? new IdleObserver(), CancellationToken.None);

    private sealed class IdleObserver : IExperimentObserver
    {
        public int Unmatched;
        void IExperimentObserver.Unmatched(int lines) => Unmatched = lines;
    }

    [Fact]
    public void APlanMovedWithItsDataFindsItsFinishedCellsAndItsCachedModel()
    {
        var (dir, planPath) = RelativePlan(["none"]);
        var before = Grid.Expand(PlanReader.Read(planPath)).Single();
        var (key, modelKey, runKey, absolute) = (before.Key, before.ModelKey, before.RunKey, Cell.Hash(before.Config()));
        Assert.Equal(1, Run(planPath, dir).RunNow);

        string moved = dir + "-moved";
        Directory.Move(dir, moved);
        string movedPlan = Path.Combine(moved, Path.GetFileName(planPath));
        var after = Grid.Expand(PlanReader.Read(movedPlan)).Single();
        // What the cell computes is unchanged; only the absolute paths differ.
        Assert.NotEqual(absolute, Cell.Hash(after.Config()));
        Assert.Equal((key, modelKey, runKey), (after.Key, after.ModelKey, after.RunKey));

        var again = Run(movedPlan, moved);
        Assert.Equal((1, 0), (again.AlreadyDone, again.RunNow));
        var line = JsonNode.Parse(File.ReadLines(Path.Combine(moved, "out", "results.jsonl")).Single())!.AsObject();
        Assert.Equal(key, line["key"]!.GetValue<string>());
        Assert.Equal(key, ResultsFile.CellKey(line));
        Assert.Equal("trigger.pgm", line["config"]!["model"]!["attack"]!["trigger_image"]!.GetValue<string>());
        Assert.Equal(dir, line["plan_folder"]!.GetValue<string>());

        // A defence added after the move reuses the cached model (its recorded trigger matches the moved file) instead of training it again.
        var document = JsonNode.Parse(File.ReadAllText(movedPlan))!.AsObject();
        document["defenses"] = new JsonArray("none", new JsonObject { ["name"] = "ft", ["finetune_epochs"] = 1, ["batch_size"] = 32 });
        File.WriteAllText(movedPlan, document.ToJsonString());
        Assert.Equal(1, Run(movedPlan, moved).RunNow);
        var ft = File.ReadLines(Path.Combine(moved, "out", "results.jsonl")).Select(l => JsonNode.Parse(l)!).Last();
        Assert.False(ft["model"]!["training"]!["trained_now"]!.GetValue<bool>());
    }

    private sealed class CancelOnLog(Func<string, bool> when, CancellationTokenSource cancel) : IExperimentObserver
    {
        public readonly List<string> Logged = [];

        public void Log(Cell cell, string message)
        {
            lock (Logged) Logged.Add(message);
            if (when(message)) cancel.Cancel();
        }
    }

    /// <summary>
    /// A plan of one FT cell (3 epochs) run uninterrupted in a copy of its folder ("DIR-whole"), and stopped in DIR after
    /// the fine-tuning's first epoch (the model trained and cached); returns the stopped unit's state file.
    /// </summary>
    private static (string Dir, string PlanPath, string Whole, string UnitState) AFineTuneStoppedAfterItsFirstEpoch()
    {
        var (dir, planPath) = RelativePlan([]);
        var document = JsonNode.Parse(File.ReadAllText(planPath))!.AsObject();
        document["defenses"] = new JsonArray(new JsonObject { ["name"] = "ft", ["finetune_epochs"] = 3, ["batch_size"] = 32 });
        File.WriteAllText(planPath, document.ToJsonString());
        string whole = dir + "-whole";
        CopyFolder(dir, whole);
        Run(Path.Combine(whole, Path.GetFileName(planPath)), whole);

        using (var cancel = new CancellationTokenSource())
        {
            var stopper = new CancelOnLog(m => m.StartsWith("round1.finetune: fine-tune epoch 1/3 ", StringComparison.Ordinal), cancel);
            Assert.ThrowsAny<OperationCanceledException>(() =>
                ExperimentRunner.Run(PlanReader.Read(planPath), new RunSettings(Path.Combine(dir, "out")), stopper, cancel.Token));
        }
        string unitState = Directory.GetFiles(Path.Combine(dir, "out", "runs"), "*.state", SearchOption.AllDirectories).Single();
        return (dir, planPath, whole, unitState);
    }

    /// <summary>Runs the plan at <paramref name="planPath"/> into DIR/out (DIR its folder) to the end; returns the log.</summary>
    private static (ExperimentRunner.Summary Summary, List<string> Logged) Resume(string planPath)
    {
        var resumer = new CancelOnLog(_ => false, new CancellationTokenSource());
        var summary = ExperimentRunner.Run(PlanReader.Read(planPath), new RunSettings(Path.Combine(Path.GetDirectoryName(planPath)!, "out")),
            resumer, CancellationToken.None);
        return (summary, resumer.Logged);
    }

    private static void AssertSameScores(string expectedFolder, string actualFolder)
    {
        JsonNode Scores(string folder) => JsonNode.Parse(File.ReadLines(Path.Combine(folder, "out", "results.jsonl")).Single())!;
        foreach (var field in new[] { "acc_after", "asr_after" })
            Assert.Equal(Scores(expectedFolder)[field]!.GetValue<double>(), Scores(actualFolder)[field]!.GetValue<double>());
    }

    [Fact]
    public void ADefenceStoppedMidUnitResumesAfterThePlanMovedWithItsDataAndEndsAsAnUninterruptedRun()
    {
        // Stopped after the fine-tuning's first epoch, then moved with its data and trigger.
        var (dir, planPath, whole, unitState) = AFineTuneStoppedAfterItsFirstEpoch();
        string moved = dir + "-moved";
        Directory.Move(dir, moved);
        var (summary, logged) = Resume(Path.Combine(moved, Path.GetFileName(planPath)));
        Assert.Equal(1, summary.RunNow);
        Assert.False(File.Exists(Path.Combine(moved, Path.GetRelativePath(dir, unitState)))); // finished: its state removed
        // Only epochs 2 and 3 ran again.
        Assert.DoesNotContain(logged, m => m.Contains(" epoch 1/3 "));
        Assert.Contains(logged, m => m.Contains(" epoch 3/3 "));
        AssertSameScores(whole, moved);
    }

    [Fact]
    public void AUnitStoppedByABuildThatRecordedNoInputContentResumesAndEndsAsAnUninterruptedRun()
    {
        var (dir, planPath, whole, unitState) = AFineTuneStoppedAfterItsFirstEpoch();
        // Made to look as a build before input.content left it: config.json and the unit's state key without it.
        string folder = Path.GetDirectoryName(unitState)!;
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        Assert.True(config["input"]!.AsObject().Remove("content"));
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        var saved = Circumvent.Models.Checkpoints.SafeTensorsReader.Read(unitState);
        var meta = JsonNode.Parse(saved.Metadata["circumvent.training_state"])!.AsObject();
        string key = meta["config"]!.GetValue<string>();
        int space = key.LastIndexOf(' ');
        var keyConfig = JsonNode.Parse(key[..space])!.AsObject();
        Assert.True(keyConfig["input"]!.AsObject().Remove("content"));
        meta["config"] = keyConfig.ToJsonString() + key[space..];
        Assert.True(meta.Remove("content"));
        Circumvent.Models.Checkpoints.SafeTensorsWriter.Write(unitState, saved.Tensors,
            new Dictionary<string, string> { ["circumvent.training_state"] = meta.ToJsonString() });

        var (summary, logged) = Resume(planPath);
        Assert.Equal(1, summary.RunNow);
        Assert.DoesNotContain(logged, m => m.Contains(" epoch 1/3 "));
        AssertSameScores(whole, dir);
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (var folder in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, folder)));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }

    [Fact]
    public void ALineKeyedByAbsolutePathsCountsForTheCellOnceItNamesThePlanFolderItRanIn()
    {
        var (dir, planPath) = RelativePlan(["none"]);
        var cell = Grid.Expand(PlanReader.Read(planPath)).Single();
        // A line as runs wrote them before keys were location-free: the config with absolute paths, keyed by its hash.
        var legacy = new JsonObject { ["key"] = Cell.Hash(cell.Config()), ["config"] = cell.Config() };
        Assert.NotEqual(cell.Key, ResultsFile.CellKey(legacy));
        // Read as it is, the line is of no cell of the plan: the run says so, and runs the cell.
        Directory.CreateDirectory(Path.Combine(dir, "elsewhere", "out"));
        File.WriteAllText(Path.Combine(dir, "elsewhere", "out", "results.jsonl"), legacy.ToJsonString() + "\n");
        var told = new IdleObserver();
        Assert.Equal(1, Run(planPath, Path.Combine(dir, "elsewhere"), told).RunNow);
        Assert.Equal(1, told.Unmatched);
        legacy["plan_folder"] = Path.GetDirectoryName(planPath);
        Assert.Equal(cell.Key, ResultsFile.CellKey(legacy));
        // Through a file, as the runner reads it: the cell is done, nothing runs.
        Directory.CreateDirectory(Path.Combine(dir, "out"));
        File.WriteAllText(Path.Combine(dir, "out", "results.jsonl"), legacy.ToJsonString() + "\n");
        var adopted = new IdleObserver();
        var summary = Run(planPath, dir, adopted);
        Assert.Equal((1, 0, 0), (summary.AlreadyDone, summary.RunNow, adopted.Unmatched));
    }

    [Fact]
    public void AMovedCacheFindsTheFilesTrainingWroteIntoItAndThePlanNamesItsOwnFiles()
    {
        string cache = Path.Combine(Circumvent.Tests.Cli.CliHarness.TempFolder(), "cache");
        string model = Path.Combine(cache, "0123456789abcdef", "model.safetensors");
        string generators = Circumvent.Attacks.InputAwareTraining.GeneratorsPath(model);
        string encoder = Path.Combine(cache, CellRunner.EncoderStoreFolder, "fedcba9876543210", "encoder.safetensors");
        foreach (var file in new[] { generators, encoder })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllText(file, "x");
        }
        var stored = new Circumvent.Attacks.AttackDefinition
        {
            Kind = "ssba", TriggerImage = "/old/plan/trigger.pgm", Generators = "/old/out/models/0123456789abcdef/" + Path.GetFileName(generators),
            Encoder = $"/old/out/models/{CellRunner.EncoderStoreFolder}/fedcba9876543210/encoder.safetensors",
        };
        var planned = new Circumvent.Attacks.AttackDefinition { Kind = "ssba", TriggerImage = "/new/plan/trigger.pgm" };
        var moved = CellRunner.Relocated(stored, planned, model, cache)!;
        Assert.Equal(("/new/plan/trigger.pgm", generators, encoder), (moved.TriggerImage, moved.Generators, moved.Encoder));
        // Files still where they were stored are used as stored; no stored attack stays none.
        var unmoved = stored with { Generators = generators, Encoder = encoder };
        Assert.Equal(unmoved with { TriggerImage = "/new/plan/trigger.pgm" }, CellRunner.Relocated(unmoved, planned, model, cache));
        Assert.Null(CellRunner.Relocated(null, planned, model, cache));
    }
}
