using System.Text.Json.Nodes;
using Circumvent.Method.Runs;

namespace Circumvent.Method.Defenses.Sau;

/// <summary>
/// Shared Adversarial Unlearning (Wei et al., NeurIPS 2023) as BackdoorBench runs it: fine-tune θ on D, in eval mode,
/// against the shared adversarial examples of θ and a frozen copy of the backdoored input (<see cref="SauObjective"/>).
/// One unit, "round1.unlearn-shared", resumable like any fine-tuning.
/// </summary>
public sealed class SauDefense(SauOptions options) : IDefense
{
    public SauOptions Options { get; } = options;

    public string Name => "sau";

    public JsonObject DescribeOptions() => OptionsJson.ToNode(Options);

    public DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null)
    {
        Options.Validate();
        var run = ResumableRun.Start(this, input, observer);
        var before = run.EvaluateBefore(input.Parameters);
        var objective = new SauObjective(input.Parameters.Clone(), input.Normalization, Options);
        var steps = new PurificationSteps(input with { Objective = objective });
        var unit = new DefenseUnit(1, "unlearn-shared", UnitKind.FineTune);
        var tuned = run.Weights(unit, checkpoint =>
            steps.FineTune(input.Parameters, Options.Unlearning, UnitSeeds.For(input.Seed, 1, UnitSeeds.FineTune), unit, observer, checkpoint));
        var after = run.Evaluate(1, "shared adversarial unlearning", tuned);
        return run.Finish(tuned, before, after);
    }
}

/// <summary>`--defense sau`: Shared Adversarial Unlearning with BackdoorBench's defaults.</summary>
public sealed class SauPlugin : DefensePlugin
{
    private static readonly SauOptions D = new();
    private static readonly DefenseKnob Epsilon = DefenseKnob.Number("sau_eps", D.Epsilon, "L∞ bound of the shared adversarial perturbation, 0–1 pixel scale.");
    private static readonly DefenseKnob Steps = DefenseKnob.Integer("sau_pgd_steps", D.PgdSteps, "PGD steps per batch.");
    private static readonly DefenseKnob StepSize = DefenseKnob.Number("sau_pgd_step", D.PgdStepSize, "Size of one signed PGD step, 0–1 pixel scale.");
    private static readonly DefenseKnob Beta1 = DefenseKnob.Number("sau_beta1", D.Beta1, "Weight of the adversarial loss in the search.");
    private static readonly DefenseKnob Beta2 = DefenseKnob.Number("sau_beta2", D.Beta2, "Weight of the shared (Jensen–Shannon) loss in the search.");
    private static readonly DefenseKnob Lambda1 = DefenseKnob.Number("sau_lambda1", D.Lambda1, "Weight of the clean cross-entropy in the unlearning loss.");
    private static readonly DefenseKnob Lambda2 = DefenseKnob.Number("sau_lambda2", D.Lambda2, "Weight of the cross-entropy on the adversarial examples.");
    private static readonly DefenseKnob Lambda3 = DefenseKnob.Number("sau_lambda3", D.Lambda3, "Weight of the shared adversarial risk L_sar.");

    public override string Name => "sau";
    public override string Summary => "Shared Adversarial Unlearning (SAU): unlearn PGD examples shared with the frozen backdoored model, Adam 1e-4, 100 epochs (BackdoorBench's defaults).";

    public override IReadOnlyList<DefenseKnob> Knobs { get; } =
    [
        Epsilon, Steps, StepSize, Beta1, Beta2, Lambda1, Lambda2, Lambda3,
        TrainingKnobs.BatchSize(D.Unlearning.BatchSize, "unlearning"), TrainingKnobs.FineTuneEpochs(D.Unlearning), TrainingKnobs.FineTuneLr(D.Unlearning),
    ];

    public override IDefense Create(DefenseSettings s)
    {
        var options = D with
        {
            Unlearning = D.Unlearning with
            {
                Epochs = s.Integer(TrainingKnobs.FineTuneEpochsField) ?? D.Unlearning.Epochs,
                LearningRate = s.Number(TrainingKnobs.FineTuneLrField) ?? D.Unlearning.LearningRate,
                BatchSize = s.Integer(TrainingKnobs.BatchSizeField) ?? D.Unlearning.BatchSize,
            },
            Epsilon = s.Number(Epsilon) ?? D.Epsilon,
            PgdSteps = s.Integer(Steps) ?? D.PgdSteps,
            PgdStepSize = s.Number(StepSize) ?? D.PgdStepSize,
            Beta1 = s.Number(Beta1) ?? D.Beta1,
            Beta2 = s.Number(Beta2) ?? D.Beta2,
            Lambda1 = s.Number(Lambda1) ?? D.Lambda1,
            Lambda2 = s.Number(Lambda2) ?? D.Lambda2,
            Lambda3 = s.Number(Lambda3) ?? D.Lambda3,
        };
        options.Validate();
        return new SauDefense(options);
    }
}
