using System.Text.Json.Nodes;
using Circumvent.Method.Curves;

namespace Circumvent.Method.Defenses.Sau;

/// <summary>
/// SAU (Wei et al., NeurIPS 2023) settings; the defaults are BackdoorBench's (`sau.py`, `config/defense/sau/cifar10.yaml`;
/// docs/defences-and-robustness.md §4): 5-step L∞ PGD with ε = 0.2 and step 0.2 on the 0–1 pixel scale from δ = +ε,
/// β₁ = 0.01, β₂ = 1; the outer loss λ₁·CE(x) + λ₂·CE(x') + λ₃·L_sar with λ = (1, 0, 1); Adam lr 1e-4 for 100 epochs, no
/// schedule, the model in eval mode.
/// </summary>
/// <remarks>
/// NOTE: sau.py loads D with the test transform (get_transform(…, train=False)), so there is no augmentation by default.
/// It builds a CosineAnnealingLR but never steps it: the rate is constant. Its Adam is torch's with amsgrad
/// (`argparser_opt_scheduler`), and so is ours (before session 19 it was plain Adam); the doc gives SAU no weight decay.
/// </remarks>
public sealed record SauOptions
{
    public FineTuneOptions Unlearning { get; init; } = new()
    {
        Epochs = 100, BatchSize = 256, LearningRate = 1e-4, Optimizer = "amsgrad", Momentum = 0, WeightDecay = 0, Schedule = "none", Augment = false,
    };
    /// <summary>L∞ bound ε of the perturbation, on the 0–1 pixel scale (sau.py's trigger_norm).</summary>
    public double Epsilon { get; init; } = 0.2;
    /// <summary>PGD steps per batch (adv_steps).</summary>
    public int PgdSteps { get; init; } = 5;
    /// <summary>Size of one signed PGD step, pixel scale (adv_lr).</summary>
    public double PgdStepSize { get; init; } = 0.2;
    /// <summary>Weight of L_adv in the search.</summary>
    public double Beta1 { get; init; } = 0.01;
    /// <summary>Weight of L_share (the Jensen–Shannon term) in the search.</summary>
    public double Beta2 { get; init; } = 1;
    /// <summary>Weights of the clean cross-entropy, the adversarial cross-entropy and L_sar in the unlearning loss.</summary>
    public double Lambda1 { get; init; } = 1;
    public double Lambda2 { get; init; }
    public double Lambda3 { get; init; } = 1;

    public void Validate()
    {
        Unlearning.Validate();
        OptionChecks.PositiveRate(Epsilon, "--sau-eps");
        OptionChecks.Positive(PgdSteps, "--sau-pgd-steps");
        OptionChecks.PositiveRate(PgdStepSize, "--sau-pgd-step");
        OptionChecks.NonNegative(Beta1, "--sau-beta1");
        OptionChecks.NonNegative(Beta2, "--sau-beta2");
        OptionChecks.NonNegative(Lambda1, "--sau-lambda1");
        OptionChecks.NonNegative(Lambda2, "--sau-lambda2");
        OptionChecks.NonNegative(Lambda3, "--sau-lambda3");
    }
}

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
        return FineTuneDefense.RunOneUnit(this, input, observer, Options.Unlearning, "unlearn-shared", "shared adversarial unlearning",
            () => new SauObjective(input.Parameters.Clone(), input.Normalization, Options));
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
