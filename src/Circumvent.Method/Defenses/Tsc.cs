using Circumvent.Method.Runs;
using System.Text.Json.Nodes;
using Circumvent.Method.Permutations;

namespace Circumvent.Method.Defenses;

/// <summary>
/// Two-stage Symmetry Connectivity (Peng et al., ICML 2025, Algorithm 1). Per round r = 1..E:
/// <code>
/// B  ← PermuteLayers(reference θ, randomly permuted copy of θ, D, UNALIGN)
/// C1 ← FitCurve(θ, B, D);   θ1 ← PointAt(C1, t)
/// θ  ← PermuteLayers(reference θ1, θ, D, ALIGN)
/// C2 ← FitCurve(θ, θ1, D);  θ  ← PointAt(C2, t)
/// if r &lt; E: fine-tune θ on D
/// </code>
/// Resumable units per round: stage1-curve (unalign + fit), stage1-point, stage2-curve (align + fit),
/// stage2-point, finetune.
/// </summary>
public sealed class Tsc(TscOptions options) : IDefense
{
    public TscOptions Options { get; } = options;

    public string Name => "tsc";

    public JsonObject DescribeOptions() => OptionsJson.ToNode(Options);

    public DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null)
    {
        Options.Validate();
        var run = ResumableRun.Start(this, input, observer);
        var steps = new PurificationSteps(input);
        var before = run.EvaluateBefore(input.Parameters);
        var theta = input.Parameters;
        var after = before;

        for (int r = 1; r <= Options.Rounds; r++)
        {
            var round = r;
            var start = theta;
            var unit1 = new DefenseUnit(round, "stage1-curve", UnitKind.Curve);
            var curve1 = run.Curve(unit1, "stage 1", checkpoint =>
            {
                var permuted = steps.RandomlyPermuted(start, UnitSeeds.For(input.Seed, round, UnitSeeds.RandomPermutation));
                var unaligned = steps.PermuteLayers(start, permuted, MatchMode.Unalign, Options.Matching,
                    UnitSeeds.For(input.Seed, round, UnitSeeds.FirstMatching));
                return steps.FitCurve(start, unaligned, Options.Curve, UnitSeeds.For(input.Seed, round, UnitSeeds.FirstCurve), unit1, observer, checkpoint);
            });
            var theta1 = run.Weights(new DefenseUnit(round, "stage1-point", UnitKind.Point), _ =>
                steps.PointAt(curve1, Options.T, Options.Curve, UnitSeeds.For(input.Seed, round, UnitSeeds.FirstPoint)));
            run.Evaluate(round, "stage 1", theta1);

            var unit2 = new DefenseUnit(round, "stage2-curve", UnitKind.Curve);
            var curve2 = run.Curve(unit2, "stage 2", checkpoint =>
            {
                // Stage 2 permutes the CURRENT model θ into θ1's basin, then connects the two.
                var aligned = steps.PermuteLayers(theta1, start, MatchMode.Align, Options.Matching,
                    UnitSeeds.For(input.Seed, round, UnitSeeds.SecondMatching));
                return steps.FitCurve(aligned, theta1, Options.Curve, UnitSeeds.For(input.Seed, round, UnitSeeds.SecondCurve), unit2, observer, checkpoint);
            });
            theta = run.Weights(new DefenseUnit(round, "stage2-point", UnitKind.Point), _ =>
                steps.PointAt(curve2, Options.T, Options.Curve, UnitSeeds.For(input.Seed, round, UnitSeeds.SecondPoint)));
            after = run.Evaluate(round, "stage 2", theta);

            if (round < Options.Rounds && Options.FineTune.Epochs > 0)
            {
                var tuned = theta;
                var unit = new DefenseUnit(round, "finetune", UnitKind.FineTune);
                theta = run.Weights(unit, checkpoint =>
                    steps.FineTune(tuned, Options.FineTune, UnitSeeds.For(input.Seed, round, UnitSeeds.FineTune), unit, observer, checkpoint));
                after = run.Evaluate(round, "fine-tune", theta);
            }
        }
        return run.Finish(theta, before, after);
    }
}

/// <summary>`--defense tsc`: the paper's supervised settings, every curve and fine-tuning knob.</summary>
public sealed class TscPlugin : DefensePlugin
{
    private static readonly TscOptions Defaults = new();
    private static DefenseKnob RoundsKnob(int rounds) => DefenseKnob.Integer("rounds", rounds, "Rounds E.");
    private static DefenseKnob TKnob(double t) => DefenseKnob.Number("t", t, "Curve point taken in both stages.");
    private static readonly DefenseKnob Rounds = RoundsKnob(Defaults.Rounds);
    private static readonly DefenseKnob T = TKnob(Defaults.T);

    public override bool SupportsSelfSupervised => true;
    public override string Name => "tsc";
    public override string Summary => "Two-stage Symmetry Connectivity (Peng et al., ICML 2025), the paper's settings.";

    public override IReadOnlyList<DefenseKnob> Knobs { get; } = KnobsOf(Defaults);

    public override IReadOnlyList<DefenseKnob> KnobsFor(DefenseSettings s) => TrainingKnobs.ForObjective(KnobsOf(OptionsFor(s)), s);

    // The same knobs (fields, options, help) for every objective; only the defaults shown differ.
    private static IReadOnlyList<DefenseKnob> KnobsOf(TscOptions d) =>
    [
        RoundsKnob(d.Rounds), TKnob(d.T),
        TrainingKnobs.CurveEpochs(d.Curve), TrainingKnobs.CurveLr(d.Curve), TrainingKnobs.CurveL2(d.Curve),
        TrainingKnobs.BatchSize(d.Curve.BatchSize, "curves and fine-tuning"), TrainingKnobs.FineTuneEpochs(d.FineTune),
        TrainingKnobs.FineTuneLr(d.FineTune), TrainingKnobs.Augment("Train curves, match and fine-tune"),
    ];

    private static TscOptions OptionsFor(DefenseSettings s) => s.Clip ? TscOptions.Clip : s.SelfSupervised ? TscOptions.SelfSupervised : Defaults;

    public override IDefense Create(DefenseSettings s)
    {
        bool augment = s.IsOn(TrainingKnobs.AugmentField);
        var d = OptionsFor(s);
        var options = d with
        {
            Rounds = s.Integer(Rounds) ?? d.Rounds,
            T = s.Number(T) ?? d.T,
            Curve = TrainingKnobs.Curve(d.Curve, s),
            FineTune = TrainingKnobs.FineTune(d.FineTune, s),
            // Without augmentation of D, matching sees D as stored too.
            Matching = augment ? d.Matching : d.Matching is { } m ? m with { Augment = false } : null,
        };
        options.Validate();
        return new Tsc(options);
    }
}
