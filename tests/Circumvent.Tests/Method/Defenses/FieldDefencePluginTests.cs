using Circumvent.Method.Defenses;
using Circumvent.Method.Defenses.Anp;
using Circumvent.Method.Defenses.FtSam;
using Circumvent.Method.Defenses.NeuralCleanse;

namespace Circumvent.Tests.Method.Defenses;

/// <summary>`purify --defense nc|anp|ft-sam` builds the defence at its defaults, with the knobs it has (its own and the shared ones) and no others.</summary>
public class FieldDefencePluginTests
{
    [Fact]
    public void EachBuildsAtItsDefaultsWithTheKnobsItHas()
    {
        var nc = Assert.IsType<NeuralCleanseDefense>(DefenseRegistry.Create("nc", new DefenseSettings { ["batch_size"] = 64, ["finetune_epochs"] = 40, ["nc_epochs"] = 7 }));
        Assert.Equal(new NeuralCleanseOptions() with { TriggerEpochs = 7, TriggerBatchSize = 64, Unlearning = new NeuralCleanseOptions().Unlearning with { BatchSize = 64, Epochs = 40 } }, nc.Options);
        var anp = Assert.IsType<AnpDefense>(DefenseRegistry.Create("anp", new DefenseSettings { ["augment"] = false }));
        Assert.Equal(new AnpOptions { Augment = false }, anp.Options);
        var sam = Assert.IsType<FtSamDefense>(DefenseRegistry.Create("ft-sam", new DefenseSettings { ["finetune_lr"] = 0.02 }));
        Assert.Equal(0.02, sam.Options.FineTune.LearningRate);
        Assert.Equal(2.0, sam.Options.Rho);
        Assert.Equal(["nc", "anp", "ft-sam"], new[] { nc.Name, anp.Name, sam.Name });
    }

    [Fact]
    public void KnobsTheyDoNotHaveAndEncodersAreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => DefenseRegistry.Create("anp", new DefenseSettings { ["finetune_epochs"] = 3 }));
        Assert.StartsWith("--finetune-epochs does not apply to --defense anp (it uses ", e.Message);
        e = Assert.Throws<ArgumentException>(() => DefenseRegistry.Create("nc", new DefenseSettings { ["rounds"] = 2 }));
        Assert.StartsWith("--rounds does not apply to --defense nc", e.Message);
        e = Assert.Throws<ArgumentException>(() => DefenseRegistry.Create("nc", new DefenseSettings { ["anp_eps"] = 0.1 }));
        Assert.StartsWith("--anp-eps does not apply to --defense nc", e.Message);
        e = Assert.Throws<ArgumentException>(() => DefenseRegistry.Create("ft-sam", new DefenseSettings { SelfSupervised = true }));
        Assert.Contains("classifiers", e.Message);
    }

    [Fact]
    public void HelpListsEachDefencesOwnKnobs()
    {
        Assert.Contains("--nc-anomaly-threshold", DefenseRegistry.Help(DefenseRegistry.Find("nc")));
        Assert.Contains("--anp-threshold", DefenseRegistry.Help(DefenseRegistry.Find("anp")));
        Assert.DoesNotContain("--anp-threshold", DefenseRegistry.Help(DefenseRegistry.Find("nc")));
    }
}
