using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

public class ReductionTests
{
    /// <summary>A shuffled ramp: all values distinct and at least 0.1 apart, so maxima are stable under ±h.</summary>
    private static Tensor DistinctValues(int seed, params int[] shape)
    {
        int n = Shape.Size(shape);
        var values = Enumerable.Range(0, n).Select(i => 0.1f * i - 0.05f * n).ToArray();
        var rng = new Random(seed);
        rng.Shuffle(values);
        return Tensor.FromArray(values, shape);
    }

    [Fact]
    public void SumAndMeanOverAllGiveScalarsWithGradients()
    {
        var x = Tensor.FromArray([1, 2, 3, 4, 5, 6], 2, 3);
        var s = Op.Sum(x);
        Assert.Empty(s.Shape);
        Assert.Equal(21f, s.Item());
        Assert.Equal(3.5f, Op.Mean(x).Item());
        GradCheck.Check(t => Op.Sum(t[0]), [TestData.Randn(1, 3, 4)]);
        GradCheck.Check(t => Op.Mean(t[0]), [TestData.Randn(2, 3, 4)]);
    }

    [Fact]
    public void SumOverAxisHonoursKeepDim()
    {
        var x = Tensor.FromArray([1, 2, 3, 4, 5, 6], 2, 3);
        var rows = Op.Sum(x, 1);
        Assert.Equal([2], rows.Shape);
        Assert.Equal([6f, 15f], rows.ToArray());
        var cols = Op.Mean(x, 0, keepDim: true);
        Assert.Equal([1, 3], cols.Shape);
        Assert.Equal([2.5f, 3.5f, 4.5f], cols.ToArray());
        Assert.Equal([2, 1], Op.Sum(x, -1, keepDim: true).Shape);
    }

    [Fact]
    public void AxisReductionGradientsMatchFiniteDifferences()
    {
        GradCheck.Check(t => Op.Sum(t[0], 1), [TestData.Randn(1, 2, 3, 4)]);
        GradCheck.Check(t => Op.Sum(t[0], -1, keepDim: true), [TestData.Randn(2, 2, 3, 4)]);
        GradCheck.Check(t => Op.Mean(t[0], 0), [TestData.Randn(3, 2, 3, 4)]);
        GradCheck.Check(t => Op.Mean(t[0], 2, keepDim: true), [TestData.Randn(4, 2, 3, 4)]);
    }

    [Fact]
    public void LongSumsAccumulateInDouble()
    {
        // A float running sum of 2²⁴+ ones would stall at 16777216; the answer must be exact.
        const int n = 17_000_000;
        var x = Tensor.Ones(n);
        Assert.Equal((float)n, Op.Sum(x).Item());
        var rows = Op.Sum(Tensor.Full(0.1f, 2, 1_000_000), 1).ToArray();
        Assert.All(rows, r => Assert.Equal(100_000.0, r, 1e-2));
    }

    [Fact]
    public void MaxSendsGradientToTheFirstMaximum()
    {
        var x = Tensor.FromArray([1f, 3f, 3f, 2f], 4);
        x.RequiresGrad = true;
        var m = Op.Max(x);
        Assert.Equal(3f, m.Item());
        m.Backward();
        Assert.Equal([0f, 1f, 0f, 0f], x.Grad!.ToArray());
        GradCheck.Check(t => Op.Max(t[0]), [DistinctValues(1, 3, 4)]);
    }

    [Fact]
    public void MaxOverAxisPicksValuesAndRoutesGradient()
    {
        var x = Tensor.FromArray([1, 5, 2, 7, 0, 7], 2, 3);
        Assert.Equal([5f, 7f], Op.Max(x, 1).ToArray());
        Assert.Equal([7f, 5f, 7f], Op.Max(x, 0).ToArray());
        Assert.Equal([1, 3], Op.Max(x, 0, keepDim: true).Shape);
        x.RequiresGrad = true;
        Op.Sum(Op.Max(x, 1)).Backward();
        Assert.Equal([0f, 1f, 0f, 1f, 0f, 0f], x.Grad!.ToArray());
        GradCheck.Check(t => Op.Max(t[0], 1), [DistinctValues(2, 2, 4, 3)]);
        GradCheck.Check(t => Op.Max(t[0], -1, keepDim: true), [DistinctValues(3, 2, 4, 3)]);
    }

    [Fact]
    public void ArgMaxReturnsFirstIndexPerRow()
    {
        var x = Tensor.FromArray([0.1f, 0.9f, 0.3f, 2f, -1f, 2f, -5f, -4f, -6f], 3, 3);
        Assert.Equal([1, 0, 1], Op.ArgMax(x));
        Assert.Throws<ArgumentException>(() => Op.ArgMax(TestData.Randn(1, 2, 3, 4)));
    }
}
