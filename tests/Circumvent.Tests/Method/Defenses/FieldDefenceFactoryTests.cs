using Circumvent.Method.Defenses;
using Circumvent.Method.Defenses.Anp;
using Circumvent.Method.Defenses.FtSam;
using Circumvent.Method.Defenses.NeuralCleanse;

namespace Circumvent.Tests.Method.Defenses;

/// <summary>`purify --defense nc|anp|ft-sam` builds the defence at its defaults, with the shared knobs it has and no others.</summary>
public class FieldDefenceFactoryTests
{
    [Fact]
    public void EachBuildsAtItsDefaultsWithTheSharedKnobsItHas()
    {
        var nc = Assert.IsType<NeuralCleanseDefense>(DefenseFactory.Create("nc", new DefenseKnobs(BatchSize: 64, FineTuneEpochs: 40)));
        Assert.Equal(new NeuralCleanseOptions() with { TriggerBatchSize = 64, Unlearning = new NeuralCleanseOptions().Unlearning with { BatchSize = 64, Epochs = 40 } }, nc.Options);
        var anp = Assert.IsType<AnpDefense>(DefenseFactory.Create("anp", new DefenseKnobs(Augment: false)));
        Assert.Equal(new AnpOptions { Augment = false }, anp.Options);
        var sam = Assert.IsType<FtSamDefense>(DefenseFactory.Create("ft-sam", new DefenseKnobs(FineTuneLr: 0.02)));
        Assert.Equal(0.02, sam.Options.FineTune.LearningRate);
        Assert.Equal(2.0, sam.Options.Rho);
        Assert.Equal(["nc", "anp", "ft-sam"], new[] { nc.Name, anp.Name, sam.Name });
    }

    [Fact]
    public void KnobsTheyDoNotHaveAndEncodersAreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => DefenseFactory.Create("anp", new DefenseKnobs(FineTuneEpochs: 3)));
        Assert.Equal("--finetune-epochs does not apply to --defense anp (it uses --batch-size, --no-augment).", e.Message);
        e = Assert.Throws<ArgumentException>(() => DefenseFactory.Create("nc", new DefenseKnobs(Rounds: 2)));
        Assert.StartsWith("--rounds does not apply to --defense nc", e.Message);
        e = Assert.Throws<ArgumentException>(() => DefenseFactory.Create("ft-sam", new DefenseKnobs(), selfSupervised: true));
        Assert.Contains("classifiers", e.Message);
    }
}
