namespace Circumvent.Engine;

// STUB: signatures fixed for the other layers; implementation owned by the elementwise work.
public static partial class Op
{
    /// <summary>Sum of all elements → scalar (shape []).</summary>
    public static Tensor Sum(Tensor a) => throw new NotImplementedException();
    public static Tensor Sum(Tensor a, int axis, bool keepDim = false) => throw new NotImplementedException();
    public static Tensor Mean(Tensor a) => throw new NotImplementedException();
    public static Tensor Mean(Tensor a, int axis, bool keepDim = false) => throw new NotImplementedException();
    /// <summary>Maximum over all elements → scalar; gradient flows to the first maximal element.</summary>
    public static Tensor Max(Tensor a) => throw new NotImplementedException();
    public static Tensor Max(Tensor a, int axis, bool keepDim = false) => throw new NotImplementedException();
    /// <summary>Index of the maximum along the last axis of a (N × C) tensor (no gradient).</summary>
    public static int[] ArgMax(Tensor a) => throw new NotImplementedException();
}
