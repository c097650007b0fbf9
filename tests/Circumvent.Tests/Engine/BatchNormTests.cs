using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

public class BatchNormTests
{
    private const float Eps = 1e-5f;

    private static Tensor[] Inputs(int seed, int[] shape)
    {
        int c = shape[1];
        var weight = Tensor.FromArray(TestData.Randn(seed + 1, c).ToArray().Select(v => 1f + 0.5f * v).ToArray(), c);
        return [TestData.Randn(seed, shape), weight, TestData.Randn(seed + 2, c)];
    }

    private static (Tensor Mean, Tensor Var) Running(int c) =>
        (Tensor.FromArray(Enumerable.Range(0, c).Select(i => 0.3f * i - 0.2f).ToArray(), c),
         Tensor.FromArray(Enumerable.Range(0, c).Select(i => 0.5f + 0.25f * i).ToArray(), c));

    [Theory]
    [InlineData(true, new[] { 4, 3, 3, 5 })]
    [InlineData(true, new[] { 6, 4 })]
    [InlineData(false, new[] { 4, 3, 3, 5 })]
    [InlineData(false, new[] { 6, 4 })]
    public void BatchNormGradientMatchesFiniteDifferences(bool training, int[] shape)
    {
        var (rm, rv) = Running(shape[1]);
        GradCheck.Check(t => Op.BatchNorm(t[0], t[1], t[2], rm, rv, training, Eps, out _), Inputs(5, shape));
    }

    [Theory]
    [InlineData(new[] { 5, 3, 4, 6 })]
    [InlineData(new[] { 7, 4 })]
    public void TrainingStatisticsMatchDirectComputation(int[] shape)
    {
        var (x, weight, bias) = (Inputs(8, shape)[0], Inputs(8, shape)[1], Inputs(8, shape)[2]);
        // A large offset: a one-pass E[x²] − E[x]² in float would lose the variance entirely.
        foreach (ref var v in x.Span) v = 1000f + 0.5f * v;
        var (rm, rv) = Running(shape[1]);
        var rmBefore = rm.ToArray();
        var rvBefore = rv.ToArray();

        var y = Op.BatchNorm(x, weight, bias, rm, rv, true, Eps, out var stats);

        int n = shape[0], c = shape[1], spatial = x.Length / (n * c);
        Assert.NotNull(stats);
        Assert.Equal(n * spatial, stats!.Count);
        for (int ch = 0; ch < c; ch++)
        {
            var values = ChannelValues(x.ToArray(), n, c, spatial, ch);
            double mean = values.Average();
            double squares = values.Sum(v => (v - mean) * (v - mean));
            Assert.Equal(mean, stats.Mean[ch], 1e-3);
            Assert.True(Math.Abs(squares / (values.Length - 1) - stats.UnbiasedVar[ch]) <= 1e-4 * squares / (values.Length - 1),
                $"channel {ch}: unbiased variance {stats.UnbiasedVar[ch]} vs {squares / (values.Length - 1)}");
            // Output: batch mean of y = bias, biased variance = weight²·σ²/(σ² + eps).
            var outs = ChannelValues(y.ToArray(), n, c, spatial, ch);
            double outMean = outs.Average(), outVar = outs.Sum(v => (v - outMean) * (v - outMean)) / outs.Length;
            double biased = squares / values.Length, wc = weight.Data[ch];
            Assert.Equal(bias.Data[ch], outMean, 1e-3);
            Assert.Equal(wc * wc * biased / (biased + Eps), outVar, 1e-3);
        }
        Assert.Equal(rmBefore, rm.ToArray());
        Assert.Equal(rvBefore, rv.ToArray());
    }

    [Fact]
    public void EvalModeUsesRunningStatisticsAndReportsNoBatchStats()
    {
        int[] shape = [3, 4, 2, 3];
        var inputs = Inputs(9, shape);
        var (rm, rv) = Running(4);
        var y = Op.BatchNorm(inputs[0], inputs[1], inputs[2], rm, rv, false, Eps, out var stats);
        Assert.Null(stats);
        var x = inputs[0].ToArray();
        var actual = y.ToArray();
        for (int i = 0; i < x.Length; i++)
        {
            int ch = i / 6 % 4;
            double expected = (x[i] - rm.Data[ch]) / Math.Sqrt(rv.Data[ch] + Eps) * inputs[1].Data[ch] + inputs[2].Data[ch];
            Assert.Equal(expected, actual[i], 1e-5);
        }
    }

    [Fact]
    public void TrainingBackwardOfUniformSeedGivesZeroInputAndWeightGradients()
    {
        // Enough values per channel that the channel loop runs on several threads.
        int[] shape = [16, 6, 16, 16];
        var inputs = Inputs(11, shape);
        var (rm, rv) = Running(6);
        foreach (var t in inputs) t.RequiresGrad = true;
        var y = Op.BatchNorm(inputs[0], inputs[1], inputs[2], rm, rv, true, Eps, out var stats);
        Array.Fill(stats!.Mean, float.NaN); // observers editing their copy must not reach the backward
        // With seed dy = 1 everywhere, dx = 0 (the mean removes it), dbias = count, dweight = Σx̂ = 0.
        y.Backward(Tensor.Ones(shape));
        Assert.All(inputs[0].Grad!.ToArray(), g => Assert.True(Math.Abs(g) < 1e-4, $"dx {g}"));
        Assert.All(inputs[2].Grad!.ToArray(), g => Assert.Equal(16 * 16 * 16, g, 1e-2));
        Assert.All(inputs[1].Grad!.ToArray(), g => Assert.True(Math.Abs(g) < 1e-2, $"dweight {g}"));
    }

    [Fact]
    public void BatchNormRejectsBadShapesWithClearMessages()
    {
        var (rm, rv) = Running(3);
        var w = Tensor.Ones(3);
        var b = Tensor.Zeros(3);
        var ex = Assert.Throws<ArgumentException>(() => Op.BatchNorm(Tensor.Zeros(2, 4, 5, 5), w, b, rm, rv, true, Eps, out _));
        Assert.Equal("batch_norm: weight must have shape (4) for input (2, 4, 5, 5), got (3).", ex.Message);
        Assert.Contains("(N, C) or (N, C, H, W)", Assert.Throws<ArgumentException>(() => Op.BatchNorm(Tensor.Zeros(2, 3, 5), w, b, rm, rv, true, Eps, out _)).Message);
        Assert.Contains("more than 1 value", Assert.Throws<ArgumentException>(() => Op.BatchNorm(Tensor.Zeros(1, 3), w, b, rm, rv, true, Eps, out _)).Message);
        Op.BatchNorm(Tensor.Zeros(1, 3), w, b, rm, rv, false, Eps, out _); // eval accepts a single sample
    }

    private static double[] ChannelValues(float[] data, int n, int c, int spatial, int channel) =>
        Enumerable.Range(0, n).SelectMany(i => data.Skip((i * c + channel) * spatial).Take(spatial)).Select(v => (double)v).ToArray();
}
