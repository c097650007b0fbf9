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
}
