using Circumvent.Engine.Kernels;

namespace Circumvent.Engine;

public static partial class Op
{
    /// <summary>
    /// PyTorch's conv2d with zero padding: x (N, C, H, W), weight (O, C, kH, kW) OIHW, optional
    /// bias (O) → (N, O, Ho, Wo) with Ho = floor((H + 2·padding − kH) / stride) + 1.
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride = 1, int padding = 0)
    {
        var g = CheckConv2d(x, weight, bias, stride, padding);
        int n = x.Shape[0], o = weight.Shape[0];
        var y = Tensor.Empty(n, o, g.OutHeight, g.OutWidth);
        ConvKernels.Forward(g, n, o, x.Data, weight.Data, bias?.Data, y.Data);

        Tensor[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        return y.WithBackward("conv2d", inputs, gy =>
        {
            // GradSpan allocates on first use; do it here, outside the parallel loops.
            float[]? dx = x.RequiresGrad ? GradArray(x) : null;
            float[]? dw = weight.RequiresGrad ? GradArray(weight) : null;
            ConvKernels.Backward(g, n, o, x.Data, weight.Data, gy.Data, dx, dw);
            if (bias is not null && bias.RequiresGrad)
                ConvKernels.BiasBackward(n, o, g.ColumnCols, gy.Data, bias.GradSpan());
        });
    }

    private static float[] GradArray(Tensor t)
    {
        t.GradSpan();
        return t.Grad!.Data;
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
