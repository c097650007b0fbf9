using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Circumvent.Engine.Kernels;

/// <summary>Span helpers shared by the elementwise, reduction and loss ops.</summary>
public static class ElementwiseKernels
{
    /// <summary>
    /// Sum with double accumulators. NOTE: float accumulation drifts systematically on long
    /// spans (a million 0.1f sum to 100000.1 with chunked float sums), so lanes are widened to
    /// double before adding; AVX2 still processes 8 floats per step.
    /// </summary>
    public static double SumDouble(ReadOnlySpan<float> x)
    {
        int i = 0;
        double s = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= 8)
        {
            var acc0 = Vector256<double>.Zero;
            var acc1 = Vector256<double>.Zero;
            ref float start = ref MemoryMarshal.GetReference(x);
            for (; i <= x.Length - 8; i += 8)
            {
                var (lower, upper) = Vector256.Widen(Vector256.LoadUnsafe(ref start, (nuint)i));
                acc0 += lower;
                acc1 += upper;
            }
            s = Vector256.Sum(acc0 + acc1);
        }
        for (; i < x.Length; i++) s += x[i];
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
