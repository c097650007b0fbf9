using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

/// <summary>
/// The fused conv(relu(bn(x))) op: same values, gradients and batch statistics as the two ops it replaces
/// (which have their own PyTorch fixtures; PreAct-ResNet18's model parity test runs through it too), and
/// finite differences.
/// </summary>
public class BatchNormReluConvTests
{
    public static IEnumerable<object[]> Cases => ConvBackends.Cross(
    [
        [true, false, false],
        [true, true, true],
        [false, true, false],
        [false, false, true],
    ]);

    // 16 channels so that the dnnl backend really runs on oneDNN (it takes 3×3 kernels over 16+ channels).
    private static Tensor[] Inputs(int seed, bool bias, bool residual)
    {
        var list = new List<Tensor>
        {
            TestData.Randn(seed, 3, 16, 6, 6), TestData.Randn(seed + 1, 16), TestData.Randn(seed + 2, 16),
            Op.MulScalar(TestData.Randn(seed + 3, 5, 16, 3, 3), 0.2f),
        };
        if (bias) list.Add(TestData.Randn(seed + 4, 5));
        if (residual) list.Add(TestData.Randn(seed + 5, 3, 5, 6, 6));
        return [.. list];
    }

    private static Tensor Fused(Tensor[] t, bool training, bool bias, bool residual, out BatchStatistics? stats) =>
        Op.BatchNormReluConv2d(t[0], t[1], t[2], RunningMean, RunningVar, training, 1e-5f, out stats,
            t[3], bias ? t[4] : null, 1, 1, residual ? t[^1] : null);

    private static Tensor Composed(Tensor[] t, bool training, bool bias, bool residual, out BatchStatistics? stats) =>
        Op.Conv2d(Op.BatchNormRelu(t[0], t[1], t[2], RunningMean, RunningVar, training, 1e-5f, out stats),
            t[3], bias ? t[4] : null, 1, 1, residual ? t[^1] : null);

    private static readonly Tensor RunningMean = Op.MulScalar(TestData.Randn(40, 16), 0.1f);
    private static readonly Tensor RunningVar = Op.AddScalar(Op.Abs(TestData.Randn(41, 16)), 0.5f);

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void EqualsBatchNormReluThenConv(bool training, bool bias, bool residual, string backend)
    {
        using var _ = ConvBackends.Use(backend);
        var a = Inputs(1, bias, residual);
        var b = a.Select(t => t.Clone()).ToArray();
        foreach (var t in a.Concat(b)) t.RequiresGrad = true;
        var fused = Fused(a, training, bias, residual, out var fusedStats);
        var composed = Composed(b, training, bias, residual, out var stats);
        // The same kernels on the same values: bit for bit.
        Assert.Equal(composed.ToArray(), fused.ToArray());
        Assert.Equal(stats?.Mean, fusedStats?.Mean);
        Assert.Equal(stats?.UnbiasedVar, fusedStats?.UnbiasedVar);
        var seed = TestData.Randn(7, fused.Shape);
        fused.Backward(seed);
        composed.Backward(seed);
        for (int i = 0; i < a.Length; i++)
            Assert.Equal(b[i].Grad!.ToArray(), a[i].Grad!.ToArray());
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void GradientMatchesFiniteDifferences(bool training, bool bias, bool residual, string backend)
    {
        using var scope = ConvBackends.Use(backend);
        var inputs = Inputs(3, bias, residual);
        // Margin 0.05 exceeds what the default step of 0.01 shifts a pre-activation by (|γ|/σ, |x̂| < 3 here).
        ReluKink.MoveBatchNormInputsAway(inputs[0], inputs[1], inputs[2], RunningMean, RunningVar, training, margin: 0.05f);
        GradCheck.Check(t => Fused(t, training, bias, residual, out _), inputs);
    }

    [Fact]
    public void GradientsOnlyFlowWhereRequested()
    {
        var t = Inputs(5, bias: false, residual: false);
        t[3].RequiresGrad = true; // only the convolution weight
        Fused(t, training: true, bias: false, residual: false, out _).Backward(TestData.Randn(8, 3, 5, 6, 6));
        Assert.NotNull(t[3].Grad);
        Assert.Null(t[0].Grad);
        Assert.Null(t[1].Grad);
    }

    [Fact]
    public void WithoutGradientsItRecordsNoGraph()
    {
        var t = Inputs(6, bias: true, residual: false);
        var y = Fused(t, training: false, bias: true, residual: false, out var stats);
        Assert.False(y.RequiresGrad);
        Assert.Null(stats);
    }

    [Fact]
    public void MismatchedShapesAreRejected()
    {
        var t = Inputs(7, bias: false, residual: false);
        var ex = Assert.Throws<ArgumentException>(() => Op.BatchNormReluConv2d(t[0], t[1], t[2], RunningMean, RunningVar, true, 1e-5f, out _,
            TestData.Randn(9, 5, 8, 3, 3), null, 1, 1));
        Assert.Contains("expects 8 input channels, input has 16", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Op.BatchNormReluConv2d(t[0], TestData.Randn(9, 8), t[2], RunningMean, RunningVar, true, 1e-5f, out _,
            t[3], null, 1, 1));
        Assert.Contains("weight must have shape (16)", ex.Message);
    }
}
