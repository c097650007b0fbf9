using Circumvent.Method.Curves;

namespace Circumvent.Method.Defenses.IBau;

/// <summary>
/// I-BAU (Zeng et al. 2022, implicit backdoor adversarial unlearning) settings; the defaults are BackdoorBench's
/// (`i-bau.py`, `config/defense/i-bau/cifar10.yaml`): the model in eval mode throughout, Adam 1e-4 (the paper says 1e-3),
/// 5 rounds, K = 5 fixed-point iterations of an inner gradient step of 0.1, the universal perturbation fitted by SGD at
/// rate 10, and ⌊0.01·B⌋ images per batch carrying it in the outer loss.
/// </summary>
public sealed record IBauOptions
{
    /// <summary>Rounds: each fits a new universal perturbation, then takes one outer step per batch.</summary>
    public int Rounds { get; init; } = 5;
    /// <summary>K, the fixed-point iterations of the implicit hypergradient.</summary>
    public int FixedPointSteps { get; init; } = 5;
    /// <summary>The inner map δ ← δ − step·∇δ L_inner whose fixed point the hypergradient differentiates.</summary>
    public double InnerStep { get; init; } = 0.1;
    /// <summary>
    /// Weight of ‖δ‖² in the inner loss mean(−CE(f(x₀ + δ), y₀)) + c‖δ‖²: 0.001 in BackdoorBench's `loss_inner`, as in the
    /// perturbation's loss (sessions before 19 used 1e-4 here by mistake).
    /// </summary>
    public double InnerL2 { get; init; } = 1e-3;
    /// <summary>Adam's rate for the model (the outer step).</summary>
    public double LearningRate { get; init; } = 1e-4;
    /// <summary>
    /// The outer optimiser (a <see cref="Circumvent.Training.TrainingConfig.Optimizers"/> name, no momentum or weight decay):
    /// BackdoorBench's `argparser_opt_scheduler` builds torch's Adam with amsgrad for I-BAU's `adam` ("amsgrad"; before
    /// session 19 we ran plain Adam, "adam").
    /// </summary>
    public string Optimizer { get; init; } = "amsgrad";
    /// <summary>SGD rate of the universal perturbation, fitted over one pass of the batches each round.</summary>
    public double PerturbationLearningRate { get; init; } = 10;
    /// <summary>Weight of ‖δ‖² in the perturbation's loss −CE(f(x + δ), f(x)'s prediction) + c‖δ‖².</summary>
    public double PerturbationL2 { get; init; } = 1e-3;
    /// <summary>Share of each outer batch (rounded down) that carries δ.</summary>
    public double Portion { get; init; } = 0.01;
    public int BatchSize { get; init; } = 256;
    /// <summary>Augment D (the dataset's augmentation) when the batches are drawn, once, before the first round.</summary>
    public bool Augment { get; init; } = true;

    public void Validate()
    {
        OptionChecks.Positive(Rounds, "--ibau-rounds");
        OptionChecks.Positive(FixedPointSteps, "--ibau-k");
        OptionChecks.PositiveRate(InnerStep, "--ibau-inner-step");
        OptionChecks.NonNegative(InnerL2, "--ibau-inner-l2");
        OptionChecks.PositiveRate(LearningRate, "--ibau-lr");
        OptionChecks.OptimizerName(Optimizer, "I-BAU's optimiser");
        OptionChecks.PositiveRate(PerturbationLearningRate, "--ibau-perturbation-lr");
        OptionChecks.NonNegative(PerturbationL2, "--ibau-perturbation-l2");
        if (!(Portion >= 0 && Portion <= 1)) throw new ArgumentException($"--ibau-portion must be in [0, 1], got {Portion}.");
        OptionChecks.Positive(BatchSize, "--batch-size");
    }
}
