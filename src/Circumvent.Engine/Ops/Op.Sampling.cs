namespace Circumvent.Engine;

// STUB: signatures fixed for the other layers; implementation owned by the elementwise work.
public static partial class Op
{
    /// <summary>Bilinear resize of (N, C, H, W) to (N, C, outH, outW), PyTorch F.interpolate semantics.</summary>
    public static Tensor ResizeBilinear(Tensor x, int outH, int outW, bool alignCorners = false) => throw new NotImplementedException();
    /// <summary>Bilinear F.grid_sample with zero padding: x (N, C, H, W), grid (N, Ho, Wo, 2) in [-1, 1] (x, y) → (N, C, Ho, Wo).</summary>
    public static Tensor GridSample(Tensor x, Tensor grid, bool alignCorners = true) => throw new NotImplementedException();
}
