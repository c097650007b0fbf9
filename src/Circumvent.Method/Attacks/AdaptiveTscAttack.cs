using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Method.Curves;
using Circumvent.Method.Permutations;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Attacks;

/// <summary>How the adaptive attack trains its curve (our defaults; the paper gives no numbers for them).</summary>
public sealed record AdaptiveTscOptions
{
    public int Epochs { get; init; } = 20;
    public double LearningRate { get; init; } = 0.01;
    public int BatchSize { get; init; } = 128;
    /// <summary>Augment while training the curve (the dataset's augmentation), as the poisoned model was trained.</summary>
    public bool Augment { get; init; } = true;
    /// <summary>Seeds the random permutation, the probe images, shuffling and the t draws.</summary>
    public int Seed { get; init; }
    /// <summary>
    /// How the returned model's BN statistics are computed, recorded with its settings (and so in the
    /// experiment runner's model key): a model made before they saw augmentation is never reused as this one.
    /// </summary>
    public string BnStatistics => "one pass over the poisoned set, augmented as the curve was trained";

    /// <summary>Defaults for a model trained with <paramref name="config"/>: its batch size (at least 2), augmentation and seed.</summary>
    public static AdaptiveTscOptions Matching(TrainingConfig config) =>
        new() { BatchSize = Math.Max(2, config.BatchSize), Augment = config.Augment, Seed = config.Seed };

    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"--adaptive-epochs must be at least 1, got {Epochs}.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"--adaptive-lr must be a positive number, got {LearningRate}.");
        if (BatchSize < 2) throw new ArgumentException($"The adaptive attack's batch size must be at least 2, got {BatchSize}.");
    }
}

/// <summary>
/// The adaptive attack against TSC (Peng et al. 2025, Algorithm 4): the attacker anticipates TSC by
/// making the backdoor survive along a curve to an un-aligned copy. Un-align a randomly permuted
/// copy of the backdoored model θ (activation matching, <see cref="MatchMode.Unalign"/>, on a probe
/// subset of the attacker's data), train the whole quadratic Bézier curve — both endpoints and the
/// middle bend — on the poisoned training set (clean + poisoned samples), and return the curve's
/// start point with its BN statistics re-estimated on that set. With a checkpoint the curve's
/// progress is kept after every epoch; the un-aligned copy is recomputed (deterministically) on a rerun.
/// </summary>
public static class AdaptiveTscAttack
{
    /// <summary>Images used to match activations: 5% of the set (at least 256, at most all).</summary>
    public static int ProbeCount(int datasetCount) => Math.Min(datasetCount, Math.Max(256, datasetCount / 20));

    public static ParameterSet Run(IArchitecture arch, ParameterSet backdoored, ImageDataset poisonedTrain, Normalization normalization,
        AdaptiveTscOptions options, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default,
        EpochCheckpoint? checkpoint = null, Augmentation? datasetAugmentation = null)
    {
        options.Validate();
        var probeSet = Subsets.Random(poisonedTrain, ProbeCount(poisonedTrain.Count), options.Seed);
        var probeLoader = new BatchLoader(probeSet, normalization, BatchLoaderOptions.Evaluation(256) with { Prefetch = false });
        List<Tensor> probes = [.. probeLoader.Epoch(0).Select(b => b.Images)];
        ParameterSet unaligned;
        try
        {
            var permuted = PermutationSpecs.ApplyRandom(arch, backdoored, new Random(options.Seed));
            unaligned = ActivationMatcher.PermuteLayers(arch, backdoored, permuted, probes, MatchMode.Unalign);
        }
        finally
        {
            foreach (var t in probes) t.Dispose();
        }

        var curveOptions = new CurveOptions
        {
            Epochs = options.Epochs,
            BatchSize = options.BatchSize,
            LearningRate = options.LearningRate,
            Augment = options.Augment,
            DatasetAugmentation = datasetAugmentation,
            TrainEndpoints = true,
            Seed = options.Seed,
        };
        var curve = CurveTrainer.Fit(arch, backdoored, unaligned, poisonedTrain, normalization, curveOptions,
            new SupervisedObjective(), progress, cancellation, checkpoint);
        // BN statistics from the images as the network sees them in training: augmented, as the curve was
        // trained (re-estimating on plain images costs the model 2-3 points of accuracy, as found for TSC).
        return CurvePoint.At(arch, curve, 0, poisonedTrain, normalization, curveOptions.BatchSize,
            curveOptions.AugmentationFor(poisonedTrain.Height), options.Seed);
    }
}
