using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Circumvent.Method.Defenses;

/// <summary>
/// TSC (Algorithm 1) settings; defaults are the paper's supervised ones. Learning rates are peak
/// rates of a cosine schedule annealed over the actual number of epochs.
/// </summary>
public sealed record TscOptions
{
    /// <summary>E, the number of rounds.</summary>
    public int Rounds { get; init; } = 3;
    /// <summary>The curve point taken in both stages.</summary>
    public double T { get; init; } = 0.4;
    public CurveSettings Curve { get; init; } = new();
    /// <summary>Fine-tuning between rounds (not after the last).</summary>
    public FineTuneSettings FineTune { get; init; } = new() { Epochs = 10, LearningRate = 1e-4 };

    public void Validate()
    {
        Check.That(Rounds >= 1, $"--rounds must be at least 1, got {Rounds}.");
        Check.That(T > 0 && T < 1, $"--t must be strictly between 0 and 1, got {T}.");
        Curve.Validate();
        FineTune.Validate(allowZeroEpochs: true);
    }
}

/// <summary>MCR (Zhao et al. 2020): fine-tune a copy, one curve θ → copy without the L2 term, point at t.</summary>
public sealed record McrOptions
{
    public double T { get; init; } = 0.4;
    public CurveSettings Curve { get; init; } = new() { L2 = 0 };
    public FineTuneSettings FineTune { get; init; } = new() { Epochs = 100, LearningRate = 0.01 };

    public void Validate()
    {
        Check.That(T > 0 && T < 1, $"--t must be strictly between 0 and 1, got {T}.");
        Curve.Validate();
        FineTune.Validate(allowZeroEpochs: false);
    }
}

/// <summary>
/// How a Bézier curve is trained: SGD on the middle bend, one t ~ U(0,1) per batch,
/// loss = objective + 0.5·L2·‖w(t)‖².
/// </summary>
public sealed record CurveSettings
{
    public int Epochs { get; init; } = 200;
    public double LearningRate { get; init; } = 0.02;
    public int BatchSize { get; init; } = 256;
    public double Momentum { get; init; } = 0.9;
    /// <summary>SGD weight decay on the middle bend.</summary>
    public double WeightDecay { get; init; } = 5e-4;
    /// <summary>Coefficient of the 0.5·L2·‖w(t)‖² term (1e-4 for TSC, 0 for MCR).</summary>
    public double L2 { get; init; } = 1e-4;
    /// <summary>Random crop + flip on D while training (the authors train with augmentation).</summary>
    public bool Augment { get; init; } = true;

    public void Validate()
    {
        Check.That(Epochs >= 1, $"--curve-epochs must be at least 1, got {Epochs}.");
        Check.That(double.IsFinite(LearningRate) && LearningRate > 0, $"--curve-lr must be a positive number, got {LearningRate}.");
        Check.That(BatchSize >= 1, $"--batch-size must be at least 1, got {BatchSize}.");
        Check.That(Momentum >= 0 && Momentum < 1, $"curve momentum must be in [0, 1), got {Momentum}.");
        Check.That(WeightDecay >= 0 && double.IsFinite(WeightDecay), $"curve weight decay must be ≥ 0, got {WeightDecay}.");
        Check.That(L2 >= 0 && double.IsFinite(L2), $"curve L2 coefficient must be ≥ 0, got {L2}.");
    }
}

/// <summary>Plain SGD fine-tuning on D with a cosine schedule.</summary>
public sealed record FineTuneSettings
{
    public int Epochs { get; init; } = 10;
    public double LearningRate { get; init; } = 0.01;
    public int BatchSize { get; init; } = 256;
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; } = 5e-4;
    public bool Augment { get; init; } = true;

    public void Validate(bool allowZeroEpochs)
    {
        Check.That(Epochs >= (allowZeroEpochs ? 0 : 1), $"--finetune-epochs must be at least {(allowZeroEpochs ? 0 : 1)}, got {Epochs}.");
        Check.That(double.IsFinite(LearningRate) && LearningRate > 0, $"--finetune-lr must be a positive number, got {LearningRate}.");
        Check.That(BatchSize >= 1, $"--batch-size must be at least 1, got {BatchSize}.");
        Check.That(Momentum >= 0 && Momentum < 1, $"fine-tune momentum must be in [0, 1), got {Momentum}.");
        Check.That(WeightDecay >= 0 && double.IsFinite(WeightDecay), $"fine-tune weight decay must be ≥ 0, got {WeightDecay}.");
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
