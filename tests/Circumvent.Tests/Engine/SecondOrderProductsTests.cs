using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Engine;

/// <summary>
/// <see cref="SecondOrderProducts"/> against hand computations on a quadratic, against PyTorch's double backward on a BN
/// conv net (Fixtures/second_order.safetensors) and against a finite difference taken in the other variable.
/// </summary>
public class SecondOrderProductsTests(ITestOutputHelper output)
{
    /// <summary>
    /// Tolerance against PyTorch, relative to the largest |entry| of the reference, at the default radius 0.1. Two errors
    /// remain with the activation pattern held: truncation, O(radius²), which dominates shifts of the weights (measured
    /// 4e-4 for H_θθ·u, 1.3e-3 for ∂δ⟨∇θL, u⟩), and float32 cancellation in g₊ − g₋, O(1/radius), which dominates shifts
    /// of the input, whose second derivatives are small here (5e-3 for H_δδ·v, 2e-4 for ∂θ⟨∇δL, v⟩). 2e-2 leaves room
    /// for other summation orders (BLAS back ends, thread counts); a wrong sign, factor or missing term errs by order 1,
    /// and so do the kinks the pattern removes (17× the largest entry of H_θθ·u at radius 0.01 without it).
    /// </summary>
    private const double Tolerance = 2e-2;

    // L(a, b) = ½ aᵀAa + aᵀBb + Σ b³: ∇ₐL = Aa + Bb, so (∂²L/∂a∂b)·u = B·u and H_aa·w = A·w exactly.
    private static readonly float[] A = [2f, 1f, 0f, 1f, 3f, -1f, 0f, -1f, 4f]; // (3, 3) symmetric
    private static readonly float[] B = [1f, -2f, 0.5f, 3f, -1f, 1f];            // (3, 2)

    private static Tensor QuadraticLoss(Tensor a, Tensor b)
    {
        var aCol = Op.Reshape(a, 3, 1);
        var quad = Op.MulScalar(Op.Sum(Op.Mul(aCol, Op.MatMul(Tensor.FromArray(A, 3, 3), aCol))), 0.5f);
        var cross = Op.Sum(Op.Mul(aCol, Op.MatMul(Tensor.FromArray(B, 3, 2), Op.Reshape(b, 2, 1))));
        return Op.Add(Op.Add(quad, cross), Op.Sum(Op.Mul(b, Op.Mul(b, b))));
    }

    [Fact]
    public void MixedProductOfAQuadraticIsItsCrossMatrixTimesTheDirection()
    {
        var a = Tensor.Parameter([0.3f, -0.7f, 1.1f], 3);
        var b = Tensor.Parameter([0.5f, 2f], 2);
        float[] u = [2f, -1f];
        var product = SecondOrderProducts.Mixed([b], [u], () => Gradients.Of(() => QuadraticLoss(a, b), [a]))[0];
        float[] expected = [1 * 2 + -2 * -1, 0.5f * 2 + 3 * -1, -1 * 2 + 1 * -1]; // B·u = (4, −2, −3)
        Assert.Equal(expected, product, (x, y) => Math.Abs(x - y) < 1e-3);
    }

    [Fact]
    public void HessianVectorProductOfAQuadraticIsItsMatrixTimesTheDirection()
    {
        var a = Tensor.Parameter([0.3f, -0.7f, 1.1f], 3);
        var b = Tensor.Parameter([0.5f, 2f], 2);
        float[] w = [1f, 2f, -1f];
        var product = SecondOrderProducts.HessianVector([a], [w], () => Gradients.Of(() => QuadraticLoss(a, b), [a]))[0];
        Assert.Equal([4f, 8f, -6f], product, (x, y) => Math.Abs(x - y) < 1e-3); // A·w
    }

    [Fact]
    public void ShiftedTensorsAreRestoredBitForBitAndAZeroDirectionGivesZero()
    {
        var a = Tensor.Parameter([0.3f, -0.7f, 1.1f], 3);
        var b = Tensor.Parameter([0.1f, 1e-7f], 2);
        var before = b.ToArray();
        SecondOrderProducts.Mixed([b], [[0.123f, -3.3f]], () => Gradients.Of(() => QuadraticLoss(a, b), [a]));
        Assert.Equal(before, b.ToArray());
        int calls = 0;
        var zero = SecondOrderProducts.Mixed([b], [[0f, 0f]], () => { calls++; return Gradients.Of(() => QuadraticLoss(a, b), [a]); });
        Assert.All(zero[0], v => Assert.Equal(0f, v));
        Assert.Equal(1, calls); // only for the shapes
        Assert.Throws<ArgumentException>(() => SecondOrderProducts.Mixed([b], [[1f]], () => []));
    }

    /// <summary>The step is radius/‖u‖ along u: scaling u by 1000 must scale the product by 1000 (not move b further).</summary>
    [Fact]
    public void ProductIsLinearInTheDirectionsScale()
    {
        var a = Tensor.Parameter([0.3f, -0.7f, 1.1f], 3);
        var b = Tensor.Parameter([0.5f, 2f], 2);
        var small = SecondOrderProducts.Mixed([b], [[2e-3f, -1e-3f]], () => Gradients.Of(() => QuadraticLoss(a, b), [a]))[0];
        var large = SecondOrderProducts.Mixed([b], [[2e3f, -1e3f]], () => Gradients.Of(() => QuadraticLoss(a, b), [a]))[0];
        for (int i = 0; i < 3; i++) Assert.Equal(large[i] * 1e-6, small[i], 1e-5);
    }

    private sealed class Problem
    {
        public readonly SecondOrderFixture F = new();
        public readonly ParameterSet Model;
        public readonly Tensor[] Weights;
        public readonly Tensor X, Delta;
        public readonly int[] Y;

        public Problem()
        {
            Model = F.Model().Clone(requiresGrad: true);
            Weights = [.. F.ParameterNames.Select(n => Model[n])];
            X = F.Data.F32("x");
            Y = F.Data.Labels("y");
            Delta = F.Data.F32("delta", requiresGrad: true);
        }

        public Tensor Loss() => Op.CrossEntropy(F.Architecture.Forward(Model, Op.Add(X, Delta), ForwardContext.Eval()), Y);
        public float[][] GradWeights() => Gradients.Of(Loss, Weights);
        public float[][] GradDelta() => Gradients.Of(Loss, [Delta]);
    }

    [Fact]
    public void ProductsMatchPyTorchDoubleBackwardOnABatchNormConvNet()
    {
        var p = new Problem();
        var u = p.F.PerParameter("u");
        float[][] v = [p.F.Data.F32("v").ToArray()];
        var cases = new (string Name, float[][] Ours, float[][] Torch)[]
        {
            ("H_θθ·u", SecondOrderProducts.HessianVector(p.Weights, u, p.GradWeights), p.F.PerParameter("hvp_theta")),
            ("H_δδ·v", SecondOrderProducts.HessianVector([p.Delta], v, p.GradDelta), [p.F.Data.F32("hvp_delta").ToArray()]),
            ("∂δ⟨∇θL, u⟩", SecondOrderProducts.Mixed(p.Weights, u, p.GradDelta), [p.F.Data.F32("mixed_delta").ToArray()]),
            ("∂θ⟨∇δL, v⟩", SecondOrderProducts.Mixed([p.Delta], v, p.GradWeights), p.F.PerParameter("mixed_theta")),
        };
        foreach (var (name, ours, torch) in cases)
        {
            double error = SecondOrderFixture.RelativeError(ours, torch);
            output.WriteLine($"{name}: max |ours − torch| / max |torch| = {error:E2}");
            Assert.True(error <= Tolerance, $"{name}: relative error {error:E2} > {Tolerance}");
        }
    }

    /// <summary>
    /// wᵀ·(∂²L/∂δ∂θ)·u two ways: our product (a difference in θ along u, dotted with w) and an independent central
    /// difference in δ along w of ⟨∇θL, u⟩ summed in double. Mixed partials commute, so they must agree.
    /// </summary>
    [Fact]
    public void MixedProductAgreesWithAFiniteDifferenceInTheOtherVariable()
    {
        var p = new Problem();
        var u = p.F.PerParameter("u");
        var w = p.F.Data.F32("v").ToArray();
        double ours = Dot(SecondOrderProducts.Mixed(p.Weights, u, p.GradDelta)[0], w);

        // Central difference in δ over ±h along w/‖w‖, on the linear piece at δ (the activation pattern held, as double backward does).
        const double h = 0.1;
        var delta0 = p.Delta.ToArray();
        var pattern = new ActivationPattern();
        using (pattern.Record()) p.GradWeights();
        double DirectionalAt(double step)
        {
            for (int i = 0; i < delta0.Length; i++) p.Delta.Span[i] = (float)(delta0[i] + step * w[i] / Norm(w));
            using var _ = pattern.Replay();
            var g = p.GradWeights();
            return g.Select((gk, k) => Dot(gk, u[k])).Sum();
        }
        double numeric = (DirectionalAt(h) - DirectionalAt(-h)) / (2 * h) * Norm(w);
        delta0.CopyTo(p.Delta.Span);
        output.WriteLine($"wᵀ(∂²L/∂δ∂θ)u: ours {ours:G6}, difference in δ {numeric:G6}");
        Assert.True(Math.Abs(ours - numeric) <= Tolerance * Math.Abs(numeric), $"ours {ours:G6} vs difference in δ {numeric:G6}");
    }

    private static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }

    private static double Norm(float[] a) => Math.Sqrt(Dot(a, a));
}

/// <summary><see cref="ActivationPattern"/>: a replayed pass takes the recorded ReLU masks and max-pool choices, not its own.</summary>
public class ActivationPatternTests
{
    [Fact]
    public void ReplayedReluKeepsTheRecordedMask()
    {
        var pattern = new ActivationPattern();
        using (pattern.Record()) Op.Relu(Tensor.FromArray([1f, -2f, 3f, -4f], 4));
        float[] replayed;
        using (pattern.Replay()) replayed = Op.Relu(Tensor.FromArray([-1f, 2f, 5f, -6f], 4)).ToArray();
        Assert.Equal([-1f, 0f, 5f, 0f], replayed); // x·[1, 0, 1, 0]: the recorded units, whatever the new signs
        Assert.Equal([0f, 2f, 5f, 0f], Op.Relu(Tensor.FromArray([-1f, 2f, 5f, -6f], 4)).ToArray()); // outside: plain ReLU
    }

    [Fact]
    public void ReplayedMaxPoolTakesTheRecordedElementAndRoutesItsGradientThere()
    {
        var pattern = new ActivationPattern();
        using (pattern.Record()) Op.MaxPool2d(Tensor.FromArray([1f, 5f, 2f, 3f], 1, 1, 2, 2), 2, 2);
        var x = Tensor.FromArray([9f, 5f, 2f, 3f], 1, 1, 2, 2);
        x.RequiresGrad = true;
        Tensor y;
        using (pattern.Replay()) y = Op.MaxPool2d(x, 2, 2);
        Assert.Equal(5f, y.Item()); // the recorded argmax (index 1), not the new maximum 9
        y.Backward();
        Assert.Equal([0f, 1f, 0f, 0f], x.Grad!.ToArray());
    }

    [Fact]
    public void FusedBatchNormReluTakesTheMaskToo()
    {
        Tensor Bn(float[] v) => Op.BatchNormRelu(Tensor.FromArray(v, 1, 2, 1, 1), Tensor.FromArray([1f, 1f], 2), Tensor.FromArray([0f, 0f], 2),
            Tensor.FromArray([0f, 0f], 2), Tensor.FromArray([1f, 1f], 2), false, 0f, out _);
        var pattern = new ActivationPattern();
        using (pattern.Record()) Bn([1f, -1f]);
        using (pattern.Replay()) Assert.Equal([-2f, 0f], Bn([-2f, 3f]).ToArray());
    }

    [Fact]
    public void AReplayOfADifferentNetworkIsRefused()
    {
        var pattern = new ActivationPattern();
        using (pattern.Record()) Op.Relu(Tensor.FromArray([1f, -2f], 2));
        using (pattern.Replay())
            Assert.Throws<InvalidOperationException>(() => Op.Relu(Tensor.FromArray([1f, -2f, 3f], 3)));
    }
}
