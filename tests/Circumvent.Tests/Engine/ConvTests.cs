using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

public class ConvTests
{
    public static IEnumerable<object[]> GradientCases => ConvBackends.Cross(new object[][]
    {
        [2, 3, 5, 6, 4, 3, 3, 1, 0],   // plain 3×3, non-square image
        [2, 3, 5, 6, 4, 3, 3, 1, 1],   // same padding
        [2, 2, 7, 5, 3, 3, 3, 2, 1],   // stride 2, padding 1, odd sizes
        [2, 3, 4, 5, 4, 1, 1, 1, 0],   // 1×1 pointwise fast path
        [2, 3, 5, 5, 2, 1, 1, 2, 0],   // 1×1 with stride 2 goes through im2col
        [1, 2, 6, 7, 3, 2, 3, 2, 1],   // non-square kernel
        [3, 1, 4, 4, 2, 4, 4, 1, 0],   // kernel covers the whole image
    });

    public static IEnumerable<object[]> Backends => ConvBackends.Each;

    [SkippableTheory]
    [MemberData(nameof(GradientCases))]
    public void Conv2dGradientMatchesFiniteDifferences(int n, int c, int h, int w, int o, int kh, int kw, int stride, int padding, string backend)
    {
        using var _ = ConvBackends.Use(backend);
        GradCheck.Check(t => Op.Conv2d(t[0], t[1], t[2], stride, padding),
            [TestData.Randn(1, n, c, h, w), TestData.Randn(2, o, c, kh, kw), TestData.Randn(3, o)]);
    }

    [SkippableTheory]
    [MemberData(nameof(Backends))]
    public void Conv2dWithoutBiasGradientMatchesFiniteDifferences(string backend)
    {
        using var _ = ConvBackends.Use(backend);
        GradCheck.Check(t => Op.Conv2d(t[0], t[1], null, 2, 1), [TestData.Randn(4, 2, 2, 6, 5), TestData.Randn(5, 3, 2, 3, 3)]);
    }

    [SkippableTheory]
    [MemberData(nameof(Backends))]
    public void Conv2dOnlyComputesRequestedGradients(string backend)
    {
        using var _ = ConvBackends.Use(backend);
        var x = TestData.Randn(1, 2, 3, 5, 5);
        var weight = TestData.Randn(2, 4, 3, 3, 3);
        weight.RequiresGrad = true;
        var y = Op.Conv2d(x, weight, null, 1, 1);
        y.Backward(TestData.Randn(3, y.Shape));
        Assert.Null(x.Grad);
        Assert.NotNull(weight.Grad);
    }

    [SkippableTheory]
    [MemberData(nameof(Backends))]
    public void Conv2dGradientsAccumulateAcrossBackwardCalls(string backend)
    {
        using var _ = ConvBackends.Use(backend);
        var x = TestData.Randn(1, 2, 3, 6, 6);
        var weight = TestData.Randn(2, 4, 3, 3, 3);
        weight.RequiresGrad = x.RequiresGrad = true;
        var gy = TestData.Randn(3, 2, 4, 3, 3);
        Op.Conv2d(x, weight, null, 2, 1).Backward(gy);
        var once = weight.Grad!.ToArray();
        var onceX = x.Grad!.ToArray();
        Op.Conv2d(x, weight, null, 2, 1).Backward(gy);
        ConvReferenceTests.AssertClose(once.Select(v => 2.0 * v).ToArray(), weight.Grad!.ToArray(), "dW twice");
        ConvReferenceTests.AssertClose(onceX.Select(v => 2.0 * v).ToArray(), x.Grad!.ToArray(), "dX twice");
    }

    [SkippableTheory]
    [MemberData(nameof(Backends))]
    public void Conv2dGradientsAreDeterministicAcrossRuns(string backend)
    {
        using var _ = ConvBackends.Use(backend);
        // N = 8 splits the batch across threads; the per-thread dW partials are reduced in a fixed order.
        var x = TestData.Randn(1, 8, 3, 10, 10);
        var weight = TestData.Randn(2, 6, 3, 3, 3);
        var gy = TestData.Randn(3, 8, 6, 10, 10);
        float[] WeightGrad()
        {
            var w = weight.Clone(requiresGrad: true);
            Op.Conv2d(x, w, null, 1, 1).Backward(gy);
            return w.Grad!.ToArray();
        }
        Assert.Equal(WeightGrad(), WeightGrad());
    }

    [Fact]
    public void Conv2dRejectsChannelMismatchWithClearMessage()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            Op.Conv2d(Tensor.Zeros(8, 1, 28, 28), Tensor.Zeros(16, 3, 3, 3), null, 1, 1));
        Assert.Equal("conv2d: weight (16, 3, 3, 3) expects 3 input channels, input has 1 (shape (8, 1, 28, 28)).", ex.Message);
    }

    [Fact]
    public void Conv2dRejectsBadRanksBiasAndGeometry()
    {
        Assert.Contains("(N, C, H, W)", Assert.Throws<ArgumentException>(() => Op.Conv2d(Tensor.Zeros(1, 28, 28), Tensor.Zeros(4, 1, 3, 3), null)).Message);
        Assert.Contains("bias must have shape (4)", Assert.Throws<ArgumentException>(() => Op.Conv2d(Tensor.Zeros(1, 1, 5, 5), Tensor.Zeros(4, 1, 3, 3), Tensor.Zeros(3))).Message);
        Assert.Contains("does not fit", Assert.Throws<ArgumentException>(() => Op.Conv2d(Tensor.Zeros(1, 1, 2, 5), Tensor.Zeros(4, 1, 3, 3), null)).Message);
        Assert.Contains("stride", Assert.Throws<ArgumentException>(() => Op.Conv2d(Tensor.Zeros(1, 1, 5, 5), Tensor.Zeros(4, 1, 3, 3), null, 0)).Message);
    }
}
