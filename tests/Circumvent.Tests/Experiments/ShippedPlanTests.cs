using Circumvent.Experiments.Plans;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Experiments;

/// <summary>
/// The plans shipped in experiments/ parse and expand (the CIFAR-10 plans' data and trigger files live
/// in ../shared/data beside the checkout, so they are skipped without it; the clean model the LC attack
/// needs is made by the user, so its absence is allowed here); tiny.yaml, the README's example, needs
/// nothing outside the checkout; and the attack-table plan trains exactly the seed-0 models the
/// main cnn-small plan needs, so a shared --cache serves both.
/// </summary>
public class ShippedPlanTests
{
    private static string ExperimentsDir() => Path.Combine(RepositoryRoot.Path, "experiments");

    public static IEnumerable<object[]> Plans() =>
        Directory.EnumerateFiles(ExperimentsDir()).Where(f => f.EndsWith(".json") || f.EndsWith(".yaml"))
            .Order().Select(f => new object[] { Path.GetFileName(f) });

    [SkippableTheory]
    [MemberData(nameof(Plans))]
    public void EveryShippedPlanParsesAndExpands(string file)
    {
        string path = Path.Combine(ExperimentsDir(), file);
        Skip.If(File.ReadAllText(path).Contains("../shared/data", StringComparison.Ordinal) && !SharedDataBesideTheCheckout(),
            "../shared/data beside the checkout (the data and trigger files this plan names) is not available");
        var plan = PlanReader.Read(path, requireMadeInputs: false);
        var cells = Grid.Expand(plan);
        Assert.NotEmpty(cells);
        Assert.Equal(cells.Count, cells.Select(c => c.Key).Distinct().Count());
    }

    private static bool SharedDataBesideTheCheckout() => Directory.Exists(Path.Combine(ExperimentsDir(), "..", "..", "shared", "data"));

    [Fact]
    public void TheTinyPlanNeedsNothingOutsideTheCheckout()
    {
        var plan = PlanReader.Read(Path.Combine(ExperimentsDir(), "tiny.yaml"));
        string root = RepositoryRoot.Path + Path.DirectorySeparatorChar;
        Assert.All(plan.Datasets, d => Assert.StartsWith("fashion-mnist", d)); // Debian's dataset-fashion-mnist, which install-deps installs
        var triggers = plan.Attacks.Select(a => a.Fields["trigger_image"]?.GetValue<string>()).OfType<string>().ToList();
        Assert.NotEmpty(triggers); // blended
        Assert.All(triggers, trigger =>
        {
            Assert.StartsWith(root, trigger);
            Assert.True(File.Exists(trigger), trigger);
        });
    }

    [SkippableFact]
    public void TheAttackTablePlanTrainsTheMainPlansSeedZeroModels()
    {
        Skip.IfNot(SharedDataBesideTheCheckout(), "../shared/data beside the checkout (the data and trigger files the plans name) is not available");
        var main = Grid.Expand(PlanReader.Read(Path.Combine(ExperimentsDir(), "cnn-small.json")));
        var table = Grid.Expand(PlanReader.Read(Path.Combine(ExperimentsDir(), "attacks-cnn-small.json"), requireMadeInputs: false));
        var mainSeedZero = main.Where(c => c.Seed == 0).Select(c => c.ModelKey).ToHashSet();
        var shared = table.Where(c => c.Attack.Label is not ("lc" or "input-aware")).Select(c => c.ModelKey).ToList();
        Assert.Equal(6, shared.Count);
        Assert.All(shared, key => Assert.Contains(key, mainSeedZero));
    }

    [SkippableFact]
    public void TheSelfSupervisedPlanIsTheIssueTable()
    {
        Skip.IfNot(SharedDataBesideTheCheckout(), "../shared/data beside the checkout (CIFAR-10, GTSRB and the reference image the plan names) is not available");
        // The clean encoder is made by the user (pretrain --method simclr), so its absence is allowed when only the grid is read.
        var plan = PlanReader.Read(Path.Combine(ExperimentsDir(), "self-supervised.json"), requireMadeInputs: false);
        var encoder = plan.Encoder!;
        Assert.EndsWith(Path.Combine("experiments", "models", "simclr-resnet18-w0.25-e70.safetensors"), encoder.Clean.File);
        Assert.Equal(["gtsrb", "cifar10"], encoder.Downstreams.Select(d => d.Name));
        Assert.Equal(Circumvent.Models.ProbeKind.Mlp, Assert.Single(encoder.Probe.Kinds));
        var attacks = plan.Attacks.Select(a => a.Encoder!).ToList();
        // The attacks first (the table's evidence), the clean encoder's own cells last.
        Assert.Equal([("badencoder", "gtsrb", 12), ("badencoder", "cifar10", 9), ("ctrl", "cifar10", 0), ("none", null, 0)],
            attacks.Select(a => (a.Kind, a.Downstream, a.Target)));
        // GTSRB's reference is a training image of class 12 (priority road); CIFAR-10's the first three training trucks
        // (one missed the attack bar: RESULTS.md, session 21).
        Assert.Contains(Path.Combine("gtsrb", "train", "00012") + Path.DirectorySeparatorChar, attacks[0].References.Single().File);
        Assert.True(File.Exists(attacks[0].References.Single().File));
        Assert.Equal([(9, 0), (9, 1), (9, 2)], attacks[1].References.Select(r => (r.Class, r.Index)));
        Assert.Equal(0.05, attacks[2].PoisonRate);
        Assert.Equal(["none", "tsc", "mcr"], plan.Defenses.Select(d => d.Name));
        // CTRL's encoders are purified with the authors' CTRL settings (repair_mc2_ctrl.py: curves at lr 0.002, L2 --wd 5e-4).
        var ctrlDefenses = plan.Attacks[2].Defenses!;
        Assert.Equal(["none", "tsc", "mcr"], ctrlDefenses.Select(d => d.Name));
        var ctrlTsc = Assert.IsType<Circumvent.Method.Defenses.Tsc>(ctrlDefenses[1].Create()).Options;
        Assert.Equal((0.002, 5e-4, 40), (ctrlTsc.Curve.LearningRate, ctrlTsc.Curve.L2, ctrlTsc.Curve.Epochs));
        var tsc = Assert.IsType<Circumvent.Method.Defenses.Tsc>(plan.Defenses[1].Create()).Options;
        Assert.Equal((0.005, 5e-5), (tsc.Curve.LearningRate, tsc.Curve.L2));
        Assert.Null(plan.Attacks[0].Defenses);
        Assert.Equal([0, 1], plan.Seeds);
        Assert.Equal(4 * 3 * 2, Grid.Expand(plan).Count);
        Assert.Equal(0.002, Grid.Expand(plan).Where(c => c.Attack.Label == "ctrl" && c.Defense.Name == "tsc").Select(c =>
            Assert.IsType<Circumvent.Method.Defenses.Tsc>(c.Defense.Create()).Options.Curve.LearningRate).Distinct().Single());
    }
}
