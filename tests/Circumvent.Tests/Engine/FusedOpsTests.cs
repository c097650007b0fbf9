using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

/// <summary>The fused ops equal their compositions, value and gradient, and pass finite differences.</summary>
public class FusedOpsTests
{
    private static Tensor[] BnInputs(int seed) =>
    [
        TestData.Randn(seed, 4, 3, 5, 5), TestData.Randn(seed + 1, 3), TestData.Randn(seed + 2, 3),
    ];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BatchNormReluGradientMatchesFiniteDifferences(bool training)
    {
        var rm = TestData.Randn(9, 3);
        var rv = Tensor.FromArray([0.5f, 1.5f, 2f], 3);
        var inputs = BnInputs(1);
        ReluKink.MoveBatchNormInputsAway(inputs[0], inputs[1], inputs[2], rm, rv, training, margin: 0.05f);
        GradCheck.Check(t => Op.BatchNormRelu(t[0], t[1], t[2], rm, rv, training, 1e-5f, out _), inputs);
    }

    [Fact]
    public void BatchNormReluEqualsReluOfBatchNorm()
    {
        var rm = Tensor.Zeros(3);
        var rv = Tensor.Ones(3);
        var a = BnInputs(3);
        var b = a.Select(t => t.Clone()).ToArray();
        foreach (var t in a.Concat(b)) t.RequiresGrad = true;
        var fused = Op.BatchNormRelu(a[0], a[1], a[2], rm, rv, true, 1e-5f, out var fusedStats);
        var composed = Op.Relu(Op.BatchNorm(b[0], b[1], b[2], rm, rv, true, 1e-5f, out var stats));
        Assert.Equal(composed.ToArray(), fused.ToArray());
        Assert.Equal(stats!.UnbiasedVar, fusedStats!.UnbiasedVar);
        var seed = TestData.Randn(5, fused.Shape);
        fused.Backward(seed);
        composed.Backward(seed);
        for (int i = 0; i < a.Length; i++) Assert.Equal(b[i].Grad!.ToArray(), a[i].Grad!.ToArray());
    }

    public static IEnumerable<object[]> ConvBackendNames => ConvBackends.Each;

    [SkippableTheory]
    [MemberData(nameof(ConvBackendNames))]
    public void ConvWithResidualGradientMatchesFiniteDifferences(string backend)
    {
        using var _ = ConvBackends.Use(backend);
        GradCheck.Check(t => Op.Conv2d(t[0], t[1], null, 1, 1, residual: t[2]),
            [TestData.Randn(1, 2, 3, 5, 5), TestData.Randn(2, 4, 3, 3, 3), TestData.Randn(3, 2, 4, 5, 5)]);
    }

    [SkippableTheory]
    [MemberData(nameof(ConvBackendNames))]
    public void ConvWithResidualEqualsConvPlusResidual(string backend)
    {
        using var _ = ConvBackends.Use(backend);
        var x = TestData.Randn(1, 2, 3, 6, 6);
        var w = TestData.Randn(2, 4, 3, 3, 3);
        var r = TestData.Randn(3, 2, 4, 3, 3);
        var fused = Op.Conv2d(x, w, null, 2, 1, residual: r);
        var composed = Op.Add(Op.Conv2d(x, w, null, 2, 1), r);
        Assert.Equal(composed.ToArray(), fused.ToArray());
    }

    [Fact]
    public void ConvResidualOfWrongShapeIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            Op.Conv2d(TestData.Randn(1, 1, 3, 6, 6), TestData.Randn(2, 4, 3, 3, 3), null, 1, 1, residual: TestData.Randn(3, 1, 4, 5, 5)));
        Assert.Contains("residual (1, 4, 5, 5) must match the output (1, 4, 6, 6)", ex.Message);
    }
}
