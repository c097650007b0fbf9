using Circumvent.Method.Runs;
using System.Text.Json.Nodes;

namespace Circumvent.Method.Defenses;

/// <summary>
/// Mode Connectivity Repair (Zhao et al. 2020) as the TSC paper runs it: fine-tune a copy of θ on D,
/// train one curve θ → copy without the L2 term, return the point at t.
/// Units: finetune, curve, point (all in "round 1").
/// </summary>
public sealed class Mcr(McrOptions options) : IDefense
{
    public McrOptions Options { get; } = options;

    public string Name => "mcr";

    public JsonObject DescribeOptions() => OptionsJson.ToNode(Options);

    public DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null)
    {
        Options.Validate();
        var run = ResumableRun.Start(this, input, observer);
        var steps = new PurificationSteps(input);
        var before = run.EvaluateBefore(input.Parameters);
        var theta = input.Parameters;

        var tuneUnit = new DefenseUnit(1, "finetune", UnitKind.FineTune);
        var tuned = run.Weights(tuneUnit, checkpoint =>
            steps.FineTune(theta, Options.FineTune, UnitSeeds.For(input.Seed, 1, UnitSeeds.FineTune), tuneUnit, observer, checkpoint));
        run.Evaluate(1, "fine-tuned endpoint", tuned);

        var curveUnit = new DefenseUnit(1, "curve", UnitKind.Curve);
        var curve = run.Curve(curveUnit, "curve", checkpoint =>
            steps.FitCurve(theta, tuned, Options.Curve, UnitSeeds.For(input.Seed, 1, UnitSeeds.FirstCurve), curveUnit, observer, checkpoint));
        var point = run.Weights(new DefenseUnit(1, "point", UnitKind.Point), _ =>
            steps.PointAt(curve, Options.T, Options.Curve, UnitSeeds.For(input.Seed, 1, UnitSeeds.SecondPoint)));
        var after = run.Evaluate(1, "curve point", point);
        return run.Finish(point, before, after);
    }
}

/// <summary>`--defense mcr`: as the TSC paper runs it (100-epoch fine-tuned endpoint, one curve, t 0.4).</summary>
public sealed class McrPlugin : DefensePlugin
{
    private static readonly McrOptions Defaults = new();
    private static DefenseKnob TKnob(double t) => DefenseKnob.Number("t", t, "Curve point taken.");
    private static readonly DefenseKnob T = TKnob(Defaults.T);

    public override bool SupportsSelfSupervised => true;
    public override string Name => "mcr";
    public override string Summary => "Mode Connectivity Repair (Zhao et al. 2020): a curve from the model to its fine-tuned copy, as the TSC paper runs it.";

    public override IReadOnlyList<DefenseKnob> Knobs { get; } = KnobsOf(Defaults);

    public override IReadOnlyList<DefenseKnob> KnobsFor(DefenseSettings s) => TrainingKnobs.ForObjective(KnobsOf(OptionsFor(s)), s);

    private static IReadOnlyList<DefenseKnob> KnobsOf(McrOptions d) =>
    [
        TKnob(d.T), TrainingKnobs.CurveEpochs(d.Curve), TrainingKnobs.CurveLr(d.Curve),
        TrainingKnobs.BatchSize(d.Curve.BatchSize, "the curve and fine-tuning"), TrainingKnobs.FineTuneEpochs(d.FineTune),
        TrainingKnobs.FineTuneLr(d.FineTune), TrainingKnobs.Augment("Train the curve and fine-tune"),
    ];

    private static McrOptions OptionsFor(DefenseSettings s) => s.Clip ? McrOptions.Clip : s.SelfSupervised ? McrOptions.SelfSupervised : Defaults;

    public override IDefense Create(DefenseSettings s)
    {
        var d = OptionsFor(s);
        var options = d with
        {
            T = s.Number(T) ?? d.T,
            Curve = TrainingKnobs.Curve(d.Curve, s),
            FineTune = TrainingKnobs.FineTune(d.FineTune, s),
        };
        options.Validate();
        return new Mcr(options);
    }
}
