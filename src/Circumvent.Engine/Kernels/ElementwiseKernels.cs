using System.Numerics.Tensors;

namespace Circumvent.Engine.Kernels;

/// <summary>Span helpers shared by the elementwise, reduction and loss ops.</summary>
public static class ElementwiseKernels
{
    // NOTE: float sums of long spans lose digits; summing SIMD-friendly float chunks into a double
    // keeps the error at the chunk level (~1e-7 relative) while staying vectorised.
    private const int SumChunk = 1024;

    public static double SumDouble(ReadOnlySpan<float> x)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i += SumChunk)
            s += TensorPrimitives.Sum(x.Slice(i, Math.Min(SumChunk, x.Length - i)));
        return s;
    }

    /// <summary>Runs a span kernel over [0, length) in per-thread chunks when the tensor is big.</summary>
    public static void Map(float[] x, float[] y, SpanMap kernel) =>
        Parallelism.ForRanges(y.Length, 4, (s, e) => kernel(x.AsSpan(s, e - s), y.AsSpan(s, e - s)));

    /// <summary>Runs a three-span kernel (e.g. gradient = f(gy, x or y) accumulated into g) in chunks.</summary>
    public static void Map(float[] a, float[] b, float[] g, SpanMap2 kernel) =>
        Parallelism.ForRanges(g.Length, 4, (s, e) => kernel(a.AsSpan(s, e - s), b.AsSpan(s, e - s), g.AsSpan(s, e - s)));

    public delegate void SpanMap(ReadOnlySpan<float> x, Span<float> y);
    public delegate void SpanMap2(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> g);
}
