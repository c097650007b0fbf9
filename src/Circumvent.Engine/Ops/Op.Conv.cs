namespace Circumvent.Engine;

// STUB: signatures fixed for the other layers; implementation owned by the convolution work.
public static partial class Op
{
    /// <summary>x (N, C, H, W), weight (O, C, kH, kW) OIHW, optional bias (O) → (N, O, Ho, Wo).</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride = 1, int padding = 0) => throw new NotImplementedException();
}
