using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

public class ShapeTests
{
    [Fact]
    public void ReshapeInfersMinusOneCopiesAndPassesGradient()
    {
        var x = TestData.Randn(1, 2, 3, 4);
        var y = Op.Reshape(x, -1, 6);
        Assert.Equal([4, 6], y.Shape);
        Assert.Equal(x.ToArray(), y.ToArray());
        Assert.NotSame(x.Data, y.Data);
        GradCheck.Check(t => Op.Reshape(t[0], 4, -1), [TestData.Randn(2, 2, 3, 4)]);
    }

    [Fact]
    public void ReshapeRejectsMismatchedSizes()
    {
        var x = TestData.Randn(1, 2, 3);
        Assert.Contains("(4, 2)", Assert.Throws<ArgumentException>(() => Op.Reshape(x, 4, 2)).Message);
        Assert.Throws<ArgumentException>(() => Op.Reshape(x, -1, 4));
        Assert.Throws<ArgumentException>(() => Op.Reshape(x, -1, -1));
    }

    [Fact]
    public void FlattenKeepsLeadingDimensions()
    {
        var x = TestData.Randn(1, 2, 3, 4, 5);
        Assert.Equal([2, 60], Op.Flatten(x).Shape);
        Assert.Equal([2, 3, 20], Op.Flatten(x, 2).Shape);
        Assert.Equal([120], Op.Flatten(x, 0).Shape);
        GradCheck.Check(t => Op.Flatten(t[0]), [TestData.Randn(2, 2, 3, 2)]);
    }

    [Fact]
    public void TransposeSwapsAxes()
    {
        var x = Tensor.FromArray([1, 2, 3, 4, 5, 6], 2, 3);
        var y = Op.Transpose(x, 0, 1);
        Assert.Equal([3, 2], y.Shape);
        Assert.Equal([1f, 4f, 2f, 5f, 3f, 6f], y.ToArray());
        GradCheck.Check(t => Op.Transpose(t[0], 1, -1), [TestData.Randn(3, 2, 3, 4)]);
    }

    [Fact]
    public void PermuteOfRank4MatchesIndexArithmeticAndGradient()
    {
        var x = TestData.Randn(1, 2, 3, 4, 5);
        var y = Op.Permute(x, 0, 2, 3, 1); // NCHW -> NHWC
        Assert.Equal([2, 4, 5, 3], y.Shape);
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 3; c++)
                for (int h = 0; h < 4; h++)
                    for (int w = 0; w < 5; w++)
                        Assert.Equal(x.Data[((n * 3 + c) * 4 + h) * 5 + w], y.Data[((n * 4 + h) * 5 + w) * 3 + c]);
        GradCheck.Check(t => Op.Permute(t[0], 3, 1, 0, 2), [TestData.Randn(2, 2, 3, 4, 5)]);
    }

    // Output element at multi-index i comes from the input at index j with j[perm[k]] = i[k].
    private static float[] NaivePermute(Tensor x, int[] perm)
    {
        var outShape = perm.Select(d => x.Shape[d]).ToArray();
        var inStrides = Shape.Strides(x.Shape);
        var result = new float[x.Length];
        var index = new int[perm.Length];
        for (int flat = 0; flat < x.Length; flat++)
        {
            int rem = flat, src = 0;
            for (int k = perm.Length - 1; k >= 0; k--) { index[k] = rem % outShape[k]; rem /= outShape[k]; }
            for (int k = 0; k < perm.Length; k++) src += index[k] * inStrides[perm[k]];
            result[flat] = x.Data[src];
        }
        return result;
    }

    [Theory]
    [InlineData(new[] { 2, 3, 4, 5 }, new[] { 0, 2, 3, 1 })]
    [InlineData(new[] { 2, 3, 4, 5 }, new[] { 3, 2, 1, 0 })]
    [InlineData(new[] { 2, 1, 4, 1, 3 }, new[] { 4, 1, 0, 3, 2 })]
    [InlineData(new[] { 3, 1, 5 }, new[] { 2, 1, 0 })]
    [InlineData(new[] { 1, 1, 6 }, new[] { 2, 0, 1 })]
    [InlineData(new[] { 37, 70 }, new[] { 1, 0 })]
    [InlineData(new[] { 8, 64, 16, 16 }, new[] { 0, 2, 3, 1 })] // 131072 elements: tiled and parallel
    [InlineData(new[] { 8, 64, 16, 16 }, new[] { 1, 0, 3, 2 })]
    public void PermuteMatchesNaiveIndexingForManyLayouts(int[] shape, int[] perm)
    {
        var x = TestData.Randn(7, shape);
        var y = Op.Permute(x, perm);
        Assert.Equal(perm.Select(d => shape[d]).ToArray(), y.Shape);
        Assert.Equal(NaivePermute(x, perm), y.ToArray());
    }

    [Fact]
    public void PermuteGradientIsTheInversePermutationOnTiledLayouts()
    {
        GradCheck.Check(t => Op.Permute(t[0], 0, 2, 1), [TestData.Randn(1, 2, 33, 35)]);
        GradCheck.Check(t => Op.Permute(t[0], 2, 0, 1, 3), [TestData.Randn(2, 2, 1, 3, 4)]);
    }

    [Fact]
    public void PermuteRejectsRepeatedDims() =>
        Assert.Throws<ArgumentException>(() => Op.Permute(TestData.Randn(1, 2, 3), 0, 0));

    [Fact]
    public void ConcatAlongAxis1InterleavesBlocksAndSplitsGradients()
    {
        var a = TestData.Randn(1, 2, 3, 4);
        var b = TestData.Randn(2, 2, 1, 4);
        var c = TestData.Randn(3, 2, 2, 4);
        var y = Op.Concat([a, b, c], 1);
        Assert.Equal([2, 6, 4], y.Shape);
        for (int n = 0; n < 2; n++)
            for (int k = 0; k < 4; k++)
            {
                Assert.Equal(a.Data[(n * 3 + 2) * 4 + k], y.Data[(n * 6 + 2) * 4 + k]);
                Assert.Equal(b.Data[n * 4 + k], y.Data[(n * 6 + 3) * 4 + k]);
                Assert.Equal(c.Data[(n * 2 + 1) * 4 + k], y.Data[(n * 6 + 5) * 4 + k]);
            }
        GradCheck.Check(t => Op.Concat([t[0], t[1], t[2]], 1), [a, b, c]);
    }

    [Fact]
    public void ConcatAlongFirstAndLastAxes()
    {
        GradCheck.Check(t => Op.Concat([t[0], t[1]], 0), [TestData.Randn(1, 2, 3), TestData.Randn(2, 1, 3)]);
        GradCheck.Check(t => Op.Concat([t[0], t[1]], -1), [TestData.Randn(3, 2, 3), TestData.Randn(4, 2, 2)]);
        var ex = Assert.Throws<ArgumentException>(() => Op.Concat([TestData.Randn(1, 2, 3), TestData.Randn(2, 3, 3)], 1));
        Assert.Contains("(3, 3)", ex.Message);
    }

    [Fact]
    public void SliceNarrowsAnAxis()
    {
        var x = TestData.Randn(1, 2, 5, 3);
        var y = Op.Slice(x, 1, 1, 3);
        Assert.Equal([2, 3, 3], y.Shape);
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < 3; i++)
                for (int k = 0; k < 3; k++)
                    Assert.Equal(x.Data[(n * 5 + i + 1) * 3 + k], y.Data[(n * 3 + i) * 3 + k]);
        GradCheck.Check(t => Op.Slice(t[0], 1, 1, 3), [x]);
        GradCheck.Check(t => Op.Slice(t[0], -1, 2, 1), [TestData.Randn(2, 2, 5, 3)]);
        Assert.Throws<ArgumentException>(() => Op.Slice(x, 1, 3, 3));
    }
}
