using System.Text.Json.Nodes;
using Circumvent.Method.Curves;
using Circumvent.Method.Defenses;

namespace Circumvent.Tests.Method;

/// <summary>
/// The defence registry: every defence is built from one list, its knobs are checked the same way for every
/// caller, and the defences that existed before it are built exactly as the old closed switch built them
/// (their options JSON is a run folder's identity, so a folder made before still resumes).
/// </summary>
public class DefenseRegistryTests
{
    [Fact]
    public void EveryDefenceHasAUniqueNameASummaryAndConsistentKnobs()
    {
        Assert.Equal(["tsc", "mcr", "ft", "none", "fp"], DefenseRegistry.Names.Take(5));
        Assert.Equal(DefenseRegistry.Names.Count, DefenseRegistry.Names.Distinct().Count());
        foreach (var plugin in DefenseRegistry.All)
        {
            Assert.False(string.IsNullOrWhiteSpace(plugin.Summary), plugin.Name);
            Assert.DoesNotContain('\n', plugin.Summary);
            Assert.Equal(plugin.Knobs.Count, plugin.Knobs.Select(k => k.Field).Distinct().Count());
            // Built with no settings: the defaults, and a defence whose name is the registry's.
            Assert.Equal(plugin.Name, DefenseRegistry.Create(plugin.Name, new DefenseSettings()).Name);
        }
        // Every knob once, whichever defences share it.
        Assert.Equal(DefenseRegistry.AllKnobs.Count, DefenseRegistry.AllKnobs.Select(k => k.Option).Distinct().Count());
    }

    /// <summary>The options JSON the old DefenseFactory produced with no knobs: the run-folder identity of every existing run.</summary>
    [Fact]
    public void DefaultsDescribeThemselvesAsBeforeTheRegistry()
    {
        Assert.Equal(OptionsJson.ToNode(new TscOptions()).ToJsonString(), Describe("tsc", []));
        Assert.Equal(OptionsJson.ToNode(new McrOptions()).ToJsonString(), Describe("mcr", []));
        Assert.Equal(new JsonObject { ["fine_tune"] = OptionsJson.ToNode(new FineTuneOptions { Epochs = 100, LearningRate = 0.01, SchedulePerEpoch = true }) }.ToJsonString(),
            Describe("ft", []));
        Assert.Equal("{}", Describe("none", []));
        // The paper's numbers, spelled out once so a changed default cannot pass unnoticed.
        Assert.Contains("\"rounds\":3,\"t\":0.4,\"curve\":{\"epochs\":200,\"batch_size\":256,\"learning_rate\":0.02", Describe("tsc", []));
    }

    /// <summary>Each knob lands where the old factory put it, including --no-augment turning off matching's augmentation too.</summary>
    [Fact]
    public void KnobsChangeTheOptionsTheOldFactoryChanged()
    {
        var settings = new DefenseSettings
        {
            ["rounds"] = 2, ["t"] = 0.3, ["curve_epochs"] = 5, ["curve_lr"] = 0.05, ["batch_size"] = 32,
            ["finetune_epochs"] = 0, ["finetune_lr"] = 0.002, ["augment"] = false,
        };
        var tsc = (Tsc)DefenseRegistry.Create("tsc", settings);
        var d = new TscOptions();
        var expected = d with
        {
            Rounds = 2, T = 0.3,
            Curve = d.Curve with { Epochs = 5, LearningRate = 0.05, BatchSize = 32, Augment = false },
            FineTune = d.FineTune with { Epochs = 0, LearningRate = 0.002, BatchSize = 32, Augment = false },
            Matching = d.Matching! with { Augment = false },
        };
        Assert.Equal(OptionsJson.ToNode(expected).ToJsonString(), tsc.DescribeOptions().ToJsonString());

        var ft = (FineTuneDefense)DefenseRegistry.Create("ft", new DefenseSettings { ["finetune_epochs"] = 3, ["batch_size"] = 16 });
        Assert.Equal(FineTuneDefense.Defaults with { Epochs = 3, BatchSize = 16 }, ft.Settings);
        // An integer for a real-valued knob is fine (plans write "t": 1 as a whole number).
        Assert.Equal(0.4, ((Mcr)DefenseRegistry.Create("mcr", new DefenseSettings { ["finetune_lr"] = 1 })).Options.T);
    }

    [Fact]
    public void AKnobOfNoDefenceOrOfTheWrongKindIsNamed()
    {
        var unknown = Assert.Throws<ArgumentException>(() => DefenseRegistry.Create("ft", new DefenseSettings { ["roundz"] = 2 }));
        Assert.StartsWith("'roundz' is not a setting of any defence; --defense ft has --batch-size", unknown.Message);
        var kind = Assert.Throws<ArgumentException>(() => DefenseRegistry.Create("tsc", new DefenseSettings { ["rounds"] = 2.5 }));
        Assert.StartsWith("--rounds expects a whole number, got 2.5", kind.Message);
        var fpKnob = Assert.Throws<ArgumentException>(() => DefenseRegistry.Create("tsc", new DefenseSettings { ["prune_step"] = 0.05 }));
        Assert.StartsWith("--prune-step does not apply to --defense tsc (it uses --rounds, --t,", fpKnob.Message);
        var name = Assert.Throws<ArgumentException>(() => DefenseRegistry.Find("magic"));
        Assert.StartsWith("--defense must be one of tsc, mcr, ft, none, fp", name.Message);
        Assert.EndsWith("got 'magic'.", name.Message);
    }

    [Fact]
    public void HelpListsADefencesKnobsWithTheirDefaults()
    {
        string help = DefenseRegistry.Help(DefenseRegistry.Find("fp"));
        Assert.Contains("--prune-step NUMBER", help);
        Assert.Contains("[0.01]", help);
        Assert.Contains("--finetune-epochs INT", help);
        Assert.DoesNotContain("--rounds", help);
        Assert.Contains("It has no settings.", DefenseRegistry.Help(DefenseRegistry.Find("none")));
        // A shared option names each defence's default.
        var finetuneEpochs = DefenseRegistry.AllKnobs.Single(k => k.Option == "--finetune-epochs");
        Assert.Contains("tsc 10, mcr 100, ft 100, fp 100", DefenseRegistry.Describe(finetuneEpochs));
    }

    private static string Describe(string name, DefenseSettings settings) => DefenseRegistry.Create(name, settings).DescribeOptions().ToJsonString();
}
