using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Method.Pipelines;
using Circumvent.Tests.Cli;

namespace Circumvent.Tests.Experiments;

/// <summary>
/// Encoder plans (issue #17): the top-level encoder, downstreams and probe; attacks none, badencoder and ctrl with their
/// recipes; defences with the self-supervised defaults `purify --objective simclr` uses; every mistake one line, exit 2.
/// </summary>
public class EncoderPlanTests
{
    [Fact]
    public void AnEncoderPlanReadsItsEncoderAttacksDownstreamsAndSelfSupervisedDefences()
    {
        var (dir, cifar, reference) = TinyEncoderPlans.Folder();
        var document = TinyEncoderPlans.Plan(cifar, reference);
        document["attacks"]!.AsArray().Add("none");
        document["attacks"]!.AsArray().Add(new JsonObject { ["kind"] = "ctrl", ["downstream"] = "cifar10", ["target"] = 0, ["epochs"] = 20, ["poison_rate"] = 0.1 });
        document["attacks"]!.AsArray().Add(new JsonObject
        {
            ["kind"] = "ctrl", ["label"] = "ctrl short", ["downstream"] = "cifar10", ["target"] = 0, ["epochs"] = 5,
            // Its own defences replace the plan's for it.
            ["defenses"] = new JsonArray("none", new JsonObject { ["name"] = "tsc", ["curve_lr"] = 0.002, ["curve_l2"] = 0.0005 }),
        });
        document["defenses"]!.AsArray().Add("mcr");
        document["seeds"] = new JsonArray(0, 1);
        var plan = PlanReader.Read(TinyPlans.Write(dir, document));

        var encoder = plan.Encoder!;
        Assert.Equal(["cifar10", "copy"], encoder.Downstreams.Select(d => d.Name));
        Assert.Equal(0.0625, encoder.Clean.Pretraining!.WidthMultiplier);
        Assert.Equal(SimClrPretraining.Defaults.LearningRate, encoder.Clean.Pretraining.LearningRate);
        Assert.Equal(cifar.Replace("cifar10:", ""), encoder.Clean.Pretraining.Data.Split(':')[1]);
        Assert.Equal(2, encoder.Probe.Epochs);
        Assert.Equal(["badencoder-cifar10", "none", "ctrl", "ctrl short"], plan.Attacks.Select(a => a.Label));

        var badEncoder = plan.Attacks[0].Encoder!;
        Assert.Equal((9, 10, 21, 21), (badEncoder.Target, badEncoder.Patch!.PatchSize, badEncoder.Patch.PatchColumn!.Value, badEncoder.Patch.PatchRow!.Value));
        Assert.Equal((0.01, 8, 1.0), (badEncoder.Training!.LearningRate, badEncoder.Training.BatchSize, badEncoder.Training.Epochs));
        Assert.Equal(BadEncoderTraining.Defaults.Optimizer, badEncoder.Training.Optimizer);
        Assert.Equal(Path.Combine(dir, "reference.ppm"), badEncoder.References[0].File);
        Assert.Equal((7, 1), (badEncoder.References[1].Class, badEncoder.References[1].Index));
        var ctrl = plan.Attacks[2].Encoder!;
        // CTRL's warm-up is the share of the run its 10 of 800 epochs are: 0.25 of 20 epochs, 0.0625 of 5, as `pretrain --method ctrl` does.
        Assert.Equal((0.1, 100.0, 0.06, 0.25), (ctrl.PoisonRate, ctrl.Magnitude, ctrl.Training!.LearningRate, ctrl.Training.WarmupEpochs));
        Assert.Equal(0.0625, plan.Attacks[3].Encoder!.Training!.WarmupEpochs);

        // The defences start from the self-supervised defaults (TSC t 0.25, curves on Adam), as `purify --objective simclr` does.
        var tsc = plan.Defenses.Single(d => d.Name == "tsc").Create().DescribeOptions();
        Assert.Equal(0.25, tsc["t"]!.GetValue<double>());
        Assert.Equal("adam", tsc["curve"]!["optimizer"]!.GetValue<string>());

        var cells = Grid.Expand(plan);
        Assert.Equal(3 * 2 * 3 + 2 * 2, cells.Count);
        Assert.Equal(["none", "tsc"], cells.Where(c => c.Attack.Label == "ctrl short" && c.Seed == 0).Select(c => c.Defense.Name));
        var ownTsc = Assert.IsType<Circumvent.Method.Defenses.Tsc>(cells.Single(c => c.Attack.Label == "ctrl short" && c.Seed == 0 && c.Defense.Name == "tsc").Defense.Create()).Options;
        Assert.Equal((0.002, 5e-4, 0.25), (ownTsc.Curve.LearningRate, ownTsc.Curve.L2, ownTsc.T));
        Assert.False(plan.Attacks[3].Fields.ContainsKey("defenses")); // not part of what the attack is (its model key)
        Assert.Equal(cells.Count, cells.Select(c => c.Key).Distinct().Count());
        // A model per attack and seed, except the clean encoder: one for both seeds, the same as the clean encoder's key.
        Assert.Equal(2 + 1 + 2 + 2, cells.Select(c => c.ModelKey).Distinct().Count());
        Assert.All(cells.Where(c => c.Attack.Label == "none"), c => Assert.Equal(c.CleanEncoderKey, c.ModelKey));
        // The attack's seed is its authors' default plus the cell's.
        Assert.Equal(BadEncoderTraining.Defaults.Seed + 1, cells.First(c => c.Attack.Label == "badencoder-cifar10" && c.Seed == 1).Training.Seed);
        Assert.Equal(0.1, cells.First(c => c.Attack.Label == "ctrl").PoisonRate);
    }

    [Fact]
    public void AGivenEncoderFileIsUsedAsItIsAndMustExistToRun()
    {
        var (dir, cifar, reference) = TinyEncoderPlans.Folder();
        var file = TinyEncoderPlans.CleanEncoderFile(dir, cifar);
        var document = TinyEncoderPlans.Plan(cifar, reference);
        document["encoder"] = "clean.safetensors"; // relative to the plan
        var plan = PlanReader.Read(TinyPlans.Write(dir, document));
        Assert.Equal(file, plan.Encoder!.Clean.File);

        document["encoder"] = new JsonObject { ["file"] = "later.safetensors" };
        string later = TinyPlans.Write(dir, document, "later.json");
        Assert.Contains("later.safetensors", Assert.Throws<PlanException>(() => PlanReader.Read(later)).Message);
        Assert.NotEmpty(Grid.Expand(PlanReader.Read(later, requireMadeInputs: false))); // a dry run lists the cells
    }

    public static TheoryData<string, string, string, string> BadEncoderPlans => new()
    {
        { "badencoder without references", """{"attacks": [{"kind": "badencoder", "downstream": "cifar10", "target": 9}]}""", "attacks[0].references", "non-empty list" },
        { "badencoder without downstream", """{"attacks": [{"kind": "badencoder", "target": 9, "references": ["reference.ppm"]}]}""", "attacks[0].downstream", "cifar10, copy" },
        { "unknown downstream", """{"attacks": [{"kind": "badencoder", "downstream": "stl10", "target": 9, "references": ["reference.ppm"]}]}""", "attacks[0].downstream", "not in downstreams" },
        { "missing reference file", """{"attacks": [{"kind": "badencoder", "downstream": "cifar10", "target": 9, "references": ["nope.png"]}]}""", "attacks[0].references[0]", "not found" },
        { "missing target", """{"attacks": [{"kind": "ctrl", "downstream": "cifar10"}]}""", "attacks[0].target", "missing" },
        { "classifier attack", """{"attacks": [{"kind": "badnet", "target": 0}]}""", "attacks[0].kind", "an encoder plan's attacks are none, badencoder, ctrl" },
        { "unknown attack", """{"attacks": ["trojan"]}""", "attacks[0].kind", "expected one of none, badencoder, ctrl" },
        { "another attack's field", """{"attacks": [{"kind": "ctrl", "downstream": "cifar10", "target": 0, "patch_size": 4}]}""", "attacks[0].patch_size", "unknown field" },
        { "ctrl rate", """{"attacks": [{"kind": "ctrl", "downstream": "cifar10", "target": 0, "poison_rate": 2}]}""", "attacks[0].poison_rate", "(0, 1)" },
        { "bad recipe", """{"attacks": [{"kind": "ctrl", "downstream": "cifar10", "target": 0, "epochs": 0}]}""", "attacks[0]", "epochs" },
        { "classifier-only defence", """{"defenses": ["nc"]}""", "defenses[0]", "an encoder plan takes" },
        { "unknown defence", """{"defenses": ["magic"]}""", "defenses[0]", "magic" },
        { "encoder file missing", """{"encoder": "nope.safetensors"}""", "encoder.file", "not found" },
        { "encoder file not an encoder", """{"encoder": {"file": "reference.ppm"}}""", "encoder.file", "reference.ppm" },
        { "file and pretrain", """{"encoder": {"file": "a.safetensors", "pretrain": {}}}""", "encoder", "either file" },
        { "unknown pretrain field", """{"encoder": {"pretrain": {"lr": 0.1}}}""", "encoder.pretrain.lr", "unknown field" },
        { "unknown encoder architecture", """{"encoder": {"pretrain": {"architecture": "resnet9000"}}}""", "encoder.pretrain.architecture", "unknown architecture" },
        { "no downstreams", """{"downstreams": {}}""", "downstreams", "NAME: KIND:PATH" },
        { "downstream name", """{"downstreams": {"CIFAR-10": "cifar10:x"}}""", "downstreams.CIFAR-10", "lower-case" },
        { "probe kind", """{"probe": {"kind": "knn"}}""", "probe.kind", "mlp" },
        { "probe epochs", """{"probe": {"epochs": 0}}""", "probe", "epochs" },
        { "architectures", """{"architectures": ["resnet18"]}""", "architectures", "does not apply to an encoder plan" },
        { "poison rates", """{"poison_rates": [0.1]}""", "poison_rates", "does not apply to an encoder plan" },
        { "training", """{"training": {"epochs": 2}}""", "training", "does not apply to an encoder plan" },
        { "two datasets", """{"datasets": ["cifar10:a", "cifar10:b"]}""", "datasets", "one dataset" },
    };

    [Theory]
    [MemberData(nameof(BadEncoderPlans))]
    public void ABadEncoderPlanIsOneLineExitTwoNamingTheFieldBeforeAnyWork(string why, string change, string field, string expected)
    {
        var (dir, cifar, reference) = TinyEncoderPlans.Folder();
        var plan = TinyEncoderPlans.Plan(cifar, reference);
        foreach (var (key, value) in JsonNode.Parse(change)!.AsObject()) plan[key] = value?.DeepClone();
        var path = TinyPlans.Write(dir, plan);
        var run = CliHarness.Run("experiment", "run", path, "--out", Path.Combine(dir, "out"));
        Assert.True(run.ExitCode == 2, $"{why}: exit {run.ExitCode}, {run.Stderr}");
        Assert.Single(run.StderrLines);
        Assert.Contains($"{field}:", run.Stderr);
        Assert.Contains(expected, run.Stderr);
        Assert.DoesNotContain($"{field}: {field}:", run.Stderr); // the field is named once
        Assert.False(Directory.Exists(Path.Combine(dir, "out")), why);
    }

    [Theory]
    [InlineData("downstreams")]
    [InlineData("probe")]
    public void EncoderFieldsInAClassifierPlanAreRefused(string field)
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var document = TinyPlans.Plan(data, trigger);
        document[field] = new JsonObject();
        var error = Assert.Throws<PlanException>(() => PlanReader.Read(TinyPlans.Write(dir, document)));
        Assert.Contains($"{field}: applies to encoder plans only", error.Message);
    }

    [Fact]
    public void AnEncoderAttackInAClassifierPlanIsRefused()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var document = TinyPlans.Plan(data, trigger);
        document["attacks"] = new JsonArray(new JsonObject { ["kind"] = "badencoder", ["target"] = 0 });
        var error = Assert.Throws<PlanException>(() => PlanReader.Read(TinyPlans.Write(dir, document)));
        Assert.Contains("attacks[0].kind: 'badencoder' attacks a self-supervised encoder", error.Message);
    }
}
