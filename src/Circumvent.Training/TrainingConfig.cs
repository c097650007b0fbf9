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
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 128;
    public double LearningRate { get; init; } = 0.05;
    public double Momentum { get; init; } = 0.9;
    public bool Nesterov { get; init; } = true;
    public double WeightDecay { get; init; } = 5e-4;
    /// <summary>sgd, adam or adamw.</summary>
    public string Optimizer { get; init; } = "sgd";
    /// <summary>cosine, step or none.</summary>
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

    public static readonly string[] Optimizers = ["sgd", "adam", "adamw"];
    public static readonly string[] Schedules = ["cosine", "step", "none"];

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting (by its CLI option).</summary>
    public void Validate()
    {
        Require(Epochs > 0, $"--epochs must be at least 1, got {Epochs}.");
        Require(BatchSize > 0, $"--batch-size must be at least 1, got {BatchSize}.");
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
