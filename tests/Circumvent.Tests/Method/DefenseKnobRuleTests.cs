using Circumvent.Method.Defenses;
using Circumvent.Tests.Cli;

namespace Circumvent.Tests.Method;

/// <summary>
/// One rule for every defence: a knob it does not use is refused, not silently dropped
/// (`--defense none --curve-epochs 5` used to be accepted while ft and mcr refused theirs; issue #20).
/// </summary>
public class DefenseKnobRuleTests
{
    /// <summary>Each knob set alone, by its `purify` option.</summary>
    public static TheoryData<string, DefenseSettings> EveryKnob => new()
    {
        { "--rounds", new DefenseSettings { ["rounds"] = 2 } },
        { "--t", new DefenseSettings { ["t"] = 0.3 } },
        { "--curve-epochs", new DefenseSettings { ["curve_epochs"] = 5 } },
        { "--curve-lr", new DefenseSettings { ["curve_lr"] = 0.01 } },
        { "--batch-size", new DefenseSettings { ["batch_size"] = 32 } },
        { "--finetune-epochs", new DefenseSettings { ["finetune_epochs"] = 3 } },
        { "--finetune-lr", new DefenseSettings { ["finetune_lr"] = 0.001 } },
        { "--no-augment", new DefenseSettings { ["augment"] = false } },
    };

    [Theory]
    [MemberData(nameof(EveryKnob))]
    public void NoneRefusesEveryKnob(string option, DefenseSettings knobs)
    {
        var e = Assert.Throws<ArgumentException>(() => DefenseRegistry.Create("none", knobs));
        Assert.Equal($"{option} does not apply to --defense none (it has no settings).", e.Message);
    }

    [Theory]
    [MemberData(nameof(EveryKnob))]
    public void TscUsesEveryKnob(string option, DefenseSettings knobs)
    {
        Assert.StartsWith("--", option);
        Assert.Equal("tsc", DefenseRegistry.Create("tsc", knobs).Name);
    }

    [Theory]
    [InlineData("mcr", "--rounds")]
    [InlineData("ft", "--rounds")]
    [InlineData("ft", "--t")]
    [InlineData("ft", "--curve-epochs")]
    [InlineData("ft", "--curve-lr")]
    public void McrAndFtRefuseTheKnobsTheyDoNotUse(string defense, string option)
    {
        var knobs = EveryKnob.Single(row => (string)row[0] == option)[1];
        var e = Assert.Throws<ArgumentException>(() => DefenseRegistry.Create(defense, (DefenseSettings)knobs));
        Assert.StartsWith($"{option} does not apply to --defense {defense} (it uses ", e.Message);
    }

    [Theory]
    [InlineData("ft", "--batch-size")]
    [InlineData("ft", "--no-augment")]
    [InlineData("mcr", "--t")]
    public void TheKnobsADefenceUsesAreAccepted(string defense, string option)
    {
        var knobs = EveryKnob.Single(row => (string)row[0] == option)[1];
        Assert.NotNull(DefenseRegistry.Create(defense, (DefenseSettings)knobs));
    }

    [Theory]
    [InlineData("--curve-epochs", "5")]
    [InlineData("--no-augment", null)]
    public void PurifyRefusesAKnobOfNoDefenseInOneLine(string option, string? value)
    {
        var dir = CliHarness.TempFolder();
        string[] knob = value is null ? [option] : [option, value];
        var run = CliHarness.Run(["purify", "--model", Path.Combine(dir, "m.safetensors"), "--data", "mnist:" + dir,
            "--out", Path.Combine(dir, "p.safetensors"), "--defense", "none", .. knob]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"{option} does not apply to --defense none", Assert.Single(run.StderrLines));
    }
}
