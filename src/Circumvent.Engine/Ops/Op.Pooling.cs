using System.Buffers;
using Circumvent.Engine.Kernels;

namespace Circumvent.Engine;

public static partial class Op
{
    /// <summary>
    /// PyTorch's max_pool2d (ceil_mode=False): (N, C, H, W) → (N, C, Ho, Wo), padding acts as −∞.
    /// The gradient goes to each window's first maximum; the backward recomputes the argmax from x
    /// instead of keeping an index tensor alive, except in the common 2×2 stride-2 case (see MaxPool2x2).
    /// </summary>
    public static Tensor MaxPool2d(Tensor x, int kernel, int stride, int padding = 0)
    {
        var g = CheckPool(x, kernel, stride, padding, "max_pool2d");
        if (Autograd.ActivationPattern.Current is { } pattern) return PatternMaxPool(pattern, x, g, kernel, stride, padding);
        if (kernel == 2 && stride == 2 && padding == 0) return MaxPool2x2(x);
        var y = PoolPlanes(x, g.OutHeight, g.OutWidth, kernel * kernel, (plane, output) => PoolKernels.MaxForward(g, plane, output));
        return y.WithBackward("max_pool2d", [x], gy =>
            UnpoolPlanes(x, gy, kernel * kernel, (plane, gradOut, gradIn) => PoolKernels.MaxBackward(g, plane, gradOut, gradIn)));
    }

    // The common 2×2 stride-2 case: SIMD kernel, and the argmax kept as one byte per output (window
    // offset 0–3) while a graph needs it — 1/16 of x's size, and the backward then never reads x.
    private static Tensor MaxPool2x2(Tensor x)
    {
        int planes = x.Shape[0] * x.Shape[1], h = x.Shape[2], w = x.Shape[3], inSize = h * w, outSize = (h / 2) * (w / 2);
        var y = Tensor.Empty(x.Shape[0], x.Shape[1], h / 2, w / 2);
        float[] xd = x.Data, yd = y.Data;
        byte[]? argmax = Tensor.NeedsGraph(x) ? ArrayPool<byte>.Shared.Rent(planes * outSize) : null;
        Parallelism.ForRanges(planes, 4L * outSize, (start, end) =>
        {
            for (int i = start; i < end; i++)
                MaxPool2x2Kernels.Forward(xd.AsSpan(i * inSize, inSize), h, w, yd.AsSpan(i * outSize, outSize),
                    argmax is null ? default : argmax.AsSpan(i * outSize, outSize));
        });
        return y.WithBackward("max_pool2d", [x], gy =>
        {
            var dx = x.GradForWrite(out bool fresh);
            float[] g = gy.Data;
            Parallelism.ForRanges(planes, 4L * outSize, (start, end) =>
            {
                for (int i = start; i < end; i++)
                    MaxPool2x2Kernels.Backward(argmax!.AsSpan(i * outSize, outSize), g.AsSpan(i * outSize, outSize), dx.AsSpan(i * inSize, inSize),
                        h, w, accumulate: !fresh);
            });
            // The graph is single-use (Backprop drops the node after this), so the offsets can go back.
            ArrayPool<byte>.Shared.Return(argmax!);
        });
    }

    /// <summary>Average pool, padding counted in the divisor (PyTorch's count_include_pad=True default).</summary>
    public static Tensor AvgPool2d(Tensor x, int kernel, int stride, int padding = 0)
    {
        var g = CheckPool(x, kernel, stride, padding, "avg_pool2d");
        var y = PoolPlanes(x, g.OutHeight, g.OutWidth, kernel * kernel, (plane, output) => PoolKernels.AvgForward(g, plane, output));
        return y.WithBackward("avg_pool2d", [x], gy =>
            UnpoolPlanes(x, gy, kernel * kernel, (_, gradOut, gradIn) => PoolKernels.AvgBackward(g, gradOut, gradIn)));
    }

    /// <summary>PyTorch adaptive_avg_pool2d: output cell i covers [floor(i·H/oh), ceil((i+1)·H/oh)).</summary>
    public static Tensor AdaptiveAvgPool2d(Tensor x, int outH, int outW)
    {
        if (x.Rank != 4)
            throw new ArgumentException($"adaptive_avg_pool2d: input must be (N, C, H, W), got shape {Shape.Format(x.Shape)}.");
        if (outH < 1 || outW < 1)
            throw new ArgumentException($"adaptive_avg_pool2d: output size must be positive, got {outH}×{outW}.");
        int h = x.Shape[2], w = x.Shape[3];
        if (h < 1 || w < 1)
            throw new ArgumentException($"adaptive_avg_pool2d: input {Shape.Format(x.Shape)} has an empty plane.");
        // Each bin spans at most about (h/outH + 1)·(w/outW + 1) values.
        long binSize = (long)(h / outH + 1) * (w / outW + 1);
        var y = PoolPlanes(x, outH, outW, binSize,
            (plane, output) => PoolKernels.AdaptiveAvgForward(h, w, outH, outW, plane, output));
        return y.WithBackward("adaptive_avg_pool2d", [x], gy =>
            UnpoolPlanes(x, gy, binSize,
                (_, gradOut, gradIn) => PoolKernels.AdaptiveAvgBackward(h, w, outH, outW, gradOut, gradIn)));
    }

    /// <summary>(N, C, H, W) → (N, C): mean over H and W.</summary>
    public static Tensor GlobalAvgPool(Tensor x)
    {
        if (x.Rank != 4)
            throw new ArgumentException($"global_avg_pool: input must be (N, C, H, W), got shape {Shape.Format(x.Shape)}.");
        int n = x.Shape[0], c = x.Shape[1], size = x.Shape[2] * x.Shape[3];
        if (size == 0)
            throw new ArgumentException($"global_avg_pool: input {Shape.Format(x.Shape)} has an empty plane.");
        var y = Tensor.Empty(n, c);
        float[] xd = x.Data, yd = y.Data;
        Parallelism.ForRanges(n * c, size, (start, end) =>
        {
            for (int i = start; i < end; i++)
            {
                double sum = 0;
                foreach (var v in xd.AsSpan(i * size, size)) sum += v;
                yd[i] = (float)(sum / size);
            }
        });
        return y.WithBackward("global_avg_pool", [x], gy =>
        {
            var dx = GradArray(x);
            float[] g = gy.Data;
            Parallelism.ForRanges(n * c, size, (start, end) =>
            {
                for (int i = start; i < end; i++)
                {
                    float share = g[i] / size;
                    foreach (ref var d in dx.AsSpan(i * size, size)) d += share;
                }
            });
        });
    }

    private delegate void PlaneForward(ReadOnlySpan<float> plane, Span<float> output);
    private delegate void PlaneBackward(ReadOnlySpan<float> plane, ReadOnlySpan<float> gradOut, Span<float> gradIn);

    // Runs a per-plane forward over all N·C planes of x; workPerOutput sizes the parallel split.
    private static Tensor PoolPlanes(Tensor x, int outH, int outW, long workPerOutput, PlaneForward forward)
    {
        int planes = x.Shape[0] * x.Shape[1], inSize = x.Shape[2] * x.Shape[3], outSize = outH * outW;
        var y = Tensor.Empty(x.Shape[0], x.Shape[1], outH, outW);
        float[] xd = x.Data, yd = y.Data;
        Parallelism.ForRanges(planes, outSize * workPerOutput, (start, end) =>
        {
            for (int i = start; i < end; i++)
                forward(xd.AsSpan(i * inSize, inSize), yd.AsSpan(i * outSize, outSize));
        });
        return y;
    }

    private static void UnpoolPlanes(Tensor x, Tensor gy, long workPerOutput, PlaneBackward backward)
    {
        int planes = x.Shape[0] * x.Shape[1], inSize = x.Shape[2] * x.Shape[3], outSize = gy.Shape[2] * gy.Shape[3];
        var dx = GradArray(x);
        float[] xd = x.Data, g = gy.Data;
        Parallelism.ForRanges(planes, outSize * workPerOutput, (start, end) =>
        {
            for (int i = start; i < end; i++)
                backward(xd.AsSpan(i * inSize, inSize), g.AsSpan(i * outSize, outSize), dx.AsSpan(i * inSize, inSize));
        });
    }

    private static ConvGeometry CheckPool(Tensor x, int kernel, int stride, int padding, string op)
    {
        if (x.Rank != 4)
            throw new ArgumentException($"{op}: input must be (N, C, H, W), got shape {Shape.Format(x.Shape)}.");
        if (kernel < 1 || stride < 1)
            throw new ArgumentException($"{op}: kernel and stride must be at least 1, got kernel {kernel}, stride {stride}.");
        if (padding < 0 || padding > kernel / 2)
            throw new ArgumentException($"{op}: padding must be between 0 and half the kernel ({kernel / 2}), got {padding}.");
        if (x.Shape[2] + 2 * padding < kernel || x.Shape[3] + 2 * padding < kernel)
            throw new ArgumentException($"{op}: kernel {kernel} does not fit input {Shape.Format(x.Shape)} with padding {padding}.");
        return new ConvGeometry(1, x.Shape[2], x.Shape[3], kernel, kernel, stride, padding);
    }
}
