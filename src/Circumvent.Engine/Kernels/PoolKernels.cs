namespace Circumvent.Engine.Kernels;

/// <summary>
/// Pooling over one (H, W) plane; ops run these over all N·C planes. Windows follow PyTorch
/// (ceil_mode=False): output cell (oh, ow) covers rows oh·s − p … oh·s − p + k − 1 clipped to the image.
/// </summary>
public static class PoolKernels
{
    /// <summary>Max over each window; padding acts as −∞ (it never wins).</summary>
    public static void MaxForward(in ConvGeometry g, ReadOnlySpan<float> plane, Span<float> output)
    {
        int wo = g.OutWidth;
        for (int oh = 0; oh < g.OutHeight; oh++)
            for (int ow = 0; ow < wo; ow++)
                output[oh * wo + ow] = plane[ArgMax(g, plane, oh, ow)];
    }

    /// <summary>Routes each output gradient to its window's argmax (the first maximum on ties).</summary>
    public static void MaxBackward(in ConvGeometry g, ReadOnlySpan<float> plane, ReadOnlySpan<float> gradOut, Span<float> gradIn)
    {
        int wo = g.OutWidth;
        for (int oh = 0; oh < g.OutHeight; oh++)
            for (int ow = 0; ow < wo; ow++)
                gradIn[ArgMax(g, plane, oh, ow)] += gradOut[oh * wo + ow];
    }

    // Index into the plane of the window maximum, scanning row-major like PyTorch: a later value
    // replaces the best only when strictly greater, or NaN (which then propagates).
    private static int ArgMax(in ConvGeometry g, ReadOnlySpan<float> plane, int oh, int ow)
    {
        int h0 = oh * g.Stride - g.Padding, w0 = ow * g.Stride - g.Padding;
        int h1 = Math.Min(h0 + g.KernelH, g.Height), w1 = Math.Min(w0 + g.KernelW, g.Width);
        h0 = Math.Max(h0, 0);
        w0 = Math.Max(w0, 0);
        int best = h0 * g.Width + w0;
        float bestValue = float.NegativeInfinity;
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++)
            {
                int idx = ih * g.Width + iw;
                float v = plane[idx];
                if (v > bestValue || float.IsNaN(v)) { bestValue = v; best = idx; }
            }
        return best;
    }

    /// <summary>Window mean with padding counted in the divisor (count_include_pad=True): always k·k.</summary>
    public static void AvgForward(in ConvGeometry g, ReadOnlySpan<float> plane, Span<float> output)
    {
        int wo = g.OutWidth;
        float scale = 1f / (g.KernelH * g.KernelW);
        for (int oh = 0; oh < g.OutHeight; oh++)
            for (int ow = 0; ow < wo; ow++)
            {
                var (h0, h1, w0, w1) = Window(g, oh, ow);
                float sum = 0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) sum += plane[ih * g.Width + iw];
                output[oh * wo + ow] = sum * scale;
            }
    }

    public static void AvgBackward(in ConvGeometry g, ReadOnlySpan<float> gradOut, Span<float> gradIn)
    {
        int wo = g.OutWidth;
        float scale = 1f / (g.KernelH * g.KernelW);
        for (int oh = 0; oh < g.OutHeight; oh++)
            for (int ow = 0; ow < wo; ow++)
            {
                var (h0, h1, w0, w1) = Window(g, oh, ow);
                float share = gradOut[oh * wo + ow] * scale;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) gradIn[ih * g.Width + iw] += share;
            }
    }

    private static (int H0, int H1, int W0, int W1) Window(in ConvGeometry g, int oh, int ow)
    {
        int h0 = oh * g.Stride - g.Padding, w0 = ow * g.Stride - g.Padding;
        return (Math.Max(h0, 0), Math.Min(h0 + g.KernelH, g.Height), Math.Max(w0, 0), Math.Min(w0 + g.KernelW, g.Width));
    }

    /// <summary>PyTorch's adaptive bin i of n over size: [floor(i·size/n), ceil((i+1)·size/n)).</summary>
    public static (int Start, int End) AdaptiveBin(int i, int n, int size) =>
        (i * size / n, ((i + 1) * size + n - 1) / n);

    /// <summary>(H, W) plane → (outH, outW) bin means.</summary>
    public static void AdaptiveAvgForward(int height, int width, int outH, int outW, ReadOnlySpan<float> plane, Span<float> output)
    {
        for (int oh = 0; oh < outH; oh++)
        {
            var (h0, h1) = AdaptiveBin(oh, outH, height);
            for (int ow = 0; ow < outW; ow++)
            {
                var (w0, w1) = AdaptiveBin(ow, outW, width);
                double sum = 0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) sum += plane[ih * width + iw];
                output[oh * outW + ow] = (float)(sum / ((h1 - h0) * (w1 - w0)));
            }
        }
    }

    public static void AdaptiveAvgBackward(int height, int width, int outH, int outW, ReadOnlySpan<float> gradOut, Span<float> gradIn)
    {
        for (int oh = 0; oh < outH; oh++)
        {
            var (h0, h1) = AdaptiveBin(oh, outH, height);
            for (int ow = 0; ow < outW; ow++)
            {
                var (w0, w1) = AdaptiveBin(ow, outW, width);
                float share = gradOut[oh * outW + ow] / ((h1 - h0) * (w1 - w0));
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) gradIn[ih * width + iw] += share;
            }
        }
    }
}
