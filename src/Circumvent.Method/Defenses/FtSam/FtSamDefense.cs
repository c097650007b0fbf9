using System.Text.Json.Nodes;
using Circumvent.Method.Curves;
using Circumvent.Training;

namespace Circumvent.Method.Defenses.FtSam;

/// <summary>
/// FT-SAM (Zhu et al. 2023) settings; the defaults are BackdoorBench's (`ft-sam.py`): adaptive SAM (ASAM) with ρ = 2.0
/// (the paper's text says 0.2), label-smoothed cross-entropy 0.1, SGD 0.01 with momentum 0.9 and weight decay 5e-4 for 100 epochs.
/// </summary>
/// <remarks>
/// NOTE: BackdoorBench steps a CosineAnnealingLR(T_max = 100) after every batch, so with ten batches an epoch its rate
/// cycles about five times; we anneal the cosine once over the epochs (stepped per epoch), as the FT baseline does.
/// </remarks>
public sealed record FtSamOptions
{
    public FineTuneOptions FineTune { get; init; } = new() { Epochs = 100, LearningRate = 0.01, SchedulePerEpoch = true };
    /// <summary>ρ, the radius of SAM's ascent step.</summary>
    public double Rho { get; init; } = 2.0;
    /// <summary>ASAM: scale the ascent step by the weights (e = ρ·w²·g/‖|w|·g‖) rather than plain SAM's ρ·g/‖g‖.</summary>
    public bool Adaptive { get; init; } = true;
    public double LabelSmoothing { get; init; } = 0.1;

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
            () => new SharpnessAwareObjective(new SupervisedObjective(Options.LabelSmoothing), Options.Rho, Options.Adaptive));
    }
}

/// <summary>`--defense ft-sam`: fine-tuning with (adaptive) sharpness-aware minimisation, BackdoorBench's defaults.</summary>
public sealed class FtSamPlugin : DefensePlugin
{
    private static readonly FtSamOptions D = new();
    private static readonly DefenseKnob Rho = DefenseKnob.Number("sam_rho", D.Rho, "Radius ρ of SAM's ascent step (the FT-SAM paper's text: 0.2).");
    private static readonly DefenseKnob Adaptive = DefenseKnob.Switch("sam_adaptive", "Plain SAM (ρ·g/‖g‖) instead of adaptive ASAM (ρ·w²·g/‖|w|·g‖).");
    private static readonly DefenseKnob Smoothing = DefenseKnob.Number("label_smoothing", D.LabelSmoothing, "Label smoothing of the cross-entropy.");

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
