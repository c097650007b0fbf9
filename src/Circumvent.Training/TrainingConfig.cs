using System.Text.Json;
using System.Text.Json.Serialization;

namespace Circumvent.Training;

/// <summary>
/// Everything that determines a training run. Serialised into every checkpoint's metadata so an
/// output always says how it was made; <see cref="Seed"/> with the same config reproduces the run
/// (initialisation, shuffling, augmentation and dropout all derive their generators from it).
/// </summary>
public sealed record TrainingConfig
{
    public string Architecture { get; init; } = "cnn-small";
    public string Data { get; init; } = "fashion-mnist";
    public double WidthMultiplier { get; init; } = 1.0;
    /// <summary>May be fractional: the run then takes ⌈Epochs·batches per epoch⌉ steps, the last epoch cut short (airbench's 9.9).</summary>
    public double Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 128;
    public double LearningRate { get; init; } = 0.05;
    public double Momentum { get; init; } = 0.9;
    public bool Nesterov { get; init; } = true;
    public double WeightDecay { get; init; } = 5e-4;
    /// <summary>sgd, adam, adamw or amsgrad (Adam with torch's amsgrad flag).</summary>
    public string Optimizer { get; init; } = "sgd";
    /// <summary>cosine, step, triangle or none.</summary>
    public string Schedule { get; init; } = "cosine";
    public double WarmupEpochs { get; init; }
    /// <summary>Step schedule: multiply the rate by <see cref="StepGamma"/> every this many epochs.</summary>
    public int StepEpochs { get; init; } = 30;
    public double StepGamma { get; init; } = 0.1;
    public bool Augment { get; init; } = true;
    public double LabelSmoothing { get; init; }
    public int Seed { get; init; }
    /// <summary>Train on the first N examples only (0 = all).</summary>
    public int LimitTrain { get; init; }

    // The fields below are airbench's recipe (TrainingRecipes.Airbench); each is written to the JSON only when set,
    // so configs without them read and compare exactly as before.

    /// <summary>The preset the defaults came from ("airbench"), for the record; every value is in its own field.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Recipe { get; init; }

    /// <summary>Triangle schedule: [start factor, peak position as a fraction of the run, end factor] (airbench: 0.2, 0.23, 0.07).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double[]? Triangle { get; init; }

    /// <summary>Start airnet's first conv from the patch whitening of the first 5000 (normalised) training images.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool WhitenInit { get; init; }

    /// <summary>Tensors not trained, as name patterns (* = any text): "0.weight" always, "0.bias@3" after 3 epochs (<see cref="FreezeRule"/>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string[]? Freeze { get; init; }

    /// <summary>SGD parameter groups "PATTERN=FACTOR": matching tensors run at lr × FACTOR with weight decay ÷ FACTOR (same lr·wd).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string[]? LearningRateScales { get; init; }

    /// <summary>PyTorch's BN momentum for the running statistics (null: 0.1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? BatchNormMomentum { get; init; }

    /// <summary>
    /// With the cosine schedule: anneal over this many steps and continue as a wave past them (torch's
    /// CosineAnnealingLR(T_max) stepped beyond T_max; <see cref="Circumvent.Engine.Optim.CosineSchedule.ContinuePastEnd"/>); null: one anneal over the run.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? CosineHalfPeriodSteps { get; init; }

    /// <summary>Lookahead/EMA of every parameter and buffer every this many steps (null: none; airbench: 5).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? LookaheadEvery { get; init; }

    /// <summary>Lookahead's decay base d: the EMA keeps ρ = d^every·(step/total)³ of itself (airbench: 0.95).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? LookaheadDecay { get; init; }

    /// <summary>Augmentation: translate by up to ± this many pixels with reflect padding, instead of the zero-padded crop (airbench: 2).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Translate { get; init; }

    /// <summary>Augmentation's flip: "random" (a coin per image and epoch; the default) or "alternate" (airbench).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Flip { get; init; }

    /// <summary>Test-time augmentation of the test accuracy measured after training: 0 none, 1 mirror, 2 mirror + translate.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? TtaLevel { get; init; }

    public static readonly string[] Optimizers = ["sgd", "adam", "adamw", "amsgrad"];
    public static readonly string[] Schedules = ["cosine", "step", "triangle", "none"];
    public static readonly string[] Flips = ["random", "alternate"];

    /// <summary>airbench's triangle when <see cref="Triangle"/> is not given.</summary>
    public static readonly double[] DefaultTriangle = [0.2, 0.23, 0.07];

    /// <summary>The steps the run takes over <paramref name="batchesPerEpoch"/> batches per epoch: ⌈Epochs·batches⌉.</summary>
    public int TotalSteps(int batchesPerEpoch) => (int)Math.Ceiling(Epochs * batchesPerEpoch - 1e-9);

    /// <summary>The epochs the loop enters (the last one may stop early at <see cref="TotalSteps"/>).</summary>
    public int EpochsEntered => (int)Math.Ceiling(Epochs - 1e-9);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting (by its CLI option).</summary>
    public void Validate()
    {
        Require(double.IsFinite(Epochs) && Epochs > 0, $"--epochs must be positive, got {Epochs}.");
        Require(BatchSize > 0, $"--batch-size must be at least 1, got {BatchSize}.");
        Require(CosineHalfPeriodSteps is null or > 0, $"the cosine's half-period must be at least 1 step, got {CosineHalfPeriodSteps}.");
        Require(double.IsFinite(LearningRate) && LearningRate > 0, $"--lr must be a positive number, got {LearningRate}.");
        Require(double.IsFinite(Momentum) && Momentum >= 0 && Momentum < 1, $"--momentum must be in [0, 1), got {Momentum}.");
        Require(double.IsFinite(WeightDecay) && WeightDecay >= 0, $"--weight-decay must be ≥ 0, got {WeightDecay}.");
        Require(Optimizers.Contains(Optimizer), $"--optimizer must be one of {string.Join(", ", Optimizers)}, got '{Optimizer}'.");
        Require(Schedules.Contains(Schedule), $"--schedule must be one of {string.Join(", ", Schedules)}, got '{Schedule}'.");
        Require(double.IsFinite(WarmupEpochs) && WarmupEpochs >= 0 && WarmupEpochs < Epochs,
            $"--warmup-epochs must be ≥ 0 and less than --epochs ({Epochs}), got {WarmupEpochs}.");
        Require(StepEpochs > 0, $"--lr-step-epochs must be at least 1, got {StepEpochs}.");
        Require(double.IsFinite(StepGamma) && StepGamma > 0, $"--lr-gamma must be positive, got {StepGamma}.");
        Require(double.IsFinite(LabelSmoothing) && LabelSmoothing >= 0 && LabelSmoothing < 1,
            $"--label-smoothing must be in [0, 1), got {LabelSmoothing}.");
        Require(double.IsFinite(WidthMultiplier) && WidthMultiplier > 0, $"--width must be positive, got {WidthMultiplier}.");
        Require(LimitTrain >= 0, $"--limit-train must be ≥ 0 (0 = all), got {LimitTrain}.");
        Require(Triangle is null || (Triangle.Length == 3 && Triangle.All(double.IsFinite) && Triangle[0] >= 0 && Triangle[2] >= 0 && Triangle[1] >= 0 && Triangle[1] < 1),
            $"--triangle must be START,PEAK_AT,END with factors ≥ 0 and PEAK_AT in [0, 1), got {(Triangle is null ? "" : string.Join(",", Triangle))}.");
        foreach (var rule in Freeze ?? []) FreezeRule.Parse(rule);
        foreach (var rule in LearningRateScales ?? []) LearningRateScale.Parse(rule);
        Require(LearningRateScales is not { Length: > 0 } || Optimizer == "sgd", $"--lr-scale needs --optimizer sgd (its parameter groups), got '{Optimizer}'.");
        Require(BatchNormMomentum is null || (BatchNormMomentum >= 0 && BatchNormMomentum <= 1), $"--bn-momentum must be in [0, 1], got {BatchNormMomentum}.");
        Require(LookaheadEvery is null || LookaheadEvery >= 1, $"--lookahead-every must be at least 1, got {LookaheadEvery}.");
        Require(LookaheadDecay is null || (LookaheadDecay >= 0 && LookaheadDecay <= 1), $"--lookahead-decay must be in [0, 1], got {LookaheadDecay}.");
        Require(LookaheadDecay is null || LookaheadEvery is not null, "--lookahead-decay needs --lookahead-every.");
        Require(Translate is null || Translate >= 0, $"--translate must be ≥ 0, got {Translate}.");
        Require(Flip is null || Flips.Contains(Flip), $"--flip must be one of {string.Join(", ", Flips)}, got '{Flip}'.");
        Require(TtaLevel is null || (TtaLevel >= 0 && TtaLevel <= TestTimeAugmentation.MaxLevel), $"--tta must be 0, 1 or 2, got {TtaLevel}.");
    }

    private static void Require(bool ok, string message)
    {
        if (!ok) throw new ArgumentException(message);
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static TrainingConfig FromJson(string json) =>
        JsonSerializer.Deserialize<TrainingConfig>(json, JsonOptions)
        ?? throw new ArgumentException("Training config JSON is empty.");

    /// <summary>An independent, reproducible seed per random stream (init, shuffle+augment, dropout).</summary>
    public int SeedFor(RandomStream stream) => unchecked(Seed * 1_000_003 + (int)stream * 7919 + 17);
}

/// <summary>The independent random streams of a run; the data loader derives crop/flip draws from the Shuffle seed.</summary>
public enum RandomStream { Initialization, Shuffle, Dropout }
