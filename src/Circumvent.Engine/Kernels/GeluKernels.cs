using System.Numerics;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// The exact GELU, x·Φ(x) with Φ the standard normal CDF (PyTorch's nn.GELU(approximate='none')), and its
/// derivative Φ(x) + x·φ(x), over spans, one SIMD vector at a time.
/// </summary>
/// <remarks>
/// Φ(x) = ½·erfc(−x/√2). .NET has no erf, so erfc(z), z ≥ 0, comes from the Chebyshev fit
/// t·exp(−z² + P(t)), t = 1/(1 + z/2), whose relative error is below 1.2·10⁻⁷ for every z ≥ 0
/// (Press et al., Numerical Recipes, erfcc). NOTE: for x &lt; 0 Φ is taken from erfc directly, never as
/// 1 − something, so GELU keeps its relative accuracy far into the negative tail (GELU(−5) ≈ −1.4·10⁻⁶);
/// for x ≥ 0, Φ = 1 − ½·erfc(x/√2) is accurate in absolute terms, which is what 1 + erf needs there.
/// </remarks>
public static class GeluKernels
{
    private const float InvSqrt2 = 0.70710678118654752f;
    private const float InvSqrt2Pi = 0.39894228040143268f;

    /// <summary>y = GELU(x).</summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0, w = Vector<float>.Count;
        for (; i <= x.Length - w; i += w)
        {
            var v = new Vector<float>(x.Slice(i));
            (v * Cdf(v)).CopyTo(y.Slice(i));
        }
        for (; i < x.Length; i++) y[i] = x[i] * Cdf(x[i]);
    }

    /// <summary>gx += gy · (Φ(x) + x·φ(x)).</summary>
    public static void Backward(ReadOnlySpan<float> gy, ReadOnlySpan<float> x, Span<float> gx)
    {
        int i = 0, w = Vector<float>.Count;
        for (; i <= x.Length - w; i += w)
        {
            var v = new Vector<float>(x.Slice(i));
            var pdf = Vector.Exp(v * v * -0.5f) * InvSqrt2Pi;
            var slope = Cdf(v) + v * pdf;
            (new Vector<float>(gx.Slice(i)) + new Vector<float>(gy.Slice(i)) * slope).CopyTo(gx.Slice(i));
        }
        for (; i < x.Length; i++)
        {
            float pdf = MathF.Exp(-0.5f * x[i] * x[i]) * InvSqrt2Pi;
            gx[i] += gy[i] * (Cdf(x[i]) + x[i] * pdf);
        }
    }

    /// <summary>Φ(x), elementwise.</summary>
    private static Vector<float> Cdf(Vector<float> x)
    {
        var z = Vector.Abs(x) * InvSqrt2;
        var t = Vector<float>.One / (Vector<float>.One + z * 0.5f);
        var halfErfc = t * Vector.Exp(Exponent(z, t)) * 0.5f;
        return Vector.ConditionalSelect(Vector.LessThan(x, Vector<float>.Zero), halfErfc, Vector<float>.One - halfErfc);
    }

    private static float Cdf(float x)
    {
        float z = MathF.Abs(x) * InvSqrt2;
        float t = 1f / (1f + 0.5f * z);
        float halfErfc = 0.5f * t * MathF.Exp(Exponent(z, t));
        return x < 0f ? halfErfc : 1f - halfErfc;
    }

    // −z² + P(t): the exponent of the erfc fit, P in Horner form (the scalar overload is the same polynomial).
    private static Vector<float> Exponent(Vector<float> z, Vector<float> t)
    {
        var p = t * 0.17087277f + new Vector<float>(-0.82215223f);
        p = p * t + new Vector<float>(1.48851587f);
        p = p * t + new Vector<float>(-1.13520398f);
        p = p * t + new Vector<float>(0.27886807f);
        p = p * t + new Vector<float>(-0.18628806f);
        p = p * t + new Vector<float>(0.09678418f);
        p = p * t + new Vector<float>(0.37409196f);
        p = p * t + new Vector<float>(1.00002368f);
        p = p * t + new Vector<float>(-1.26551223f);
        return p - z * z;
    }

    private static float Exponent(float z, float t) => Exponent(new Vector<float>(z), new Vector<float>(t))[0];
}
