namespace Circumvent.Engine;

// STUB: signatures fixed for the other layers; implementation owned by the elementwise work.
public static partial class Op
{
    public static Tensor Softmax(Tensor a, int axis = -1) => throw new NotImplementedException();
    public static Tensor LogSoftmax(Tensor a, int axis = -1) => throw new NotImplementedException();
    /// <summary>Mean cross-entropy of logits (N × C) against class indices, PyTorch semantics incl. label smoothing.</summary>
    public static Tensor CrossEntropy(Tensor logits, int[] targets, float labelSmoothing = 0f) => throw new NotImplementedException();
    /// <summary>x / max(‖x‖₂, eps) along axis (PyTorch F.normalize).</summary>
    public static Tensor L2Normalize(Tensor a, int axis = -1, float eps = 1e-12f) => throw new NotImplementedException();
}
