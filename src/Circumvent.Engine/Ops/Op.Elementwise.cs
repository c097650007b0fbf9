using System.Numerics.Tensors;
using Circumvent.Engine.Kernels;
using Circumvent.Engine.Memory;

namespace Circumvent.Engine;

/// <summary>Broadcasting binary ops and tensor–scalar ops. Unary maps live in Op.Activation.cs.</summary>
public static partial class Op
{
    /// <summary>Broadcasting (NumPy rules) a + b.</summary>
    public static Tensor Add(Tensor a, Tensor b) => Binary(BinaryKind.Add, "add", a, b);
    public static Tensor Sub(Tensor a, Tensor b) => Binary(BinaryKind.Sub, "sub", a, b);
    public static Tensor Mul(Tensor a, Tensor b) => Binary(BinaryKind.Mul, "mul", a, b);
    public static Tensor Div(Tensor a, Tensor b) => Binary(BinaryKind.Div, "div", a, b);

    public static Tensor AddScalar(Tensor a, float s)
    {
        var y = Tensor.Empty(a.Shape.ToArray());
        ElementwiseKernels.Map(a.Data, y.Data, (x, o) => TensorPrimitives.Add(x, s, o));
        return y.WithBackward("add_scalar", [a], gy => AccumulateScaled(gy.Data, 1f, a));
    }

    public static Tensor MulScalar(Tensor a, float s)
    {
        var y = Tensor.Empty(a.Shape.ToArray());
        ElementwiseKernels.Map(a.Data, y.Data, (x, o) => TensorPrimitives.Multiply(x, s, o));
        return y.WithBackward("mul_scalar", [a], gy => AccumulateScaled(gy.Data, s, a));
    }

    public static Tensor Neg(Tensor a) => MulScalar(a, -1f);

    private static Tensor Binary(BinaryKind kind, string name, Tensor a, Tensor b)
    {
        var shape = Broadcast.ResultShape(a.Shape, b.Shape, name);
        var y = Tensor.Empty(shape);
        Broadcast.Binary(kind, a.Data, a.Shape, b.Data, b.Shape, y.Data, shape);
        return y.WithBackward(name, [a, b], gy =>
        {
            var g = gy.Data;
            switch (kind)
            {
                case BinaryKind.Add:
                    if (a.RequiresGrad) Broadcast.ReduceAddTo(g, shape, a.GradSpan(), a.Shape);
                    if (b.RequiresGrad) Broadcast.ReduceAddTo(g, shape, b.GradSpan(), b.Shape);
                    break;
                case BinaryKind.Sub:
                    if (a.RequiresGrad) Broadcast.ReduceAddTo(g, shape, a.GradSpan(), a.Shape);
                    if (b.RequiresGrad) WithScratch(g.Length, t =>
                    {
                        TensorPrimitives.Negate(g, t);
                        Broadcast.ReduceAddTo(t, shape, b.GradSpan(), b.Shape);
                    });
                    break;
                case BinaryKind.Mul:
                    // dA = reduce(dY · B), dB = reduce(dY · A)
                    if (a.RequiresGrad) AccumulateBroadcast(BinaryKind.Mul, g, shape, b, a);
                    if (b.RequiresGrad) AccumulateBroadcast(BinaryKind.Mul, g, shape, a, b);
                    break;
                default:
                    // dA = reduce(dY / B), dB = reduce(−dY · Y / B)
                    if (a.RequiresGrad) AccumulateBroadcast(BinaryKind.Div, g, shape, b, a);
                    if (b.RequiresGrad) WithScratch(g.Length, t =>
                    {
                        TensorPrimitives.Multiply(g, y.Data, t);
                        Broadcast.Binary(BinaryKind.Div, t, shape, b.Data, b.Shape, t, shape);
                        TensorPrimitives.Negate(t, t);
                        Broadcast.ReduceAddTo(t, shape, b.GradSpan(), b.Shape);
                    });
                    break;
            }
        });
    }

    // target.grad += reduce_to(target.shape)(g ∘ other), with g of the broadcast shape.
    private static void AccumulateBroadcast(BinaryKind kind, float[] g, int[] shape, Tensor other, Tensor target)
    {
        if (kind == BinaryKind.Mul && target.Length == g.Length && other.Length == g.Length)
        {
            var gt = target.GradSpan();
            TensorPrimitives.MultiplyAdd(g, other.Data, gt, gt);
            return;
        }
        WithScratch(g.Length, t =>
        {
            Broadcast.Binary(kind, g, shape, other.Data, other.Shape, t, shape);
            Broadcast.ReduceAddTo(t, shape, target.GradSpan(), target.Shape);
        });
    }

    private static void AccumulateScaled(float[] g, float s, Tensor target)
    {
        var gt = target.GradSpan();
        if (s == 1f) TensorPrimitives.Add(gt, g, gt);
        else TensorPrimitives.MultiplyAdd(g, s, gt, gt);
    }

    /// <summary>Runs <paramref name="body"/> with a pooled scratch buffer of exactly <paramref name="length"/> floats.</summary>
    private static void WithScratch(int length, Action<float[]> body)
    {
        var t = BufferPool.Rent(length);
        try { body(t); }
        finally { BufferPool.Return(t); }
    }
}
