using System.Buffers;
using System.Numerics.Tensors;
using Circumvent.Engine.Kernels;

namespace Circumvent.Engine;

/// <summary>
/// Sums, means and maxima over all elements or one axis. An axis reduction views the input as
/// (outer, n, inner) with n the reduced axis. Sums accumulate in double.
/// </summary>
public static partial class Op
{
    /// <summary>Sum of all elements → scalar (shape []).</summary>
    public static Tensor Sum(Tensor a) => SumAll(a, 1.0, "sum");
    public static Tensor Sum(Tensor a, int axis, bool keepDim = false) => SumAxis(a, axis, keepDim, mean: false);
    public static Tensor Mean(Tensor a) => SumAll(a, 1.0 / a.Length, "mean");
    public static Tensor Mean(Tensor a, int axis, bool keepDim = false) => SumAxis(a, axis, keepDim, mean: true);

    /// <summary>Maximum over all elements → scalar; gradient flows to the first maximal element.</summary>
    public static Tensor Max(Tensor a)
    {
        if (a.Length == 0) throw new ArgumentException("max: the tensor is empty.");
        int best = FirstMaxIndex(a.Span, 0, a.Length, 1);
        var y = Tensor.Empty();
        y.Data[0] = a.Data[best];
        return y.WithBackward("max", [a], gy => a.GradSpan()[best] += gy.Data[0]);
    }

    public static Tensor Max(Tensor a, int axis, bool keepDim = false)
    {
        var (outer, n, inner, outShape) = AxisLayout(a, axis, keepDim);
        if (n == 0) throw new ArgumentException($"max: axis {axis} of shape {Shape.Format(a.Shape)} is empty.");
        var y = Tensor.Empty(outShape);
        var argmax = new int[outer * inner]; // flat input index of each output's maximum
        var x = a.Data;
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int best = FirstMaxIndex(x, o * n * inner + i, n, inner);
                argmax[o * inner + i] = best;
                y.Data[o * inner + i] = x[best];
            }
        return y.WithBackward("max_axis", [a], gy =>
        {
            var gx = a.GradSpan();
            var g = gy.Data;
            for (int j = 0; j < argmax.Length; j++) gx[argmax[j]] += g[j];
        });
    }

    /// <summary>Index of the maximum along the last axis of a (N × C) tensor (no gradient).</summary>
    public static int[] ArgMax(Tensor a)
    {
        Shape.CheckRank(a, 2, "argmax");
        int rows = a.Shape[0], c = a.Shape[1];
        if (c == 0) throw new ArgumentException($"argmax: shape {Shape.Format(a.Shape)} has no classes.");
        var result = new int[rows];
        for (int r = 0; r < rows; r++) result[r] = FirstMaxIndex(a.Data, r * c, c, 1) - r * c;
        return result;
    }

    private static Tensor SumAll(Tensor a, double scale, string name)
    {
        var y = Tensor.Empty();
        y.Data[0] = (float)(ElementwiseKernels.SumDouble(a.Span) * scale);
        return y.WithBackward(name, [a], gy =>
        {
            var gx = a.GradSpan();
            TensorPrimitives.Add(gx, (float)(gy.Data[0] * scale), gx);
        });
    }

    private static Tensor SumAxis(Tensor a, int axis, bool keepDim, bool mean)
    {
        var (outer, n, inner, outShape) = AxisLayout(a, axis, keepDim);
        float scale = mean ? 1f / n : 1f;
        var y = Tensor.Empty(outShape);
        float[] x = a.Data, yd = y.Data;
        Parallelism.ForRanges(outer, (long)n * inner, (o0, o1) =>
        {
            var acc = ArrayPool<double>.Shared.Rent(inner);
            for (int o = o0; o < o1; o++)
            {
                int baseIndex = o * n * inner;
                if (inner == 1) { yd[o] = (float)(ElementwiseKernels.SumDouble(x.AsSpan(baseIndex, n)) * scale); continue; }
                Array.Clear(acc, 0, inner);
                for (int k = 0; k < n; k++)
                {
                    int row = baseIndex + k * inner;
                    for (int i = 0; i < inner; i++) acc[i] += x[row + i];
                }
                for (int i = 0; i < inner; i++) yd[o * inner + i] = (float)(acc[i] * scale);
            }
            ArrayPool<double>.Shared.Return(acc);
        });
        return y.WithBackward(mean ? "mean_axis" : "sum_axis", [a], gy =>
        {
            // dX[o, k, i] += scale · dY[o, i] for every k
            var gx = a.GradSpan();
            var g = gy.Span;
            for (int o = 0; o < outer; o++)
            {
                var gRow = g.Slice(o * inner, inner);
                for (int k = 0; k < n; k++)
                {
                    var dst = gx.Slice((o * n + k) * inner, inner);
                    if (mean) TensorPrimitives.MultiplyAdd(gRow, scale, dst, dst);
                    else TensorPrimitives.Add(dst, gRow, dst);
                }
            }
        });
    }

    /// <summary>(outer, n, inner) view of <paramref name="a"/> around <paramref name="axis"/> and the reduced shape.</summary>
    private static (int outer, int n, int inner, int[] outShape) AxisLayout(Tensor a, int axis, bool keepDim)
    {
        int ax = Shape.Axis(axis, a.Rank);
        int outer = Shape.Size(a.Shape.AsSpan(0, ax)), n = a.Shape[ax], inner = Shape.Size(a.Shape.AsSpan(ax + 1));
        int[] outShape = keepDim
            ? a.Shape.Select((d, i) => i == ax ? 1 : d).ToArray()
            : a.Shape.Where((_, i) => i != ax).ToArray();
        return (outer, n, inner, outShape);
    }

    // Flat index of the first maximum among x[start + k·stride], k < count.
    // NOTE: a NaN is replaced by any later value (PyTorch would propagate the NaN).
    private static int FirstMaxIndex(ReadOnlySpan<float> x, int start, int count, int stride)
    {
        int best = start;
        float bestValue = x[start];
        for (int k = 1; k < count; k++)
        {
            int j = start + k * stride;
            if (x[j] > bestValue || float.IsNaN(bestValue)) { bestValue = x[j]; best = j; }
        }
        return best;
    }
}
