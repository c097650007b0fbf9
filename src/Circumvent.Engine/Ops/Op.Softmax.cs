using System.Numerics.Tensors;
using Circumvent.Engine.Kernels;
using Circumvent.Engine.Memory;

namespace Circumvent.Engine;

/// <summary>
/// Softmax and log-softmax over any axis, viewing the input as (outer, n, inner). With inner = 1
/// (the class axis of logits) each lane is a contiguous row; otherwise the n rows of length inner
/// are combined elementwise so every step stays a contiguous span op.
/// </summary>
public static partial class Op
{
    public static Tensor Softmax(Tensor a, int axis = -1) => SoftmaxCore(a, axis, log: false);
    public static Tensor LogSoftmax(Tensor a, int axis = -1) => SoftmaxCore(a, axis, log: true);

    private static Tensor SoftmaxCore(Tensor a, int axis, bool log)
    {
        var (outer, n, inner, _) = AxisLayout(a, axis, keepDim: true);
        var y = Tensor.Empty(a.Shape.ToArray());
        float[] x = a.Data, yd = y.Data;
        int block = n * inner;
        Parallelism.ForRanges(outer, 4L * block, (o0, o1) =>
        {
            var scratch = BufferPool.Rent(2 * inner);
            for (int o = o0; o < o1; o++)
                SoftmaxBlock(x.AsSpan(o * block, block), yd.AsSpan(o * block, block), n, inner, log, scratch);
            BufferPool.Return(scratch);
        });
        return y.WithBackward(log ? "log_softmax" : "softmax", [a], gy =>
        {
            a.GradSpan();
            float[] g = gy.Data, gx = a.Grad!.Data;
            Parallelism.ForRanges(outer, 4L * block, (o0, o1) =>
            {
                var scratch = BufferPool.Rent(2 * inner);
                for (int o = o0; o < o1; o++)
                    SoftmaxBlockBackward(g.AsSpan(o * block, block), yd.AsSpan(o * block, block), gx.AsSpan(o * block, block), n, inner, log, scratch);
                BufferPool.Return(scratch);
            });
        });
    }

    // One (n, inner) block: softmax over n for each of the inner positions.
    private static void SoftmaxBlock(ReadOnlySpan<float> x, Span<float> y, int n, int inner, bool log, float[] scratch)
    {
        if (inner == 1)
        {
            // NOTE: subtracting the maximum keeps exp() from overflowing.
            float max = TensorPrimitives.Max(x);
            TensorPrimitives.Subtract(x, max, y);
            if (log)
            {
                // NOTE: (x − max) − log Σ, not x − (max + log Σ): the latter loses digits for large logits.
                TensorPrimitives.Exp(y, y);
                float logSum = (float)Math.Log(ElementwiseKernels.SumDouble(y));
                TensorPrimitives.Subtract(x, max, y);
                TensorPrimitives.Subtract(y, logSum, y);
            }
            else
            {
                TensorPrimitives.Exp(y, y);
                TensorPrimitives.Multiply(y, (float)(1.0 / ElementwiseKernels.SumDouble(y)), y);
            }
            return;
        }

        var maxRow = scratch.AsSpan(0, inner);
        var sumRow = scratch.AsSpan(inner, inner);
        x.Slice(0, inner).CopyTo(maxRow);
        for (int k = 1; k < n; k++) TensorPrimitives.Max(maxRow, x.Slice(k * inner, inner), maxRow);
        sumRow.Clear();
        for (int k = 0; k < n; k++)
        {
            var yk = y.Slice(k * inner, inner);
            TensorPrimitives.Subtract(x.Slice(k * inner, inner), maxRow, yk);
            TensorPrimitives.Exp(yk, yk);
            TensorPrimitives.Add(sumRow, yk, sumRow);
        }
        if (log)
        {
            // log_softmax = (x − max) − log Σ exp(x − max)
            TensorPrimitives.Log(sumRow, sumRow);
            for (int k = 0; k < n; k++)
            {
                var yk = y.Slice(k * inner, inner);
                TensorPrimitives.Subtract(x.Slice(k * inner, inner), maxRow, yk);
                TensorPrimitives.Subtract(yk, sumRow, yk);
            }
        }
        else
        {
            for (int k = 0; k < n; k++) TensorPrimitives.Divide(y.Slice(k * inner, inner), sumRow, y.Slice(k * inner, inner));
        }
    }

    // softmax:     dX = y · (dY − Σₖ dY·y)
    // log_softmax: dX = dY − exp(y) · Σₖ dY
    private static void SoftmaxBlockBackward(ReadOnlySpan<float> g, ReadOnlySpan<float> y, Span<float> gx, int n, int inner, bool log, float[] scratch)
    {
        if (inner == 1)
        {
            double dot = 0;
            for (int k = 0; k < n; k++) dot += log ? g[k] : (double)g[k] * y[k];
            for (int k = 0; k < n; k++) gx[k] += log ? (float)(g[k] - Math.Exp(y[k]) * dot) : (float)(y[k] * (g[k] - dot));
            return;
        }

        var s = scratch.AsSpan(0, inner);
        var t = scratch.AsSpan(inner, inner);
        s.Clear();
        for (int k = 0; k < n; k++)
        {
            var gk = g.Slice(k * inner, inner);
            if (log) TensorPrimitives.Add(s, gk, s);
            else TensorPrimitives.MultiplyAdd(gk, y.Slice(k * inner, inner), s, s);
        }
        for (int k = 0; k < n; k++)
        {
            var gk = g.Slice(k * inner, inner);
            var yk = y.Slice(k * inner, inner);
            var gxk = gx.Slice(k * inner, inner);
            if (log)
            {
                TensorPrimitives.Exp(yk, t);
                TensorPrimitives.Multiply(t, s, t);
                TensorPrimitives.Subtract(gk, t, t);
            }
            else
            {
                TensorPrimitives.Subtract(gk, s, t);
                TensorPrimitives.Multiply(t, yk, t);
            }
            TensorPrimitives.Add(gxk, t, gxk);
        }
    }
}
