using System.Text.Json.Nodes;
using Circumvent.Method.Curves;

namespace Circumvent.Method.Defenses.Pam;

/// <summary>
/// PAM settings; the defaults are the authors' (`BTIDBF/defense.sh`, `cfg.py`; docs/defences-and-robustness.md §3.4):
/// ρ = 0.5, SGD lr 0.01 with momentum 0.1 (sic), batch 128, crop + flip, 3 rounds × 30 unlearning epochs.
/// </summary>
public sealed record PamOptions
{
    /// <summary>
    /// The unlearning: 90 epochs = nround 3 × ul_round 30. Without BTI's generator nothing happens between the rounds,
    /// so they run as one fine-tuning. No weight decay and no schedule (the doc gives neither).
    /// </summary>
    public FineTuneOptions Unlearning { get; init; } = new()
    {
        Epochs = 90, BatchSize = 128, LearningRate = 0.01, Momentum = 0.1, WeightDecay = 0, Schedule = "none", Augment = true,
    };
    /// <summary>ρ, how far along the path back to the backdoored weights the gradient is taken.</summary>
    public double Rho { get; init; } = 0.5;

    public void Validate()
    {
        Unlearning.Validate();
        OptionChecks.PositiveRate(Rho, "--pam-rho");
    }
}

/// <summary>
/// PAM (Min et al., NeurIPS 2024) as a defence: fine-tune θ on D with the path-aware step (<see cref="PathAwareObjective"/>)
/// whose path ends at the backdoored input weights. One unit, "round1.unlearn-pam".
/// </summary>
/// <remarks>
/// NOTE: the authors run PAM as the unlearning step of BTI-DBF(U), whose batches have 20% of their images replaced by a
/// learned UNet generator's synthetic backdoor images (true labels kept). We have no BTI generator: PAM unlearns on the
/// clean set D alone. This is a deviation (docs/defences.md says so).
/// </remarks>
public sealed class PamDefense(PamOptions options) : IDefense
{
    public PamOptions Options { get; } = options;

    public string Name => "pam";

    public JsonObject DescribeOptions() => OptionsJson.ToNode(Options);

    public DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null)
    {
        Options.Validate();
        return FineTuneDefense.RunOneUnit(this, input, observer, Options.Unlearning, "unlearn-pam", "path-aware unlearning",
            () => new PathAwareObjective(input.Objective, input.Parameters.Clone(), Options.Rho));
    }
}

/// <summary>`--defense pam`: path-aware minimisation on D (without BTI-DBF's synthetic backdoor images).</summary>
public sealed class PamPlugin : DefensePlugin
{
    private static readonly PamOptions D = new();
    private static readonly DefenseKnob Rho = DefenseKnob.Number("pam_rho", D.Rho, "Radius ρ of the step along the path back to the backdoored weights (the authors' ablation: 0.3–0.9).");

    public override string Name => "pam";
    public override string Summary => "Path-Aware Minimization (PAM): SGD on D with the gradient taken ρ 0.5 along the path to the backdoored weights, 90 epochs (the authors' defaults; no BTI generator).";

    public override IReadOnlyList<DefenseKnob> Knobs { get; } =
    [
        Rho, TrainingKnobs.BatchSize(D.Unlearning.BatchSize, "unlearning"), TrainingKnobs.FineTuneEpochs(D.Unlearning),
        TrainingKnobs.FineTuneLr(D.Unlearning), TrainingKnobs.Augment("Unlearn"),
    ];

    public override IDefense Create(DefenseSettings s)
    {
        var options = D with { Unlearning = TrainingKnobs.FineTune(D.Unlearning, s), Rho = s.Number(Rho) ?? D.Rho };
        options.Validate();
        return new PamDefense(options);
    }
}
