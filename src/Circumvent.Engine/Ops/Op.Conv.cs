using Circumvent.Engine.Kernels;

namespace Circumvent.Engine;

public static partial class Op
{
    /// <summary>
    /// PyTorch's conv2d with zero padding: x (N, C, H, W), weight (O, C, kH, kW) OIHW, optional
    /// bias (O) → (N, O, Ho, Wo) with Ho = floor((H + 2·padding − kH) / stride) + 1.
    /// With <paramref name="residual"/> (same shape as the output) the result is conv2d(x) + residual,
    /// fused so that a residual block does not keep the convolution's output alive only to add it.
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride = 1, int padding = 0, Tensor? residual = null)
    {
        var g = CheckConv2d(x, weight, bias, stride, padding);
        int n = x.Shape[0], o = weight.Shape[0];
        var y = Tensor.Empty(n, o, g.OutHeight, g.OutWidth);
        ConvBackend.Forward(g, n, o, x.Data, weight.Data, bias?.Data, y.Data);
        if (residual is not null) AddResidual(y, residual);

        var inputs = new List<Tensor> { x, weight };
        if (bias is not null) inputs.Add(bias);
        if (residual is not null) inputs.Add(residual);
        return y.WithBackward(residual is null ? "conv2d" : "conv2d_add", [.. inputs], gy =>
        {
            ResidualAndBiasGrads(gy, residual, bias, n, o, g);
            // Gradients are allocated here, outside the parallel loops. oneDNN overwrites a gradient allocated
            // just now, so that one skips the zeroing; im2col adds into it, so it gets zeros.
            bool overwrites = ConvBackend.UsesDnnl(g), dxFresh = false, dwFresh = false;
            float[]? dx = x.RequiresGrad ? ConvGradArray(x, overwrites, out dxFresh) : null;
            float[]? dw = weight.RequiresGrad ? ConvGradArray(weight, overwrites, out dwFresh) : null;
            ConvBackend.Backward(g, n, o, x.Data, weight.Data, gy.Data, dx, dxFresh, dw, dwFresh);
        });
    }

    // The gradients a convolution's output gradient gy gives its fused residual (gy itself) and its bias (Σ over N, Ho, Wo).
    private static void ResidualAndBiasGrads(Tensor gy, Tensor? residual, Tensor? bias, int n, int o, in ConvGeometry g)
    {
        if (residual is not null && residual.RequiresGrad)
            System.Numerics.Tensors.TensorPrimitives.Add(residual.GradSpan(), gy.Span, residual.GradSpan());
        if (bias is not null && bias.RequiresGrad)
            ConvKernels.BiasBackward(n, o, g.ColumnCols, gy.Data, bias.GradSpan());
    }

    // y += residual, for a convolution's fused residual connection.
    private static void AddResidual(Tensor y, Tensor residual)
    {
        if (!Shape.Equal(residual.Shape, y.Shape))
            throw new ArgumentException($"conv2d: residual {Shape.Format(residual.Shape)} must match the output {Shape.Format(y.Shape)}.");
        float[] r = residual.Data, yd = y.Data;
        Parallelism.ForRanges(yd.Length, 1, (s, e) =>
            System.Numerics.Tensors.TensorPrimitives.Add(yd.AsSpan(s, e - s), r.AsSpan(s, e - s), yd.AsSpan(s, e - s)));
    }

    private static float[] GradArray(Tensor t)
    {
        t.GradSpan();
        return t.Grad!.Data;
    }

    /// <summary>t's gradient array; unzeroed when it is new and the backend <paramref name="overwrites"/> new gradients.</summary>
    private static float[] ConvGradArray(Tensor t, bool overwrites, out bool fresh)
    {
        if (overwrites) return t.GradForWrite(out fresh);
        fresh = t.Grad is null;
        return GradArray(t);
    }

    private static ConvGeometry CheckConv2d(Tensor x, Tensor weight, Tensor? bias, int stride, int padding)
    {
        if (x.Rank != 4)
            throw new ArgumentException($"conv2d: input must be (N, C, H, W), got shape {Shape.Format(x.Shape)}.");
        if (weight.Rank != 4)
            throw new ArgumentException($"conv2d: weight must be (O, C, kH, kW), got shape {Shape.Format(weight.Shape)}.");
        if (weight.Shape[1] != x.Shape[1])
            throw new ArgumentException($"conv2d: weight {Shape.Format(weight.Shape)} expects {weight.Shape[1]} input channels, input has {x.Shape[1]} (shape {Shape.Format(x.Shape)}).");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != weight.Shape[0]))
            throw new ArgumentException($"conv2d: bias must have shape ({weight.Shape[0]}) for weight {Shape.Format(weight.Shape)}, got {Shape.Format(bias.Shape)}.");
        if (stride < 1) throw new ArgumentException($"conv2d: stride must be at least 1, got {stride}.");
        if (padding < 0) throw new ArgumentException($"conv2d: padding must be non-negative, got {padding}.");
        var g = new ConvGeometry(x.Shape[1], x.Shape[2], x.Shape[3], weight.Shape[2], weight.Shape[3], stride, padding);
        if (g.KernelH < 1 || g.KernelW < 1 || x.Shape[2] + 2 * padding < g.KernelH || x.Shape[3] + 2 * padding < g.KernelW)
            throw new ArgumentException($"conv2d: kernel {g.KernelH}×{g.KernelW} does not fit input {Shape.Format(x.Shape)} with padding {padding}.");
        return g;
    }
}
