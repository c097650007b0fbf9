using Circumvent.Method.Curves;

namespace Circumvent.Method.Defenses.NeuralCleanse;

/// <summary>
/// Neural Cleanse (Wang et al. 2019) settings; the defaults are BackdoorBench's (`nc.py`, `config/defense/nc/cifar10.yaml`).
/// </summary>
public sealed record NeuralCleanseOptions
{
    /// <summary>Epochs of the trigger search per class (BackdoorBench's `nc_epoch`), fewer when it stops early.</summary>
    public int TriggerEpochs { get; init; } = 80;
    public int TriggerBatchSize { get; init; } = 256;
    /// <summary>Adam's rate for the mask and pattern (β = 0.5, 0.9, as the original).</summary>
    public double TriggerLearningRate { get; init; } = 0.1;
    /// <summary>The starting weight of the mask's L1 norm in the search loss.</summary>
    public double InitCost { get; init; } = 1e-3;
    /// <summary>Share of stamped images the model must send to the class for a trigger to count as found.</summary>
    public double AttackSuccessThreshold { get; init; } = 0.98;
    /// <summary>Epochs above (below) the threshold before the cost is multiplied by 2 (divided by 2^1.5).</summary>
    public int Patience { get; init; } = 5;
    /// <summary>Stop a search once the best L1 has not fallen below 0.99 of its earlier best for this many epochs (and the cost moved both ways).</summary>
    public int EarlyStopPatience { get; init; } = 25;
    public bool EarlyStop { get; init; } = true;
    /// <summary>A class is flagged when its L1 is below the median and its anomaly index exceeds this.</summary>
    public double AnomalyThreshold { get; init; } = 2;
    /// <summary>Share of D stamped with each flagged class's trigger (true labels kept) for unlearning.</summary>
    public double UnlearningRatio { get; init; } = 0.2;
    /// <summary>The unlearning fine-tune: BackdoorBench's SGD 0.01, momentum 0.9, wd 5e-4, cosine, 100 epochs (the TSC paper says 40).</summary>
    public FineTuneOptions Unlearning { get; init; } = new() { Epochs = 100, LearningRate = 0.01, SchedulePerEpoch = true };

    public void Validate()
    {
        OptionChecks.Positive(TriggerEpochs, "--nc-epochs");
        OptionChecks.Positive(TriggerBatchSize, "--batch-size");
        OptionChecks.PositiveRate(TriggerLearningRate, "--nc-lr");
        OptionChecks.PositiveRate(InitCost, "--nc-init-cost");
        if (!(AttackSuccessThreshold > 0 && AttackSuccessThreshold <= 1))
            throw new ArgumentException($"--nc-attack-threshold must be in (0, 1], got {AttackSuccessThreshold}.");
        OptionChecks.Positive(Patience, "--nc-patience");
        OptionChecks.Positive(EarlyStopPatience, "--nc-early-stop-patience");
        OptionChecks.PositiveRate(AnomalyThreshold, "--nc-anomaly-threshold");
        if (!(UnlearningRatio > 0 && UnlearningRatio < 1))
            throw new ArgumentException($"--nc-unlearning-ratio must be strictly between 0 and 1, got {UnlearningRatio}.");
        Unlearning.Validate();
    }
}
