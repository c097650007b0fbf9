using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

public class PoolingTests
{
    // Distinct values 0.1 apart in shuffled order: no window has a near-tie that a finite-difference
    // step of 0.01 could flip, so max pooling is locally linear where it is probed.
    private static Tensor DistinctValues(int seed, params int[] shape)
    {
        var rng = new Random(seed);
        int size = shape.Aggregate(1, (a, b) => a * b);
        var values = Enumerable.Range(0, size).Select(i => (i - size / 2) * 0.1f).OrderBy(_ => rng.Next()).ToArray();
        return Tensor.FromArray(values, shape);
    }

    [Theory]
    [InlineData(2, 2, 0, 4, 6)]
    [InlineData(3, 2, 1, 5, 7)]
    [InlineData(3, 1, 1, 4, 5)]
    [InlineData(2, 1, 0, 3, 6)]
    public void MaxPoolGradientMatchesFiniteDifferences(int kernel, int stride, int padding, int h, int w) =>
        GradCheck.Check(t => Op.MaxPool2d(t[0], kernel, stride, padding), [DistinctValues(1, 2, 3, h, w)]);

    [Theory]
    [InlineData(2, 2, 0, 4, 6)]
    [InlineData(3, 2, 1, 5, 7)]
    [InlineData(3, 1, 1, 4, 5)]
    public void AvgPoolGradientMatchesFiniteDifferences(int kernel, int stride, int padding, int h, int w) =>
        GradCheck.Check(t => Op.AvgPool2d(t[0], kernel, stride, padding), [TestData.Randn(2, 2, 3, h, w)]);

    [Theory]
    [InlineData(5, 7, 3, 4)]
    [InlineData(6, 6, 4, 4)]   // overlapping bins
    [InlineData(4, 4, 1, 1)]
    [InlineData(3, 5, 5, 2)]   // more output rows than input rows
    public void AdaptiveAvgPoolGradientMatchesFiniteDifferences(int h, int w, int outH, int outW) =>
        GradCheck.Check(t => Op.AdaptiveAvgPool2d(t[0], outH, outW), [TestData.Randn(3, 2, 3, h, w)]);

    [Fact]
    public void GlobalAvgPoolGradientMatchesFiniteDifferences() =>
        GradCheck.Check(t => Op.GlobalAvgPool(t[0]), [TestData.Randn(4, 2, 3, 4, 5)]);

    [Fact]
    public void MaxPoolPicksWindowMaximaAndTreatsPaddingAsMinusInfinity()
    {
        // All negative: zero padding would win every border window, −∞ padding never does.
        var x = Tensor.FromArray([-1, -2, -3, -4, -5, -6, -7, -8, -9], 1, 1, 3, 3);
        Assert.Equal([-1f, -2f, -4f, -5f], Op.MaxPool2d(x, 3, 2, 1).ToArray());
        var y = Tensor.FromArray([1, 5, 2, 0, 3, 4, 8, 1, 6, 7, 9, 2, 0, 1, 3, 4], 1, 1, 4, 4);
        Assert.Equal([5f, 8f, 7f, 9f], Op.MaxPool2d(y, 2, 2).ToArray());
    }

    [Fact]
    public void MaxPoolSendsGradientToFirstMaximumOnTies()
    {
        var x = Tensor.FromArray([2, 2, 2, 2, 1, 3, 3, 1], 1, 2, 2, 2);
        x.RequiresGrad = true;
        Op.MaxPool2d(x, 2, 2).Backward(Tensor.FromArray([10, 20], 1, 2, 1, 1));
        Assert.Equal([10f, 0, 0, 0, 0, 20f, 0, 0], x.Grad!.ToArray());
    }

    [Fact]
    public void MaxPoolOverlappingWindowsAccumulateGradient()
    {
        var x = Tensor.FromArray([0, 0, 0, 0, 9, 0, 0, 0, 0], 1, 1, 3, 3);
        x.RequiresGrad = true;
        Op.MaxPool2d(x, 2, 1).Backward(Tensor.FromArray([1, 2, 3, 4], 1, 1, 2, 2));
        Assert.Equal(10f, x.Grad!.ToArray()[4]);
    }

    [Fact]
    public void AvgPoolCountsPaddingInTheDivisor()
    {
        var x = Tensor.FromArray([1, 2, 3, 4, 5, 6, 7, 8, 9], 1, 1, 3, 3);
        // Top-left window at padding 1 covers {1, 2, 4, 5} plus five padded zeros: 12 / 9.
        var y = Op.AvgPool2d(x, 3, 2, 1).ToArray();
        Assert.Equal([12f / 9, 16f / 9, 24f / 9, 28f / 9], y);
        Assert.Equal([3f, 4f, 6f, 7f], Op.AvgPool2d(x, 2, 1).ToArray());
    }

    [Fact]
    public void AdaptiveAvgPoolUsesPyTorchBins()
    {
        // 3 → 2 bins: [0, 2) and [1, 3) on both axes.
        var x = Tensor.FromArray([1, 2, 3, 4, 5, 6, 7, 8, 9], 1, 1, 3, 3);
        Assert.Equal([3f, 4f, 6f, 7f], Op.AdaptiveAvgPool2d(x, 2, 2).ToArray());
        // 2 → 3 bins: [0, 1), [0, 2), [1, 2).
        var row = Tensor.FromArray([2, 4], 1, 1, 1, 2);
        Assert.Equal([2f, 3f, 4f], Op.AdaptiveAvgPool2d(row, 1, 3).ToArray());
    }

    [Fact]
    public void GlobalAvgPoolAveragesEachPlane()
    {
        var x = Tensor.FromArray([1, 2, 3, 4, 10, 20, 30, 40, -1, -1, -1, -1, 0, 0, 0, 8], 2, 2, 2, 2);
        var y = Op.GlobalAvgPool(x);
        Assert.Equal([2, 2], y.Shape);
        Assert.Equal([2.5f, 25f, -1f, 2f], y.ToArray());
        Assert.Equal(Op.AdaptiveAvgPool2d(x, 1, 1).ToArray(), y.ToArray());
    }

    [Fact]
    public void PoolingRejectsBadInputsWithClearMessages()
    {
        Assert.Contains("(N, C, H, W)", Assert.Throws<ArgumentException>(() => Op.MaxPool2d(Tensor.Zeros(3, 4, 4), 2, 2)).Message);
        Assert.Contains("half the kernel", Assert.Throws<ArgumentException>(() => Op.AvgPool2d(Tensor.Zeros(1, 1, 4, 4), 2, 2, 2)).Message);
        Assert.Contains("does not fit", Assert.Throws<ArgumentException>(() => Op.MaxPool2d(Tensor.Zeros(1, 1, 2, 4), 3, 1)).Message);
        Assert.Contains("(N, C, H, W)", Assert.Throws<ArgumentException>(() => Op.GlobalAvgPool(Tensor.Zeros(2, 3))).Message);
        Assert.Contains("output size", Assert.Throws<ArgumentException>(() => Op.AdaptiveAvgPool2d(Tensor.Zeros(1, 1, 4, 4), 0, 2)).Message);
    }
}
