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
/// It builds a CosineAnnealingLR but never steps it: the rate is constant. Its Adam is torch's with amsgrad; ours is plain
/// Adam, and the doc gives SAU no weight decay, so there is none.
/// </remarks>
public sealed record SauOptions
{
    public FineTuneOptions Unlearning { get; init; } = new()
    {
        Epochs = 100, BatchSize = 256, LearningRate = 1e-4, Optimizer = "adam", Momentum = 0, WeightDecay = 0, Schedule = "none", Augment = false,
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
