using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Memory;
using Circumvent.Method.Curves;
using Circumvent.Models;

namespace Circumvent.Tests.Method;

public class BatchNormReestimationTests
{
    /// <summary>Records every batch's statistics per BN prefix.</summary>
    private sealed class Recorder : IBatchNormObserver
    {
        public Dictionary<string, List<BatchStatistics>> Stats { get; } = new();
        public void Observe(string prefix, BatchStatistics stats)
        {
            if (!Stats.TryGetValue(prefix, out var list)) Stats[prefix] = list = new();
            list.Add(stats);
        }
    }

    [Fact]
    public void FirstLayerStatsEqualTheSampleWeightedAverageOfDirectlyComputedBatchMoments()
    {
        var arch = CurveProblems.SmallCnn();
        var weights = arch.Initialize(new Random(7));
        var data = CurveProblems.Blocks(37, 3); // batches of 10, 10, 10 and an uneven 7
        var oldMean = weights["bn1.running_mean"];
        var oldMeanValues = oldMean.ToArray();

        var prefixes = BatchNormReestimation.Recompute(arch, weights, data, CurveProblems.Norm, batchSize: 10);
        Assert.Equal(new[] { "bn1", "bn2", "bn3", "bn4", "bn5" }, prefixes);

        // conv1's output per batch, moments in double straight from the definition.
        int channels = weights["conv1.weight"].Shape[0];
        var sumMean = new double[channels];
        var sumVar = new double[channels];
        var equalMean = new double[channels];
        double total = 0;
        int batches = 0;
        using (GradMode.Disable())
        {
            foreach (var batch in new BatchLoader(data, CurveProblems.Norm, BatchLoaderOptions.Evaluation(10)).Epoch(0))
            {
                using var scope = TensorScope.Open();
                var y = Op.Conv2d(batch.Images, weights["conv1.weight"], null, 1, 1).ToArray();
                int n = batch.Count, plane = 64, count = n * plane;
                for (int c = 0; c < channels; c++)
                {
                    double m = 0;
                    for (int i = 0; i < n; i++)
                        for (int p = 0; p < plane; p++) m += y[(i * channels + c) * plane + p];
                    m /= count;
                    double ss = 0;
                    for (int i = 0; i < n; i++)
                        for (int p = 0; p < plane; p++) ss += Math.Pow(y[(i * channels + c) * plane + p] - m, 2);
                    sumMean[c] += count * m;
                    sumVar[c] += count * ss / (count - 1);
                    equalMean[c] += m;
                }
                total += count;
                batches++;
            }
        }
        Assert.Equal(4, batches);

        var mean = weights["bn1.running_mean"].ToArray();
        var variance = weights["bn1.running_var"].ToArray();
        double largestWeightingEffect = 0;
        for (int c = 0; c < channels; c++)
        {
            double expectedMean = sumMean[c] / total, expectedVar = sumVar[c] / total;
            Assert.True(Math.Abs(mean[c] - expectedMean) <= 1e-5 + 1e-5 * Math.Abs(expectedMean), $"bn1 mean[{c}] {mean[c]} vs {expectedMean}");
            Assert.True(Math.Abs(variance[c] - expectedVar) <= 1e-5 * expectedVar, $"bn1 var[{c}] {variance[c]} vs {expectedVar}");
            largestWeightingEffect = Math.Max(largestWeightingEffect, Math.Abs(equalMean[c] / batches - expectedMean));
        }
        // The uneven last batch makes equal weighting measurably different, so the check above can tell them apart.
        Assert.True(largestWeightingEffect > 1e-4, $"equal and sample weighting differ by only {largestWeightingEffect}");
        // The old buffer tensor was replaced, not overwritten (it may be shared with another set).
        Assert.NotSame(oldMean, weights["bn1.running_mean"]);
        Assert.Equal(oldMeanValues, oldMean.ToArray());
    }

    [Fact]
    public void EveryLayerMatchesTheWeightedAverageOfTheBatchStatisticsItSaw()
    {
        var arch = CurveProblems.SmallCnn();
        var weights = arch.Initialize(new Random(8));
        var data = CurveProblems.Blocks(23, 4); // 8, 8, 7

        var recorder = new Recorder();
        using (GradMode.Disable())
            foreach (var batch in new BatchLoader(data, CurveProblems.Norm, BatchLoaderOptions.Evaluation(8)).Epoch(0))
                using (TensorScope.Open()) arch.Forward(weights, batch.Images, ForwardContext.Train(recorder, new Random(0)));

        BatchNormReestimation.Recompute(arch, weights, data, CurveProblems.Norm, batchSize: 8);
        foreach (var (prefix, list) in recorder.Stats)
        {
            Assert.Equal(3, list.Count);
            double total = list.Sum(s => (double)s.Count);
            var mean = weights[prefix + ".running_mean"].ToArray();
            var variance = weights[prefix + ".running_var"].ToArray();
            for (int c = 0; c < mean.Length; c++)
            {
                double m = list.Sum(s => (double)s.Count * s.Mean[c]) / total;
                double v = list.Sum(s => (double)s.Count * s.UnbiasedVar[c]) / total;
                Assert.Equal(m, mean[c], 5);
                Assert.True(Math.Abs(variance[c] - v) <= 1e-6 * v + 1e-9, $"{prefix} var[{c}] {variance[c]} vs {v}");
            }
        }
    }

    [Fact]
    public void AugmentedReestimationAveragesTheAugmentedBatchesAndFollowsItsSeed()
    {
        var arch = CurveProblems.SmallCnn();
        var weights = arch.Initialize(new Random(10));
        var data = CurveProblems.Blocks(23, 6); // 8, 8, 7
        var crop = Augmentation.CropAndFlip(2);

        // The batches the re-estimation should see: the same loader settings, augmented with seed 5.
        var recorder = new Recorder();
        var options = BatchLoaderOptions.Evaluation(8) with { Augmentation = crop, Seed = 5 };
        using (GradMode.Disable())
            foreach (var batch in new BatchLoader(data, CurveProblems.Norm, options).Epoch(0))
                using (TensorScope.Open()) arch.Forward(weights, batch.Images, ForwardContext.Train(recorder, new Random(0)));

        var augmented = weights.Clone();
        BatchNormReestimation.Recompute(arch, augmented, data, CurveProblems.Norm, 8, crop, seed: 5);
        foreach (var (prefix, list) in recorder.Stats)
        {
            double total = list.Sum(st => (double)st.Count);
            var mean = augmented[prefix + ".running_mean"].ToArray();
            var variance = augmented[prefix + ".running_var"].ToArray();
            for (int c = 0; c < mean.Length; c++)
            {
                Assert.Equal(list.Sum(st => (double)st.Count * st.Mean[c]) / total, mean[c], 5);
                double v = list.Sum(st => (double)st.Count * st.UnbiasedVar[c]) / total;
                Assert.True(Math.Abs(variance[c] - v) <= 1e-6 * v + 1e-9, $"{prefix} var[{c}] {variance[c]} vs {v}");
            }
        }

        // Zero-padded crops change the statistics, so the plain pass must give other values...
        var plain = weights.Clone();
        BatchNormReestimation.Recompute(arch, plain, data, CurveProblems.Norm, 8);
        Assert.NotEqual(plain["bn1.running_mean"].ToArray(), augmented["bn1.running_mean"].ToArray());
        // ...and the crops are the seed's: same seed, same statistics; another seed, others.
        var again = weights.Clone();
        BatchNormReestimation.Recompute(arch, again, data, CurveProblems.Norm, 8, crop, seed: 5);
        CurveProblems.AssertSetsBitIdentical(augmented, again);
        var otherSeed = weights.Clone();
        BatchNormReestimation.Recompute(arch, otherSeed, data, CurveProblems.Norm, 8, crop, seed: 6);
        Assert.NotEqual(augmented["bn1.running_mean"].ToArray(), otherSeed["bn1.running_mean"].ToArray());
    }

    [Fact]
    public void PreviousRunningStatsDoNotMatter()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(20, 5);
        var a = arch.Initialize(new Random(9));
        var b = a.Clone();
        b["bn3.running_mean"].Span.Fill(100f);
        b["bn3.running_var"].Span.Fill(1e-3f);
        BatchNormReestimation.Recompute(arch, a, data, CurveProblems.Norm, 6);
        BatchNormReestimation.Recompute(arch, b, data, CurveProblems.Norm, 6);
        CurveProblems.AssertSetsBitIdentical(a, b);
    }

    [Fact]
    public void NetworksWithoutBatchNormAreLeftAlone()
    {
        var arch = CurveProblems.SmallMlp();
        var weights = arch.Initialize(new Random(1));
        var before = weights.Clone();
        Assert.Empty(BatchNormReestimation.Recompute(arch, weights, CurveProblems.Blocks(10, 1), CurveProblems.Norm, 4));
        CurveProblems.AssertSetsBitIdentical(before, weights);
    }
}
