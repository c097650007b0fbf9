using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Circumvent.Method.Curves;

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
    public CurveOptions Curve { get; init; } = new();
    /// <summary>Fine-tuning between rounds (not after the last).</summary>
    public FineTuneOptions FineTune { get; init; } = new() { Epochs = 10, LearningRate = 1e-4 };

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
    public CurveOptions Curve { get; init; } = new() { L2 = 0 };
    public FineTuneOptions FineTune { get; init; } = new() { Epochs = 100, LearningRate = 0.01 };

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
