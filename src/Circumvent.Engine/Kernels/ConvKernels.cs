using Circumvent.Engine.Memory;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// Batched 2-D convolution as im2col + GEMM. The batch is split into one contiguous range of
/// samples per thread; each thread unfolds its samples into a pooled column buffer and makes
/// single-threaded GEMM calls, so the provider never spawns threads of its own.
/// Matrices per sample: W (O × K), columns (K × P), Y (O × P) with K = C·kH·kW, P = Ho·Wo.
/// </summary>
public static class ConvKernels
{
    /// <summary>1×1 kernel, stride 1, no padding: the (C, H·W) image already is the column matrix.</summary>
    public static bool IsPointwise(in ConvGeometry g) => g.KernelH == 1 && g.KernelW == 1 && g.Stride == 1 && g.Padding == 0;

    /// <summary>Parts the batch is split into; matches Parallelism.For's own decision for that many items.</summary>
    public static int Partitions(int count, long workPerItem) =>
        count > 1 && Parallelism.Worthwhile(count * workPerItem) ? Math.Min(Parallelism.Threads, count) : 1;

    /// <summary>y (N, O, Ho, Wo) = conv(x (N, C, H, W), w (O, K)) + bias.</summary>
    public static void Forward(in ConvGeometry g, int batch, int outChannels, float[] x, float[] w, float[]? bias, float[] y)
    {
        var geo = g;
        int k = g.ColumnRows, p = g.ColumnCols, o = outChannels, imageSize = g.ImageSize;
        bool pointwise = IsPointwise(g);
        int parts = Partitions(batch, 2L * o * k * p);
        Parallelism.For(parts, 2L * o * k * p * batch / parts, part =>
        {
            var (start, end) = Range(batch, parts, part);
            float[]? columns = pointwise ? null : BufferPool.Rent(k * p);
            try
            {
                for (int n = start; n < end; n++)
                {
                    var image = x.AsSpan(n * imageSize, imageSize);
                    var yn = y.AsSpan(n * o * p, o * p);
                    if (bias is not null)
                        for (int oc = 0; oc < o; oc++) yn.Slice(oc * p, p).Fill(bias[oc]);
                    float beta = bias is null ? 0f : 1f;
                    if (columns is null)
                        Gemm.Sgemm(false, false, o, p, k, 1f, w, k, image, p, beta, yn, p);
                    else
                    {
                        Im2Col.Unfold(geo, image, columns);
                        Gemm.Sgemm(false, false, o, p, k, 1f, w, k, columns, p, beta, yn, p);
                    }
                }
            }
            finally
            {
                if (columns is not null) BufferPool.Return(columns);
            }
        });
    }

    /// <summary>
    /// Accumulates dX (N, C, H, W) += Wᵀ·dY folded back, and dW (O, K) += Σₙ dYₙ·colsₙᵀ, for whichever
    /// of <paramref name="dx"/> / <paramref name="dw"/> is non-null.
    /// NOTE: dW is summed per thread into a pooled partial buffer and the partials are added in
    /// part order afterwards, so the result does not depend on thread scheduling.
    /// </summary>
    public static void Backward(in ConvGeometry g, int batch, int outChannels, float[] x, float[] w, float[] gy, float[]? dx, float[]? dw)
    {
        if (dx is null && dw is null) return;
        var geo = g;
        int k = g.ColumnRows, p = g.ColumnCols, o = outChannels, imageSize = g.ImageSize;
        bool pointwise = IsPointwise(g);
        long workPerSample = 2L * o * k * p * ((dx is null ? 0 : 1) + (dw is null ? 0 : 1));
        int parts = Partitions(batch, workPerSample);
        var partials = new float[]?[parts];

        Parallelism.For(parts, workPerSample * batch / parts, part =>
        {
            var (start, end) = Range(batch, parts, part);
            float[]? columns = pointwise ? null : BufferPool.Rent(k * p);
            float[]? dwPart = dw is null ? null : parts == 1 ? dw : BufferPool.RentZeroed(o * k);
            partials[part] = dwPart;
            try
            {
                for (int n = start; n < end; n++)
                {
                    var image = x.AsSpan(n * imageSize, imageSize);
                    var gyn = gy.AsSpan(n * o * p, o * p);
                    if (dwPart is not null)
                    {
                        // dW (O × K) += dYₙ (O × P) · colsₙᵀ (P × K)
                        if (columns is null) Gemm.Sgemm(false, true, o, k, p, 1f, gyn, p, image, p, 1f, dwPart, k);
                        else
                        {
                            Im2Col.Unfold(geo, image, columns);
                            Gemm.Sgemm(false, true, o, k, p, 1f, gyn, p, columns, p, 1f, dwPart, k);
                        }
                    }
                    if (dx is not null)
                    {
                        var dxn = dx.AsSpan(n * imageSize, imageSize);
                        // dColsₙ (K × P) = Wᵀ (K × O) · dYₙ (O × P); the pointwise case adds straight into dX.
                        if (columns is null) Gemm.Sgemm(true, false, k, p, o, 1f, w, k, gyn, p, 1f, dxn, p);
                        else
                        {
                            Gemm.Sgemm(true, false, k, p, o, 1f, w, k, gyn, p, 0f, columns, p);
                            Im2Col.FoldAdd(geo, columns, dxn);
                        }
                    }
                }
            }
            finally
            {
                if (columns is not null) BufferPool.Return(columns);
            }
        });

        if (dw is null || parts == 1) return;
        foreach (var partial in partials)
        {
            for (int i = 0; i < dw.Length; i++) dw[i] += partial![i];
            BufferPool.Return(partial!);
        }
    }

    /// <summary>dBias (O) += Σ over n, h, w of dY (N, O, P), summed in double per channel.</summary>
    public static void BiasBackward(int batch, int outChannels, int positions, float[] gy, Span<float> dbias)
    {
        for (int oc = 0; oc < outChannels; oc++)
        {
            double sum = 0;
            for (int n = 0; n < batch; n++)
            {
                var row = gy.AsSpan((n * outChannels + oc) * positions, positions);
                foreach (var v in row) sum += v;
            }
            dbias[oc] += (float)sum;
        }
    }

    private static (int Start, int End) Range(int count, int parts, int part) =>
        ((int)((long)count * part / parts), (int)((long)count * (part + 1) / parts));
}
