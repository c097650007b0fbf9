using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Tests.Cli;

namespace Circumvent.Tests.Experiments;

public class PlanTests
{
    private static ExperimentPlan ReadTiny(Action<JsonObject>? change = null)
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var plan = TinyPlans.Plan(data, trigger);
        change?.Invoke(plan);
        return PlanReader.Read(TinyPlans.Write(dir, plan));
    }

    [Fact]
    public void GridIsTheFullProductWithDefencesInnermost()
    {
        var plan = ReadTiny(p =>
        {
            p["poison_rates"] = new JsonArray(0.1, 0.05);
            p["seeds"] = new JsonArray(0, 1, 2);
        });
        var cells = Grid.Expand(plan);
        Assert.Equal(2 * 2 * 3 * 3, cells.Count);
        Assert.Equal(Enumerable.Range(0, cells.Count), cells.Select(c => c.Index));
        Assert.Equal(cells.Count, cells.Select(c => c.Key).Distinct().Count());
        // Each (attack, rate, seed) appears exactly once per defence, and consecutive cells share their model.
        Assert.All(cells.GroupBy(c => (c.Attack.Label, c.PoisonRate, c.Seed)), g => Assert.Equal(["none", "ft", "tsc"], g.Select(c => c.Defense.Label)));
        Assert.Equal(2 * 2 * 3, cells.Select(c => c.ModelKey).Distinct().Count());
        Assert.Equal(["none", "ft", "tsc"], cells.Take(3).Select(c => c.Defense.Label));
        Assert.Single(cells.Take(3).Select(c => c.ModelKey).Distinct());
        // The cell's training config carries the grid's values.
        var last = cells[^1];
        Assert.Equal((2, "mlp", 0.0625), (last.Training.Seed, last.Training.Architecture, last.Training.WidthMultiplier));
        Assert.Equal(0.05, last.AttackDefinition.PoisonRate);
        Assert.Equal("blended", last.AttackDefinition.Kind);
    }

    [Fact]
    public void YamlPlanReadsLikeTheJsonOne()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var yaml = Path.Combine(dir, "plan.yaml");
        File.WriteAllText(yaml, $"""
            name: tiny
            datasets: ["{data}"]
            architectures:
              - name: mlp
                width: 0.0625
            attacks:
              - kind: badnet
                target: 0
              - kind: blended
                trigger_image: {trigger}
                alpha: 0.2
            poison_rates: [0.1]
            defenses:
              - none
              - {"{"}name: ft, finetune_epochs: 1, batch_size: 32{"}"}
              - {"{"}name: tsc, rounds: 1, curve_epochs: 1, batch_size: 32{"}"}
            seeds: [0]
            training: {"{"}epochs: 2, batch_size: 30, augment: false{"}"}
            clean_fraction: 0.2
            curve_points: 3
            """);
        var fromYaml = Grid.Expand(PlanReader.Read(yaml)).Select(c => c.Key);
        var fromJson = Grid.Expand(PlanReader.Read(TinyPlans.Write(dir, TinyPlans.Plan(data, trigger)))).Select(c => c.Key);
        Assert.Equal(fromJson, fromYaml);
    }

    [Fact]
    public void ShardsPartitionTheCellsExactly()
    {
        var cells = Grid.Expand(ReadTiny(p => p["seeds"] = new JsonArray(0, 1, 2, 3)));
        foreach (int n in new[] { 1, 2, 3, 5, 7, 100 })
        {
            var shards = Enumerable.Range(0, n).Select(i => cells.Where(new Shard(i, n).Contains).Select(c => c.Index).ToList()).ToList();
            Assert.Equal(cells.Select(c => c.Index), shards.SelectMany(s => s).Order());
            Assert.All(shards, s => Assert.InRange(s.Count, cells.Count / n, cells.Count / n + 1));
        }
        Assert.Equal(new Shard(2, 4), Shard.Parse("2/4"));
        foreach (var bad in new[] { "4/4", "-1/2", "1", "a/b", "0/0" }) Assert.Throws<ArgumentException>(() => Shard.Parse(bad));
    }

    [Fact]
    public void CellKeysAreStableAndChangeWithEveryField()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var path = TinyPlans.Write(dir, TinyPlans.Plan(data, trigger));
        var cell = Grid.Expand(PlanReader.Read(path))[2]; // badnet, tsc
        var again = Grid.Expand(PlanReader.Read(path))[2];
        Assert.Equal(cell.Key, again.Key);
        Assert.Equal(cell.ModelKey, again.ModelKey);
        Assert.Matches("^[0-9a-f]{16}$", cell.Key);

        var tsc = cell.Defense;
        var variants = new (string What, Cell Changed, bool SameModel)[]
        {
            ("seed", cell with { Seed = 9, Training = cell.Training with { Seed = 9 } }, false),
            ("epochs", cell with { Training = cell.Training with { Epochs = 3 } }, false),
            ("learning rate", cell with { Training = cell.Training with { LearningRate = 0.051 } }, false),
            ("width", cell with { Training = cell.Training with { WidthMultiplier = 0.125 } }, false),
            ("data", cell with { Training = cell.Training with { Data = cell.Training.Data + "x" } }, false),
            ("poison rate", cell with { PoisonRate = 0.05 }, false),
            ("attack target", cell with { Attack = cell.Attack with { Fields = With(cell.Attack.Fields, "target", 1) } }, false),
            ("patch size", cell with { Attack = cell.Attack with { Fields = With(cell.Attack.Fields, "patch_size", 4) } }, false),
            ("defence", cell with { Defense = tsc with { Name = "mcr", Settings = tsc.Settings.Without("rounds") } }, true),
            ("tsc rounds", cell with { Defense = tsc with { Settings = tsc.Settings.With("rounds", 2) } }, true),
            ("tsc t", cell with { Defense = tsc with { Settings = tsc.Settings.With("t", 0.3) } }, true),
            ("curve epochs", cell with { Defense = tsc with { Settings = tsc.Settings.With("curve_epochs", 2) } }, true),
            ("clean fraction", cell with { CleanFraction = 0.1 }, true),
            ("curve points", cell with { CurvePoints = 5 }, true),
        };
        foreach (var (what, changed, sameModel) in variants)
        {
            Assert.True(changed.Key != cell.Key, $"{what} must change the cell key");
            Assert.True(sameModel == (changed.ModelKey == cell.ModelKey), $"{what}: model key should {(sameModel ? "stay" : "change")}");
        }
        Assert.Equal(variants.Length + 1, variants.Select(v => v.Changed.Key).Append(cell.Key).Distinct().Count());
        // Labels name columns; they are not part of what is computed.
        Assert.Equal(cell.Key, (cell with { Defense = tsc with { Label = "TSC (E=1)" } }).Key);
    }

    private static JsonObject With(JsonObject fields, string key, int value)
    {
        var copy = fields.DeepClone().AsObject();
        copy[key] = value;
        return copy;
    }

    public static TheoryData<string, string, string> BadPlans => new()
    {
        { "unknown top-level field", """{"seedz": [1]}""", "seedz" },
        { "missing datasets", """{"datasets": null}""", "datasets" },
        { "rate out of range", """{"poison_rates": [0.1, 1.5]}""", "poison_rates[1]" },
        { "seed not a number", """{"seeds": ["one"]}""", "seeds[0]" },
        { "unknown attack kind", """{"attacks": [{"kind": "badnet"}, {"kind": "trojan"}]}""", "attacks[1]" },
        { "adaptive as a kind", """{"attacks": [{"kind": "adaptive"}]}""", "attacks[0].kind" },
        { "another attack's field", """{"attacks": [{"kind": "sig", "warp_grid": 4}]}""", "attacks[0].warp_grid" },
        { "bad adaptive settings", """{"attacks": [{"kind": "badnet", "adaptive_tsc": {"epochs": 0}}]}""", "attacks[0].adaptive_tsc" },
        { "unknown adaptive field", """{"attacks": [{"kind": "badnet", "adaptive_tsc": {"lr": 0.1}}]}""", "attacks[0].adaptive_tsc.lr" },
        { "unknown attack field", """{"attacks": [{"kind": "badnet", "patch_sise": 4}]}""", "attacks[0].patch_sise" },
        { "input-aware with adaptive", """{"attacks": [{"kind": "input-aware", "adaptive_tsc": true}]}""", "attacks[0].adaptive_tsc" },
        { "input-aware networks given", """{"attacks": [{"kind": "input-aware", "generators": "g.safetensors"}]}""", "attacks[0].generators" },
        { "input-aware cross rate", """{"attacks": [{"kind": "input-aware", "cross_rate": 1}]}""", "attacks[0]" },
        { "rate inside an attack", """{"attacks": [{"kind": "badnet", "poison_rate": 0.1}]}""", "attacks[0].poison_rate" },
        { "missing trigger image", """{"attacks": [{"kind": "blended", "trigger_image": "nope.ppm"}]}""", "attacks[0]" },
        { "lc without its clean model", """{"attacks": [{"kind": "lc"}]}""", "attacks[0].clean_model" },
        { "lc clean model missing", """{"attacks": [{"kind": "lc", "clean_model": "nope.safetensors"}]}""", "attacks[0].clean_model" },
        { "unknown defence", """{"defenses": ["magic"]}""", "defenses[0]" },
        { "knob that does not apply", """{"defenses": [{"name": "ft", "rounds": 2}]}""", "defenses[0]" },
        { "bad knob value", """{"defenses": [{"name": "tsc", "t": 1.5}]}""", "defenses[0]" },
        { "unknown defence field", """{"defenses": [{"name": "tsc", "round": 2}]}""", "defenses[0].round" },
        { "same defence twice", """{"defenses": ["tsc", {"name": "tsc", "label": "again"}]}""", "defenses" },
        { "unknown training field", """{"training": {"lr": 0.1}}""", "training.lr" },
        { "per-cell training field", """{"training": {"seed": 3}}""", "training.seed" },
        { "bad training value", """{"training": {"epochs": 0}}""", "training" },
        { "unknown architecture", """{"architectures": ["resnet9000"]}""", "architectures[0].name" },
        { "bad dataset kind", """{"datasets": ["imagenet:/x"]}""", "datasets[0]" },
        { "clean fraction", """{"clean_fraction": 0}""", "clean_fraction" },
        { "curve points", """{"curve_points": 1}""", "curve_points" },
    };

    [Fact]
    public void TheNewAttacksAndTheAdaptiveAttackAreGridEntries()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        File.WriteAllBytes(Path.Combine(dir, "clean.safetensors"), []); // the plan only checks that it exists
        var document = TinyPlans.Plan(data, trigger);
        document["attacks"] = new JsonArray(
            new JsonObject { ["kind"] = "badnet", ["target"] = 0 },
            new JsonObject { ["kind"] = "badnet", ["target"] = 0, ["adaptive_tsc"] = true },
            new JsonObject { ["kind"] = "badnet", ["target"] = 0, ["label"] = "adaptive long", ["adaptive_tsc"] = new JsonObject { ["epochs"] = 40, ["learning_rate"] = 0.02 } },
            new JsonObject { ["kind"] = "sig", ["target"] = 0 },
            new JsonObject { ["kind"] = "wanet", ["target"] = 0, ["noise_ratio"] = 0 },
            new JsonObject { ["kind"] = "lc", ["target"] = 0, ["clean_model"] = "clean.safetensors" },
            new JsonObject { ["kind"] = "input-aware", ["target"] = 0, ["cross_rate"] = 0.05, ["mask_epochs"] = 2 });
        var plan = PlanReader.Read(TinyPlans.Write(dir, document));
        Assert.Equal(["badnet", "badnet+adaptive", "adaptive long", "sig", "wanet", "lc", "input-aware"], plan.Attacks.Select(a => a.Label));
        var cells = Grid.Expand(plan).Where(c => c.Defense.Name == "none").ToList();
        Assert.Equal(7, cells.Select(c => c.ModelKey).Distinct().Count());
        Assert.Equal((0.05, 2), (cells[6].AttackDefinition.CrossRate, cells[6].AttackDefinition.MaskEpochs));

        // The adaptive attack takes the recipe's batch size and seed; its own knobs from the plan.
        Assert.Null(cells[0].AdaptiveTsc);
        var adaptive = cells[2].AdaptiveTsc!;
        Assert.Equal((40, 0.02, 30, 0, false), (adaptive.Epochs, adaptive.LearningRate, adaptive.BatchSize, adaptive.Seed, adaptive.Augment));
        Assert.Equal("badnet", cells[2].AttackDefinition.Kind);
        Assert.NotNull(cells[1].ModelConfig()["adaptive_tsc"]);
        Assert.Null(cells[0].ModelConfig()["adaptive_tsc"]);
        // Files are relative to the plan, like trigger images.
        Assert.True(Path.IsPathRooted(cells[5].AttackDefinition.CleanModel));
    }

    [Fact]
    public void AMissingCleanModelStopsARunButNotAReadingOfTheGrid()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var document = TinyPlans.Plan(data, trigger);
        document["attacks"] = new JsonArray(new JsonObject { ["kind"] = "lc", ["target"] = 0, ["clean_model"] = "later.safetensors" });
        string path = TinyPlans.Write(dir, document);
        var error = Assert.Throws<PlanException>(() => PlanReader.Read(path));
        Assert.Contains("later.safetensors", error.Message);
        var cells = Grid.Expand(PlanReader.Read(path, requireMadeInputs: false));
        Assert.Equal(Path.Combine(dir, "later.safetensors"), cells[0].AttackDefinition.CleanModel);
    }

    [Theory]
    [MemberData(nameof(BadPlans))]
    public void BadPlanIsOneLineExitTwoNamingTheField(string why, string change, string field)
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var plan = TinyPlans.Plan(data, trigger);
        foreach (var (key, value) in JsonNode.Parse(change)!.AsObject()) plan[key] = value?.DeepClone();
        var path = TinyPlans.Write(dir, plan);
        var run = CliHarness.Run("experiment", "run", path, "--out", Path.Combine(dir, "out"));
        Assert.True(run.ExitCode == 2, $"{why}: exit {run.ExitCode}, {run.Stderr}");
        Assert.Single(run.StderrLines);
        Assert.Contains($"{field}:", run.Stderr);
        Assert.Contains("plan.json", run.Stderr);
        Assert.False(Directory.Exists(Path.Combine(dir, "out")), why);
    }

    [Fact]
    public void UnreadablePlanFilesAreOneLineExitTwo()
    {
        var dir = CliHarness.TempFolder();
        var broken = Path.Combine(dir, "broken.json");
        File.WriteAllText(broken, "{\"datasets\": [");
        var yaml = Path.Combine(dir, "broken.yaml");
        File.WriteAllText(yaml, "datasets: [a\nseeds: : :");
        foreach (var path in new[] { broken, yaml, Path.Combine(dir, "missing.json") })
        {
            var run = CliHarness.Run("experiment", "run", path);
            Assert.Equal(2, run.ExitCode);
            Assert.Single(run.StderrLines);
            Assert.Contains(Path.GetFileName(path), run.Stderr);
        }
    }
}
