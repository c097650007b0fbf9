using Circumvent.Method.Runs;
using System.Text.Json.Nodes;
using Circumvent.Method.Curves;
using Circumvent.Training;

namespace Circumvent.Method.Defenses;

/// <summary>The FT baseline: plain SGD fine-tuning of θ on D (default lr 0.01 for 100 epochs, cosine stepped per epoch — MCR's endpoint).</summary>
public sealed class FineTuneDefense(FineTuneOptions settings) : IDefense
{
    public static FineTuneOptions Defaults { get; } = new() { Epochs = 100, LearningRate = 0.01, SchedulePerEpoch = true };

    public FineTuneOptions Settings { get; } = settings;

    public string Name => "ft";

    public JsonObject DescribeOptions() => new() { ["fine_tune"] = OptionsJson.ToNode(Settings) };

    public DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null)
    {
        Settings.Validate();
        return RunOneUnit(this, input, observer, Settings, "finetune", "fine-tune");
    }

    /// <summary>
    /// FT's run, which the defences that only change its loss (FT-SAM, PAM, SAU) share: a resumable run scores θ, fine-tunes
    /// it in one unit "round1.<paramref name="unitName"/>" under <paramref name="objective"/> (made after θ is scored; null:
    /// the input's own), scores the result as stage <paramref name="stage"/> and finishes. The caller validates its options first.
    /// </summary>
    internal static DefenseResult RunOneUnit(IDefense defense, DefenseInput input, IDefenseObserver? observer, FineTuneOptions settings,
        string unitName, string stage, Func<ITrainingObjective>? objective = null)
    {
        var run = ResumableRun.Start(defense, input, observer);
        var before = run.EvaluateBefore(input.Parameters);
        var steps = new PurificationSteps(objective is null ? input : input with { Objective = objective() });
        var unit = new DefenseUnit(1, unitName, UnitKind.FineTune);
        var tuned = run.Weights(unit, checkpoint =>
            steps.FineTune(input.Parameters, settings, UnitSeeds.For(input.Seed, 1, UnitSeeds.FineTune), unit, observer, checkpoint));
        var after = run.Evaluate(1, stage, tuned);
        return run.Finish(tuned, before, after);
    }
}

/// <summary>`--defense ft`: SGD fine-tuning on D.</summary>
public sealed class FineTunePlugin : DefensePlugin
{
    public override bool SupportsSelfSupervised => true;
    public override string Name => "ft";
    public override string Summary => "Fine-tuning (FT): SGD on the clean set, lr 0.01 with a cosine over 100 epochs.";

    public override IReadOnlyList<DefenseKnob> Knobs { get; } = KnobsOf(FineTuneDefense.Defaults);

    public override IReadOnlyList<DefenseKnob> KnobsFor(DefenseSettings s) => TrainingKnobs.ForObjective(KnobsOf(OptionsFor(s)), s);

    private static IReadOnlyList<DefenseKnob> KnobsOf(FineTuneOptions d) =>
    [
        TrainingKnobs.BatchSize(d.BatchSize, "fine-tuning"), TrainingKnobs.FineTuneEpochs(d), TrainingKnobs.FineTuneLr(d), TrainingKnobs.Augment("Fine-tune"),
    ];

    // An encoder fine-tunes under NT-Xent as MCR's self-supervised endpoint does.
    private static FineTuneOptions OptionsFor(DefenseSettings s) =>
        s.Clip ? McrOptions.Clip.FineTune : s.SelfSupervised ? McrOptions.SelfSupervised.FineTune : FineTuneDefense.Defaults;

    public override IDefense Create(DefenseSettings s)
    {
        var settings = TrainingKnobs.FineTune(OptionsFor(s), s);
        settings.Validate(allowZeroEpochs: false);
        return new FineTuneDefense(settings);
    }
}
