namespace Circumvent.Engine;

// STUB: signatures fixed for the other layers; implementation owned by the convolution work.
public static partial class Op
{
    public static Tensor MaxPool2d(Tensor x, int kernel, int stride, int padding = 0) => throw new NotImplementedException();
    /// <summary>Average pool, padding counted in the divisor (PyTorch's count_include_pad=True default).</summary>
    public static Tensor AvgPool2d(Tensor x, int kernel, int stride, int padding = 0) => throw new NotImplementedException();
    /// <summary>PyTorch adaptive_avg_pool2d: output cell i covers [floor(i·H/oh), ceil((i+1)·H/oh)).</summary>
    public static Tensor AdaptiveAvgPool2d(Tensor x, int outH, int outW) => throw new NotImplementedException();
    /// <summary>(N, C, H, W) → (N, C): mean over H and W.</summary>
    public static Tensor GlobalAvgPool(Tensor x) => throw new NotImplementedException();
}
