using System.Text.Json.Nodes;
using Circumvent.Method.Curves;
using Circumvent.Training;

namespace Circumvent.Method.Defenses.FtSam;

/// <summary>
/// FT-SAM (Zhu et al. 2023) settings; the defaults are BackdoorBench's (`ft-sam.py`): adaptive SAM (ASAM) with ρ = 2.0
/// (the paper's text says 0.2), label-smoothed cross-entropy 0.1 (its `smooth_crossentropy`), SGD 0.01 with momentum 0.9
/// and weight decay 5e-4 for 100 epochs, and its schedule: CosineAnnealingLR(T_max = 100) stepped after every batch, so
/// with ten batches an epoch the rate falls and climbs back about five times and the last epochs run near 0.01.
/// </summary>
/// <remarks>
/// Before session 19 the cosine was annealed once over the epochs and the smoothing was PyTorch's (0.1 spread over all C
/// classes, the true one included); both now follow BackdoorBench.
/// </remarks>
public sealed record FtSamOptions
{
    public FineTuneOptions FineTune { get; init; } = new() { Epochs = 100, LearningRate = 0.01, CosineHalfPeriodSteps = 100 };
    /// <summary>ρ, the radius of SAM's ascent step.</summary>
    public double Rho { get; init; } = 2.0;
    /// <summary>ASAM: scale the ascent step by the weights (e = ρ·w²·g/‖|w|·g‖) rather than plain SAM's ρ·g/‖g‖.</summary>
    public bool Adaptive { get; init; } = true;
    /// <summary>s: the target is 1 − s on the true class and s/(C − 1) on each other one (BackdoorBench's smooth_crossentropy).</summary>
    public double LabelSmoothing { get; init; } = 0.1;

    /// <summary>
    /// The same targets as PyTorch's label_smoothing ε (1 − ε + ε/C true, ε/C other): ε = s·C/(C − 1).
    /// Throws when s is (C − 1)/C or more, where the true class would get no more than the others.
    /// </summary>
    public double TorchLabelSmoothing(int classes)
    {
        if (classes < 2) throw new ArgumentException($"label smoothing needs at least 2 classes, got {classes}.");
        double epsilon = LabelSmoothing * classes / (classes - 1);
        if (epsilon >= 1) throw new ArgumentException($"--label-smoothing must be below {(classes - 1) / (double)classes:g4} for {classes} classes, got {LabelSmoothing}.");
        return epsilon;
    }

    public void Validate()
    {
        FineTune.Validate();
        OptionChecks.PositiveRate(Rho, "--sam-rho");
        if (!(LabelSmoothing >= 0 && LabelSmoothing < 1)) throw new ArgumentException($"--label-smoothing must be in [0, 1), got {LabelSmoothing}.");
    }
}

/// <summary>
/// FT-SAM: fine-tune θ on D with sharpness-aware minimisation (<see cref="SharpnessAwareObjective"/>) around
/// label-smoothed cross-entropy, through the same fine-tuning as FT. One unit, "round1.finetune-sam".
/// </summary>
public sealed class FtSamDefense(FtSamOptions options) : IDefense
{
    public FtSamOptions Options { get; } = options;

    public string Name => "ft-sam";

    public JsonObject DescribeOptions() => OptionsJson.ToNode(Options);

    public DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null)
    {
        Options.Validate();
        return FineTuneDefense.RunOneUnit(this, input, observer, Options.FineTune, "finetune-sam", "fine-tune (SAM)",
            () => new SharpnessAwareObjective(new SupervisedObjective(Options.TorchLabelSmoothing(input.Clean.NumClasses)), Options.Rho, Options.Adaptive));
    }
}

/// <summary>`--defense ft-sam`: fine-tuning with (adaptive) sharpness-aware minimisation, BackdoorBench's defaults.</summary>
public sealed class FtSamPlugin : DefensePlugin
{
    private static readonly FtSamOptions D = new();
    private static readonly DefenseKnob Rho = DefenseKnob.Number("sam_rho", D.Rho, "Radius ρ of SAM's ascent step (the FT-SAM paper's text: 0.2).");
    private static readonly DefenseKnob Adaptive = DefenseKnob.Switch("sam_adaptive", "Plain SAM (ρ·g/‖g‖) instead of adaptive ASAM (ρ·w²·g/‖|w|·g‖).");
    private static readonly DefenseKnob Smoothing = DefenseKnob.Number("label_smoothing", D.LabelSmoothing, "Label smoothing s of the cross-entropy: 1 − s on the true class, s/(C − 1) on each other (BackdoorBench's).");

    public override string Name => "ft-sam";
    public override string Summary => "FT-SAM: fine-tuning on D with adaptive sharpness-aware minimisation, ρ 2, lr 0.01, 100 epochs (BackdoorBench's defaults).";

    public override IReadOnlyList<DefenseKnob> Knobs { get; } =
    [
        Rho, Adaptive, Smoothing, TrainingKnobs.BatchSize(D.FineTune.BatchSize, "fine-tuning"), TrainingKnobs.FineTuneEpochs(D.FineTune),
        TrainingKnobs.FineTuneLr(D.FineTune), TrainingKnobs.Augment("Fine-tune"),
    ];

    public override IDefense Create(DefenseSettings s)
    {
        var options = D with
        {
            FineTune = TrainingKnobs.FineTune(D.FineTune, s),
            Rho = s.Number(Rho) ?? D.Rho,
            Adaptive = s.IsOn(Adaptive),
            LabelSmoothing = s.Number(Smoothing) ?? D.LabelSmoothing,
        };
        options.Validate();
        return new FtSamDefense(options);
    }
}
