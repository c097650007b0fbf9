using System.Numerics;
using System.Numerics.Tensors;
using Circumvent.Engine.Kernels;

namespace Circumvent.Engine;

/// <summary>Unary elementwise maps and dropout: forward by TensorPrimitives, backward from x or y.</summary>
public static partial class Op
{
    public static Tensor Exp(Tensor a) =>
        Unary("exp", a, TensorPrimitives.Exp, (gy, x, y, gx) =>
        {
            for (int i = 0; i < gx.Length; i++) gx[i] += gy[i] * y[i];
        });

    public static Tensor Log(Tensor a) =>
        Unary("log", a, TensorPrimitives.Log, (gy, x, y, gx) =>
        {
            for (int i = 0; i < gx.Length; i++) gx[i] += gy[i] / x[i];
        });

    public static Tensor Sqrt(Tensor a) =>
        Unary("sqrt", a, TensorPrimitives.Sqrt, (gy, x, y, gx) =>
        {
            // NOTE: infinite at x = 0, as in PyTorch.
            for (int i = 0; i < gx.Length; i++) gx[i] += 0.5f * gy[i] / y[i];
        });

    /// <summary>
    /// torch.clamp: each value limited to [min, max] (a bound not given does not limit). The gradient passes where
    /// min ≤ x ≤ max and is 0 where a bound replaced the value.
    /// </summary>
    public static Tensor Clamp(Tensor a, float? min, float? max)
    {
        float lo = min ?? float.NegativeInfinity, hi = max ?? float.PositiveInfinity;
        if (lo > hi) throw new ArgumentException($"clamp: min {lo} is above max {hi}.");
        return Unary("clamp", a, (x, y) => { for (int i = 0; i < x.Length; i++) y[i] = Math.Clamp(x[i], lo, hi); }, (gy, x, y, gx) =>
        {
            for (int i = 0; i < gx.Length; i++) if (x[i] >= lo && x[i] <= hi) gx[i] += gy[i];
        });
    }

    public static Tensor Abs(Tensor a) =>
        Unary("abs", a, TensorPrimitives.Abs, (gy, x, y, gx) =>
        {
            for (int i = 0; i < gx.Length; i++) gx[i] += x[i] > 0 ? gy[i] : x[i] < 0 ? -gy[i] : 0f;
        });

    public static Tensor Square(Tensor a) =>
        Unary("square", a, (x, y) => TensorPrimitives.Multiply(x, x, y), (gy, x, y, gx) =>
        {
            for (int i = 0; i < gx.Length; i++) gx[i] += 2f * x[i] * gy[i];
        });

    /// <summary>max(x, 0); the gradient at exactly 0 is 0, as in PyTorch.</summary>
    public static Tensor Relu(Tensor a) => Autograd.ActivationPattern.Current is { } pattern ? PatternRelu(pattern, a) :
        Unary("relu", a, (x, y) => TensorPrimitives.Max(x, 0f, y), ReluBackward);

    /// <summary>The exact GELU, x·Φ(x) (PyTorch's nn.GELU() default, approximate='none'); see <see cref="GeluKernels"/>.</summary>
    public static Tensor Gelu(Tensor a) =>
        Unary("gelu", a, GeluKernels.Forward, (gy, x, y, gx) => GeluKernels.Backward(gy, x, gx));

    public static Tensor Sigmoid(Tensor a) =>
        Unary("sigmoid", a, TensorPrimitives.Sigmoid, (gy, x, y, gx) =>
        {
            for (int i = 0; i < gx.Length; i++) gx[i] += gy[i] * y[i] * (1f - y[i]);
        });

    public static Tensor Tanh(Tensor a) =>
        Unary("tanh", a, TensorPrimitives.Tanh, (gy, x, y, gx) =>
        {
            for (int i = 0; i < gx.Length; i++) gx[i] += gy[i] * (1f - y[i] * y[i]);
        });

    /// <summary>Inverted dropout: zeroes with probability p and scales survivors by 1/(1−p) in training; identity otherwise.</summary>
    public static Tensor Dropout(Tensor a, float p, bool training, Random rng)
    {
        if (!(p >= 0f && p < 1f))
            throw new ArgumentException($"dropout: probability must be in [0, 1), got {p}.");
        if (!training || p == 0f) return AddScalar(a, 0f); // a fresh tensor with an identity gradient

        float keepScale = 1f / (1f - p);
        var y = Tensor.Empty(a.Shape.ToArray());
        float[] x = a.Data, yd = y.Data;
        if (!Tensor.NeedsGraph(a))
        {
            for (int i = 0; i < yd.Length; i++) yd[i] = rng.NextDouble() < p ? 0f : x[i] * keepScale;
            return y;
        }

        // The mask holds 0 or 1/(1−p) so that forward and backward are one multiply each.
        var mask = Tensor.Empty(a.Shape.ToArray());
        var m = mask.Data;
        for (int i = 0; i < m.Length; i++) m[i] = rng.NextDouble() < p ? 0f : keepScale;
        TensorPrimitives.Multiply(x, m, yd);
        return y.WithBackward("dropout", [a], gy =>
        {
            var gx = a.GradSpan();
            TensorPrimitives.MultiplyAdd(gy.Data, m, gx, gx);
        });
    }

    private delegate void UnaryGrad(ReadOnlySpan<float> gy, ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> gx);

    private static Tensor Unary(string name, Tensor a, ElementwiseKernels.SpanMap forward, UnaryGrad grad)
    {
        var y = Tensor.Empty(a.Shape.ToArray());
        ElementwiseKernels.Map(a.Data, y.Data, forward);
        return y.WithBackward(name, [a], gy =>
        {
            a.GradSpan();
            float[] g = gy.Data, x = a.Data, yd = y.Data, gx = a.Grad!.Data;
            Parallelism.ForRanges(gx.Length, 4, (s, e) =>
                grad(g.AsSpan(s, e - s), x.AsSpan(s, e - s), yd.AsSpan(s, e - s), gx.AsSpan(s, e - s)));
        });
    }

    private static void ReluBackward(ReadOnlySpan<float> gy, ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> gx)
    {
        int i = 0, w = Vector<float>.Count;
        for (; i <= gx.Length - w; i += w)
        {
            var keep = Vector.GreaterThan(new Vector<float>(x.Slice(i)), Vector<float>.Zero);
            var add = Vector.ConditionalSelect(keep, new Vector<float>(gy.Slice(i)), Vector<float>.Zero);
            (new Vector<float>(gx.Slice(i)) + add).CopyTo(gx.Slice(i));
        }
        for (; i < gx.Length; i++) if (x[i] > 0f) gx[i] += gy[i];
    }
}
