using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Memory;
using Circumvent.Models;

namespace Circumvent.Method.Curves;

/// <summary>
/// Recomputes every batch norm's running statistics for a weight set that never had its own (a curve
/// point): one pass over the clean data in training mode, in dataset order, with the augmentation the
/// curve was trained with (the authors re-estimate on their training loader), and running_mean /
/// running_var set to the EXACT sample-weighted averages of the batch means and unbiased batch
/// variances (what PyTorch's BN with momentum=None computes).
///
/// Why the augmentation matters: the network was trained on augmented images, and its later layers
/// expect activations normalised by augmented-data statistics. Measured on a CIFAR-10 TSC stage-2
/// point (cnn-small ×0.5): statistics from un-augmented images gave 74.15% clean accuracy, statistics
/// gathered on augmented images 76.45% — the same weights (RESULTS.md).
/// </summary>
public static class BatchNormReestimation
{
    /// <summary>
    /// Replaces the `*.running_mean` / `*.running_var` entries of <paramref name="weights"/> with new
    /// tensors (the previous tensors are not written, so buffers shared with other sets stay intact).
    /// Does nothing for a network without batch norm.
    /// </summary>
    /// <returns>The BN prefixes that were re-estimated, in state_dict order.</returns>
    /// <param name="augmentation">Random crop + flip as in training (seeded by <paramref name="seed"/>); null or None: the images as they are.</param>
    /// <param name="view">A contrastive curve's view augmentation: the statistics are those of one view of every image
    /// (the authors re-estimate on view 1 of their pair loader), and <paramref name="augmentation"/> is not used.</param>
    public static IReadOnlyList<string> Recompute(IArchitecture arch, ParameterSet weights, ImageDataset clean,
        Normalization normalization, int batchSize = 256, Augmentation? augmentation = null, int seed = 0, ContrastiveAugmentation? view = null)
    {
        if (batchSize < 2) throw new ArgumentException($"BN re-estimation needs batches of at least 2 images, got {batchSize}.");
        var prefixes = BatchNormPrefixes(weights);
        if (prefixes.Count == 0) return prefixes;
        if (clean.Count < 2) throw new ArgumentException($"BN re-estimation needs at least 2 images, got {clean.Count}.");

        var accumulator = new ExactAverageObserver();
        var context = ForwardContext.Train(accumulator, new Random(0));
        var loader = new BatchLoader(clean, normalization,
            BatchLoaderOptions.Evaluation(batchSize) with
            {
                Augmentation = view is null ? augmentation ?? Augmentation.None : Augmentation.None, ViewAugmentation = view, Seed = seed,
            });
        using (GradMode.Disable())
        {
            foreach (var batch in loader.Epoch(0))
            {
                using (batch)
                {
                    // NOTE: a trailing batch of one image is skipped: a (N, C) batch norm cannot take
                    // batch statistics of one value, and its unbiased variance would divide by zero.
                    if (batch.Count < 2) continue;
                    using (TensorScope.Open()) arch.Forward(weights, batch.Images, context);
                }
            }
        }

        foreach (var prefix in prefixes)
        {
            var (mean, variance) = accumulator.Result(prefix, weights[prefix + ".running_mean"].Length);
            weights.Set(prefix + ".running_mean", Tensor.FromArray(mean, mean.Length));
            weights.Set(prefix + ".running_var", Tensor.FromArray(variance, variance.Length));
        }
        return prefixes;
    }

    /// <summary>Prefixes p with buffers p.running_mean and p.running_var, in state_dict order.</summary>
    public static IReadOnlyList<string> BatchNormPrefixes(ParameterSet weights)
    {
        const string meanSuffix = ".running_mean";
        var prefixes = new List<string>();
        foreach (var (name, _, role) in weights)
        {
            if (role != TensorRole.Buffer || !name.EndsWith(meanSuffix, StringComparison.Ordinal)) continue;
            var prefix = name[..^meanSuffix.Length];
            if (!weights.Contains(prefix + ".running_var"))
                throw new ArgumentException($"Batch norm '{prefix}' has a running_mean buffer but no '{prefix}.running_var'.");
            prefixes.Add(prefix);
        }
        return prefixes;
    }

    /// <summary>Σ count·mean, Σ count·unbiased var and Σ count per BN prefix, in double.</summary>
    private sealed class ExactAverageObserver : IBatchNormObserver
    {
        private readonly Dictionary<string, (double[] Mean, double[] Var, double[] Count)> _sums = new(StringComparer.Ordinal);

        public void Observe(string prefix, BatchStatistics stats)
        {
            int channels = stats.Mean.Length;
            if (!_sums.TryGetValue(prefix, out var sums))
                _sums[prefix] = sums = (new double[channels], new double[channels], new double[1]);
            if (sums.Mean.Length != channels)
                throw new InvalidOperationException($"Batch norm '{prefix}' reported {channels} channels, earlier batches had {sums.Mean.Length}.");
            for (int c = 0; c < channels; c++)
            {
                sums.Mean[c] += (double)stats.Count * stats.Mean[c];
                sums.Var[c] += (double)stats.Count * stats.UnbiasedVar[c];
            }
            sums.Count[0] += stats.Count;
        }

        public (float[] Mean, float[] Var) Result(string prefix, int channels)
        {
            if (!_sums.TryGetValue(prefix, out var sums))
                throw new InvalidOperationException($"Batch norm '{prefix}' has running buffers but the forward never ran it.");
            if (sums.Mean.Length != channels)
                throw new InvalidOperationException($"Batch norm '{prefix}' has {channels}-channel buffers but reported {sums.Mean.Length} channels.");
            var mean = new float[channels];
            var variance = new float[channels];
            for (int c = 0; c < channels; c++)
            {
                mean[c] = (float)(sums.Mean[c] / sums.Count[0]);
                variance[c] = (float)(sums.Var[c] / sums.Count[0]);
            }
            return (mean, variance);
        }
    }
}
