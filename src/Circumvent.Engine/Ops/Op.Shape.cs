namespace Circumvent.Engine;

// STUB: signatures fixed for the other layers; implementation owned by the elementwise work.
public static partial class Op
{
    /// <summary>Same data, new shape; one dimension may be -1.</summary>
    public static Tensor Reshape(Tensor a, params int[] shape) => throw new NotImplementedException();
    /// <summary>Flattens dimensions startDim.. into one (PyTorch torch.flatten(x, 1) by default).</summary>
    public static Tensor Flatten(Tensor a, int startDim = 1) => throw new NotImplementedException();
    public static Tensor Transpose(Tensor a, int dim0, int dim1) => throw new NotImplementedException();
    public static Tensor Permute(Tensor a, params int[] dims) => throw new NotImplementedException();
    public static Tensor Concat(Tensor[] parts, int axis) => throw new NotImplementedException();
    /// <summary>Elements start..start+length along axis (PyTorch narrow).</summary>
    public static Tensor Slice(Tensor a, int axis, int start, int length) => throw new NotImplementedException();
}
