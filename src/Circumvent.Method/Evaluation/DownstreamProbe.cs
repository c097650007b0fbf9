using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Memory;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Evaluation;

/// <summary>
/// How a probe is trained on frozen features. Defaults: the authors' downstream classifier (BadEncoder's
/// training_Downstream_single): Adam lr 1e-4, cross-entropy, batch 256; 100 epochs where the authors run 200
/// (§2.2 of the self-supervised notes: 100–200 is what a 2-core machine affords per evaluated model).
/// </summary>
public sealed record ProbeOptions
{
    public int Epochs { get; init; } = 100;
    public double LearningRate { get; init; } = 1e-4;
    public int BatchSize { get; init; } = 256;
    /// <summary>Seeds the probe's initialisation, shuffling and dropout.</summary>
    public int Seed { get; init; }
    /// <summary>The probes trained; the first one's scores are what a purification reports as ACC/ASR.</summary>
    public IReadOnlyList<ProbeKind> Kinds { get; init; } = [ProbeKind.Mlp, ProbeKind.Linear];

    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"--probe-epochs must be at least 1, got {Epochs}.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"--probe-lr must be a positive number, got {LearningRate}.");
        if (BatchSize < 1) throw new ArgumentException($"--batch-size must be at least 1, got {BatchSize}.");
        if (Kinds.Count == 0) throw new ArgumentException("--probe needs at least one of mlp, linear.");
    }
}

/// <summary>
/// A probe trained on frozen, L2-normalised features (the authors normalise f's output before their classifier) by
/// the one training loop, and its predictions.
/// </summary>
public static class DownstreamProbe
{
    /// <summary>Trains a <paramref name="kind"/> probe on <paramref name="train"/> (features as extracted; normalised here).</summary>
    /// <param name="cancellation">Observed between steps: throws OperationCanceledException (a probe is not resumable; it is minutes at most).</param>
    public static (FeatureProbe Probe, ParameterSet Parameters) Train(ProbeKind kind, LabelledFeatures train, int classes, ProbeOptions options,
        CancellationToken cancellation = default)
    {
        options.Validate();
        int n = train.Labels.Length, d = train.Features.Shape[1];
        if (n == 0) throw new ArgumentException("The downstream training set is empty.");
        var probe = new FeatureProbe(kind, d, classes);
        var config = new TrainingConfig
        {
            Architecture = probe.Config.Name, Epochs = options.Epochs, BatchSize = options.BatchSize, LearningRate = options.LearningRate,
            WeightDecay = 0, Optimizer = "adam", Schedule = "none", Augment = false, Seed = options.Seed,
        };
        var parameters = probe.Initialize(new Random(config.SeedFor(RandomStream.Initialization)));
        var source = new TensorBatchSource(Normalised(train.Features), train.Labels, [d], options.BatchSize, config.SeedFor(RandomStream.Shuffle));
        new Trainer(probe, parameters, config) { Cancellation = cancellation }.Train(source);
        return (probe, parameters);
    }

    /// <summary>The probe's class for every row of <paramref name="features"/> (N, d), in eval mode (no dropout).</summary>
    public static int[] Predict(FeatureProbe probe, ParameterSet parameters, Tensor features)
    {
        using var noGrad = GradMode.Disable();
        using var scope = TensorScope.Open();
        var rows = Tensor.FromArray(Normalised(features), features.Shape[0], features.Shape[1]);
        return Op.ArgMax(probe.Forward(parameters, rows, ForwardContext.Eval()));
    }

    // Row-wise L2 normalisation (N, d) as F.normalize(dim=1), as a flat copy.
    private static float[] Normalised(Tensor features)
    {
        using var noGrad = GradMode.Disable();
        using var scope = TensorScope.Open();
        return Op.L2Normalize(features, 1).ToArray();
    }
}
