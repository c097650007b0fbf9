using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

public class ElementwiseTests
{
    /// <summary>Random normals pushed at least <paramref name="margin"/> away from zero (kinks, poles).</summary>
    internal static Tensor AwayFromZero(int seed, float margin, params int[] shape)
    {
        var t = TestData.Randn(seed, shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = s[i] >= 0 ? s[i] + margin : s[i] - margin;
        return t;
    }

    internal static Tensor Positive(int seed, params int[] shape)
    {
        var t = TestData.Randn(seed, shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = 0.5f + Math.Abs(s[i]);
        return t;
    }

    // ---- broadcasting binary ops ----------------------------------------------------------

    [Theory]
    [InlineData(new[] { 2, 3, 4, 5 }, new[] { 3, 1, 1 })]
    [InlineData(new[] { 4, 1 }, new[] { 1, 5 })]
    [InlineData(new[] { 3, 4 }, new int[0])]
    [InlineData(new int[0], new[] { 3, 4 })]
    [InlineData(new[] { 3, 4 }, new[] { 1 })]
    [InlineData(new[] { 2, 1, 4 }, new[] { 3, 1 })]
    [InlineData(new[] { 2, 3 }, new[] { 2, 3 })]
    [InlineData(new[] { 1, 3, 1, 1 }, new[] { 2, 3, 4, 5 })]
    public void BinaryOpGradientsMatchFiniteDifferencesUnderBroadcasting(int[] aShape, int[] bShape)
    {
        GradCheck.Check(t => Op.Add(t[0], t[1]), [TestData.Randn(1, aShape), TestData.Randn(2, bShape)]);
        GradCheck.Check(t => Op.Sub(t[0], t[1]), [TestData.Randn(3, aShape), TestData.Randn(4, bShape)]);
        GradCheck.Check(t => Op.Mul(t[0], t[1]), [TestData.Randn(5, aShape), TestData.Randn(6, bShape)]);
        GradCheck.Check(t => Op.Div(t[0], t[1]), [TestData.Randn(7, aShape), AwayFromZero(8, 0.7f, bShape)]);
    }

    [Fact]
    public void BroadcastValuesMatchExplicitIndexing()
    {
        var a = TestData.Randn(1, 4, 1);
        var b = TestData.Randn(2, 1, 5);
        var sum = Op.Add(a, b);
        var quotient = Op.Div(a, b);
        Assert.Equal([4, 5], sum.Shape);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 5; j++)
            {
                Assert.Equal(a.Data[i] + b.Data[j], sum.Data[i * 5 + j]);
                Assert.Equal(a.Data[i] / b.Data[j], quotient.Data[i * 5 + j]);
            }
    }

    [Fact]
    public void ChannelBroadcastOnLargeTensorMatchesScalarLoop()
    {
        // 4·16·32·32 = 65536 elements: big enough to take the parallel path.
        var x = TestData.Randn(3, 4, 16, 32, 32);
        var bias = TestData.Randn(4, 16, 1, 1);
        var scale = TestData.Randn(5, 1, 16, 1, 1);
        var y = Op.Sub(Op.Mul(x, scale), bias);
        for (int i = 0; i < x.Length; i += 97)
        {
            int c = i / 1024 % 16;
            Assert.Equal(x.Data[i] * scale.Data[c] - bias.Data[c], y.Data[i]);
        }
        var same = Op.Mul(x, x);
        for (int i = 0; i < x.Length; i += 101) Assert.Equal(x.Data[i] * x.Data[i], same.Data[i]);
    }

    [Fact]
    public void BroadcastGradientOfChannelBiasSumsOverBatchAndSpace()
    {
        var x = TestData.Randn(1, 2, 3, 4, 4);
        var bias = Tensor.Zeros(3, 1, 1);
        bias.RequiresGrad = true;
        Op.Sum(Op.Add(x, bias)).Backward();
        Assert.Equal([32f, 32f, 32f], bias.Grad!.ToArray());
    }

    [Fact]
    public void IncompatibleShapesAreRejectedWithBothShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Op.Add(TestData.Randn(1, 2, 3), TestData.Randn(2, 4)));
        Assert.Contains("(2, 3)", ex.Message);
        Assert.Contains("(4)", ex.Message);
    }

    // ---- scalar and unary ops --------------------------------------------------------------

    [Fact]
    public void ScalarOpGradientsMatchFiniteDifferences()
    {
        GradCheck.Check(t => Op.AddScalar(t[0], 2.5f), [TestData.Randn(1, 3, 4)]);
        GradCheck.Check(t => Op.MulScalar(t[0], -1.5f), [TestData.Randn(2, 3, 4)]);
        GradCheck.Check(t => Op.Neg(t[0]), [TestData.Randn(3, 5)]);
        GradCheck.Check(t => t[0] * 3f - 1f, [TestData.Randn(4, 2, 2)]);
    }

    [Fact]
    public void ClampLimitsValuesAndPassesTheGradientOnlyInsideTheBounds()
    {
        var x = Tensor.Parameter([-2f, -0.5f, 0f, 0.5f, 2f], 5);
        var y = Op.Clamp(x, -1f, 1f);
        Assert.Equal([-1f, -0.5f, 0f, 0.5f, 1f], y.ToArray());
        Op.Sum(Op.MulScalar(y, 3f)).Backward();
        Assert.Equal([0f, 3f, 3f, 3f, 0f], x.Grad!.ToArray());
        Assert.Equal([0.5f, 0.5f, 0.5f, 2f], Op.Clamp(Tensor.FromArray([-2f, 0f, 0.5f, 2f], 4), 0.5f, null).ToArray());
        Assert.Equal([-2f, 0f, 0.5f, 0.5f], Op.Clamp(Tensor.FromArray([-2f, 0f, 0.5f, 2f], 4), null, 0.5f).ToArray());
        Assert.Throws<ArgumentException>(() => Op.Clamp(x, 1f, -1f));
        // Values kept away from the bounds, so the finite differences do not cross one.
        var spread = AwayFromZero(10, 0.05f, 3, 5);
        var s = spread.Span;
        for (int i = 0; i < s.Length; i++) if (Math.Abs(Math.Abs(s[i]) - 0.8f) < 0.05f) s[i] += 0.1f;
        GradCheck.Check(t => Op.Clamp(t[0], -0.8f, 0.8f), [spread]);
    }

    [Fact]
    public void UnaryOpGradientsMatchFiniteDifferences()
    {
        GradCheck.Check(t => Op.Exp(t[0]), [TestData.Randn(1, 3, 5)]);
        GradCheck.Check(t => Op.Log(t[0]), [Positive(2, 3, 5)]);
        GradCheck.Check(t => Op.Sqrt(t[0]), [Positive(3, 3, 5)]);
        GradCheck.Check(t => Op.Abs(t[0]), [AwayFromZero(4, 0.05f, 3, 5)]);
        GradCheck.Check(t => Op.Square(t[0]), [TestData.Randn(5, 3, 5)]);
        GradCheck.Check(t => Op.Relu(t[0]), [AwayFromZero(6, 0.05f, 3, 5)]);
        GradCheck.Check(t => Op.Sigmoid(t[0]), [TestData.Randn(7, 3, 5)]);
        GradCheck.Check(t => Op.Tanh(t[0]), [TestData.Randn(8, 3, 5)]);
        // Spread to about ±4.5 so both tails of Φ, the SIMD body and the scalar tail (45 values) are exercised.
        GradCheck.Check(t => Op.Gelu(t[0]), [Scaled(TestData.Randn(9, 3, 5, 3), 1.5f)]);
    }

    private static Tensor Scaled(Tensor t, float factor)
    {
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] *= factor;
        return t;
    }

    /// <summary>x·Φ(x) and Φ(x) + x·φ(x) in float64 (Python's math.erfc), including the far negative tail.</summary>
    [Theory]
    [InlineData(-5.0, -1.4332578593959731e-06, -7.146946001792295e-06)]
    [InlineData(-3.0, -0.004049694094890287, -0.011945647204183927)]
    [InlineData(-1.0, -0.15865525393145707, -0.08331547058768629)]
    [InlineData(-0.5, -0.15426876936299344, 0.13250487534383712)]
    [InlineData(0.0, 0.0, 0.5)]
    [InlineData(0.5, 0.34573123063700656, 0.8674951246561629)]
    [InlineData(1.0, 0.8413447460685429, 1.0833154705876864)]
    [InlineData(2.0, 1.9544997361036416, 1.085231801078197)]
    [InlineData(4.0, 3.9998733150326675, 1.0005036496612265)]
    public void GeluMatchesTheErfFormToFloatPrecision(double x, double gelu, double slope)
    {
        // 17 copies so the value goes through the SIMD body and the scalar tail alike.
        var input = Tensor.FromArray(Enumerable.Repeat((float)x, 17).ToArray(), 17);
        input.RequiresGrad = true;
        var y = Op.Gelu(input);
        Op.Sum(y).Backward();
        for (int i = 0; i < 17; i++)
        {
            // Relative 1e-6 (a few float ulps): the negative tail keeps its relative accuracy.
            Assert.True(Math.Abs(y.Data[i] - gelu) <= 1e-6 * Math.Abs(gelu) + 1e-12, $"gelu({x})[{i}] = {y.Data[i]:G9}, expected {gelu:G9}");
            Assert.True(Math.Abs(input.Grad!.Data[i] - slope) <= 1e-6 * Math.Abs(slope) + 1e-7,
                $"gelu'({x})[{i}] = {input.Grad.Data[i]:G9}, expected {slope:G9}");
        }
    }

    [Fact]
    public void UnaryOpsComputeKnownValues()
    {
        var x = Tensor.FromArray([-2f, 0f, 0.5f, 3f], 4);
        Assert.Equal([0f, 0f, 0.5f, 3f], Op.Relu(x).ToArray());
        Assert.Equal([2f, 0f, 0.5f, 3f], Op.Abs(x).ToArray());
        Assert.Equal([4f, 0f, 0.25f, 9f], Op.Square(x).ToArray());
        var sig = Op.Sigmoid(x).ToArray();
        var tanh = Op.Tanh(x).ToArray();
        var exp = Op.Exp(x).ToArray();
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(1.0 / (1.0 + Math.Exp(-x.Data[i])), sig[i], 6);
            Assert.Equal(Math.Tanh(x.Data[i]), tanh[i], 6);
            Assert.Equal(Math.Exp(x.Data[i]), exp[i], 4);
        }
        Assert.Equal([0f, 1f, 2f], Op.Sqrt(Tensor.FromArray([0f, 1f, 4f], 3)).ToArray());
        Assert.Equal(Math.Log(5.0), Op.Log(Tensor.FromArray([5f], 1)).Item(), 6);
    }

    [Fact]
    public void ReluAndAbsHaveZeroGradientAtZero()
    {
        var x = Tensor.FromArray([-1f, 0f, 1f], 3);
        x.RequiresGrad = true;
        Op.Sum(Op.Relu(x)).Backward();
        Assert.Equal([0f, 0f, 1f], x.Grad!.ToArray());
        x.ZeroGrad();
        Op.Sum(Op.Abs(x)).Backward();
        Assert.Equal([-1f, 0f, 1f], x.Grad!.ToArray());
    }

    [Fact]
    public void LargeUnaryOpsMatchSmallOnes()
    {
        var x = TestData.Randn(9, 70_000);
        var y = Op.Tanh(x);
        for (int i = 0; i < x.Length; i += 997) Assert.Equal(MathF.Tanh(x.Data[i]), y.Data[i], 5);
        x.RequiresGrad = true;
        Op.Sum(Op.Relu(x)).Backward();
        for (int i = 0; i < x.Length; i += 991) Assert.Equal(x.Data[i] > 0 ? 1f : 0f, x.Grad!.Data[i]);
    }

    // ---- dropout ----------------------------------------------------------------------------

    [Fact]
    public void DropoutIsIdentityInEvaluation()
    {
        var x = TestData.Randn(1, 4, 6);
        var y = Op.Dropout(x, 0.5f, training: false, new Random(1));
        Assert.Equal(x.ToArray(), y.ToArray());
        Assert.NotSame(x, y);
    }

    [Fact]
    public void DropoutZeroesAboutPAndScalesSurvivors()
    {
        var x = Tensor.Ones(100, 100);
        var y = Op.Dropout(x, 0.3f, training: true, new Random(5)).ToArray();
        int zeros = y.Count(v => v == 0f);
        Assert.InRange(zeros, 2700, 3300); // 10⁴ Bernoulli(0.3): σ ≈ 46
        Assert.All(y, v => Assert.True(v == 0f || Math.Abs(v - 1f / 0.7f) < 1e-6f, $"unexpected value {v}"));
    }

    [Fact]
    public void DropoutIsReproducibleForASeedAndDifferentiable()
    {
        var x = TestData.Randn(2, 5, 8);
        Assert.Equal(Op.Dropout(x, 0.4f, true, new Random(3)).ToArray(), Op.Dropout(x, 0.4f, true, new Random(3)).ToArray());
        GradCheck.Check(t => Op.Dropout(t[0], 0.4f, true, new Random(3)), [x]);
        Assert.Throws<ArgumentException>(() => Op.Dropout(x, 1f, true, new Random(3)));
    }
}
