using Circumvent.Method.Curves;

namespace Circumvent.Method.Defenses.Anp;

/// <summary>
/// Adversarial Neuron Pruning (Wu and Wang 2021) settings; the defaults are BackdoorBench's (`anp.py`,
/// `config/defense/anp/cifar10.yaml`), which differ from the paper's in the mask learning rate (0.01, not 0.2) and
/// in choosing the pruning threshold instead of fixing it at 0.2.
/// </summary>
public sealed record AnpOptions
{
    /// <summary>ε: the bound of the multiplicative neuron noise δ (on γ) and ξ (on β).</summary>
    public double Epsilon { get; init; } = 0.4;
    /// <summary>Signed-gradient ascent steps on the noise per batch, each of size ε / steps.</summary>
    public int NoiseSteps { get; init; } = 1;
    /// <summary>α: the weight of the clean loss; 1 − α weighs the loss under noise.</summary>
    public double Alpha { get; init; } = 0.2;
    /// <summary>Mask optimisation steps (batches).</summary>
    public int Iterations { get; init; } = 2000;
    public int BatchSize { get; init; } = 256;
    /// <summary>SGD rate of the masks (momentum 0.9).</summary>
    public double MaskLearningRate { get; init; } = 0.01;
    /// <summary>Augment D while optimising the masks (the dataset's augmentation).</summary>
    public bool Augment { get; init; } = true;
    /// <summary>Prune every neuron whose mask is at most this; null = choose it on D from the grid 0, step, …, max.</summary>
    public double? PruneThreshold { get; init; }
    public double ThresholdStep { get; init; } = 0.05;
    public double MaxThreshold { get; init; } = 0.90;
    /// <summary>The largest relative drop of accuracy on D a chosen threshold may cost (BackdoorBench's acc_ratio).</summary>
    public double AccuracyDrop { get; init; } = 0.1;

    public void Validate()
    {
        if (!(Epsilon >= 0) || double.IsInfinity(Epsilon)) throw new ArgumentException($"--anp-eps must be a finite value ≥ 0, got {Epsilon}.");
        OptionChecks.Positive(NoiseSteps, "--anp-steps");
        if (!(Alpha >= 0 && Alpha <= 1)) throw new ArgumentException($"--anp-alpha must be in [0, 1], got {Alpha}.");
        OptionChecks.Positive(Iterations, "--anp-iterations");
        OptionChecks.Positive(BatchSize, "--batch-size");
        OptionChecks.PositiveRate(MaskLearningRate, "--anp-lr");
        if (PruneThreshold is { } t && !(t >= 0 && t <= 1)) throw new ArgumentException($"--anp-threshold must be in [0, 1], got {t}.");
        OptionChecks.PositiveRate(ThresholdStep, "--anp-threshold-step");
        if (!(MaxThreshold >= 0 && MaxThreshold <= 1)) throw new ArgumentException($"--anp-max-threshold must be in [0, 1], got {MaxThreshold}.");
        if (!(AccuracyDrop > 0 && AccuracyDrop <= 1)) throw new ArgumentException($"--anp-acc-drop must be in (0, 1], got {AccuracyDrop}.");
    }

    /// <summary>The thresholds tried when none is fixed: 0, step, 2·step, … up to the maximum (inclusive, up to rounding).</summary>
    public IReadOnlyList<double> Thresholds() =>
        [.. Enumerable.Range(0, (int)Math.Floor(MaxThreshold / ThresholdStep + 1e-9) + 1).Select(k => Math.Round(k * ThresholdStep, 10))];
}
