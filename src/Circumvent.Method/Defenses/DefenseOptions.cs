using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Circumvent.Method.Curves;

namespace Circumvent.Method.Defenses;

/// <summary>
/// TSC (Algorithm 1) settings; defaults are the paper's supervised ones. Learning rates are peak
/// rates of a cosine schedule annealed over the actual number of epochs and, as the authors' scheduler.step(),
/// stepped once per epoch.
/// </summary>
public sealed record TscOptions
{
    /// <summary>E, the number of rounds.</summary>
    public int Rounds { get; init; } = 3;
    /// <summary>The curve point taken in both stages.</summary>
    public double T { get; init; } = 0.4;
    public CurveOptions Curve { get; init; } = new() { SchedulePerEpoch = true };
    /// <summary>Fine-tuning between rounds (not after the last).</summary>
    public FineTuneOptions FineTune { get; init; } = new() { Epochs = 10, LearningRate = 1e-4, SchedulePerEpoch = true };
    /// <summary>
    /// How PermuteLayers batches D. Null: in order, un-augmented, batch 256 (<see cref="MatchingOptions.InOrder"/>) — the
    /// batching of run folders made before the option existed, which then still match (null is not recorded).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public MatchingOptions? Matching { get; init; } = MatchingOptions.Authors;

    /// <summary>
    /// The paper's self-supervised (SimCLR) defaults (doc §1.1, §1.3, §1.6): E = 2, t = 0.25; curves Adam lr 5e-3 with weight
    /// decay 1e-6 and curve L2 5e-5 (the authors' --wd), 200 epochs, batch 256, cosine over the real epochs stepped per epoch;
    /// fine-tuning between rounds 5 epochs (the paper; the code's default is 10) Adam lr 5e-5, weight decay 1e-6, cosine;
    /// matching on one augmented view in shuffled batches of min(256, 96) = 96.
    /// </summary>
    public static TscOptions SelfSupervised { get; } = new()
    {
        Rounds = 2,
        T = 0.25,
        Curve = new CurveOptions { LearningRate = 5e-3, Optimizer = "adam", WeightDecay = 1e-6, L2 = 5e-5, SchedulePerEpoch = true },
        FineTune = new FineTuneOptions { Epochs = 5, LearningRate = 5e-5, Optimizer = "adam", WeightDecay = 1e-6, SchedulePerEpoch = true },
        Matching = new MatchingOptions { BatchSize = 96 },
    };

    /// <summary>
    /// The CLIP defaults (doc §1.10, the authors' repair_mc2.py with --encoder_usage_info CLIP): E = 2, t = 0.25; curves and
    /// fine-tuning minimise the symmetric image–text InfoNCE against the frozen text tower with Adam (β 0.9/0.999, eps 1e-8)
    /// at weight decay 0.2 and no curve L2 term, stepping every batch (the authors' gradient accumulation, which on small
    /// data never steps, is not ported); curves at lr 1e-3 (the paper's 1e-4 is for RN50; doc §2.4), cosine over the real
    /// epochs; fine-tuning between rounds as the self-supervised one (5 epochs, Adam 5e-5) at weight decay 0.2; matching
    /// batches of min(256, 128) = 128.
    /// </summary>
    public static TscOptions Clip { get; } = new()
    {
        Rounds = 2,
        T = 0.25,
        Curve = new CurveOptions { LearningRate = 1e-3, Optimizer = "adam", WeightDecay = 0.2, L2 = 0, SchedulePerEpoch = true },
        FineTune = new FineTuneOptions { Epochs = 5, LearningRate = 5e-5, Optimizer = "adam", WeightDecay = 0.2, SchedulePerEpoch = true },
        Matching = new MatchingOptions { BatchSize = 128 },
    };

    public void Validate()
    {
        Check.That(Rounds >= 1, $"--rounds must be at least 1, got {Rounds}.");
        Check.That(T > 0 && T < 1, $"--t must be strictly between 0 and 1, got {T}.");
        Matching?.Validate();
        Curve.Validate();
        FineTune.Validate(allowZeroEpochs: true);
    }
}

/// <summary>
/// The batches activation matching runs both networks on (eval mode, the same batches for both): D in
/// <see cref="BatchSize"/>-image batches, shuffled and with the training augmentation (random crop + flip)
/// or in order and as stored. Each batch's statistics weigh equally.
/// </summary>
public sealed record MatchingOptions
{
    public int BatchSize { get; init; } = 128;
    public bool Shuffle { get; init; } = true;
    /// <summary>Random crop (H/8 zero padding) + horizontal flip, drawn anew by each PermuteLayers call.</summary>
    public bool Augment { get; init; } = true;

    /// <summary>As the authors run it: their clean training loader (shuffled, augmented, batch 128).</summary>
    public static MatchingOptions Authors { get; } = new();

    /// <summary>D in order, un-augmented, batch 256 (what runs made before this option used).</summary>
    public static MatchingOptions InOrder { get; } = new() { BatchSize = 256, Shuffle = false, Augment = false };

    public void Validate() => Check.That(BatchSize >= 1, $"matching batch size must be at least 1, got {BatchSize}.");
}

/// <summary>MCR (Zhao et al. 2020): fine-tune a copy, one curve θ → copy without the L2 term, point at t.</summary>
public sealed record McrOptions
{
    public double T { get; init; } = 0.4;
    public CurveOptions Curve { get; init; } = new() { L2 = 0, SchedulePerEpoch = true };
    public FineTuneOptions FineTune { get; init; } = new() { Epochs = 100, LearningRate = 0.01, SchedulePerEpoch = true };

    /// <summary>
    /// MCR on an encoder: t = 0.25 and the curve as <see cref="TscOptions.SelfSupervised"/>'s without the L2 term (the paper:
    /// "t = 0.25, otherwise as TSC"). The fine-tuned endpoint is the authors' `my_mcr.py::ft_mcr`: NT-Xent for --ft_epochs 10
    /// at Adam --ft_lr 1e-4, weight decay 1e-6, under CosineAnnealingLR(T_max = 100) stepped per epoch, so the rate stays
    /// within 2.5% of its peak (before session 19: 20 epochs at 1e-3, cosine over the epochs, an endpoint much further from θ).
    /// </summary>
    public static McrOptions SelfSupervised { get; } = new()
    {
        T = 0.25,
        Curve = TscOptions.SelfSupervised.Curve with { L2 = 0 },
        FineTune = new FineTuneOptions
        {
            Epochs = 10, LearningRate = 1e-4, Optimizer = "adam", WeightDecay = 1e-6, SchedulePerEpoch = true, CosineHalfPeriodSteps = 100,
        },
    };

    /// <summary>MCR on a CLIP image tower: t = 0.25, the curve as <see cref="TscOptions.Clip"/>'s; the endpoint fine-tuned under the CLIP loss for 20 epochs at Adam 1e-3, weight decay 0.2.</summary>
    public static McrOptions Clip { get; } = new()
    {
        T = 0.25,
        Curve = TscOptions.Clip.Curve,
        FineTune = new FineTuneOptions { Epochs = 20, LearningRate = 1e-3, Optimizer = "adam", WeightDecay = 0.2, SchedulePerEpoch = true },
    };

    public void Validate()
    {
        Check.That(T > 0 && T < 1, $"--t must be strictly between 0 and 1, got {T}.");
        Curve.Validate();
        FineTune.Validate();
    }
}

internal static class Check
{
    public static void That(bool ok, string message)
    {
        if (!ok) throw new ArgumentException(message);
    }
}

/// <summary>Options records as snake_case JSON (for run-folder identity, reports and checkpoint metadata).</summary>
public static class OptionsJson
{
    public static readonly JsonSerializerOptions Settings = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static JsonObject ToNode<T>(T options) => JsonSerializer.SerializeToNode(options, Settings)!.AsObject();
}
