using System.Numerics.Tensors;

namespace Circumvent.Engine.Kernels;

/// <summary>The four broadcasting binary operations.</summary>
public enum BinaryKind { Add, Sub, Mul, Div }

/// <summary>
/// NumPy-style broadcasting for binary elementwise kernels and for reducing a gradient back to an
/// operand's shape. Both work on a "collapsed" layout: shapes are right-aligned, size-1 output
/// dimensions are dropped and neighbouring dimensions with the same broadcast pattern are merged,
/// so (2,3,4,5)+(3,1,1) becomes (2,3,20)+(1,3,1) and the inner loop is a 20-long span op.
/// </summary>
public static class Broadcast
{
    /// <summary>The broadcast result shape of <paramref name="a"/> and <paramref name="b"/>.</summary>
    public static int[] ResultShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b, string what)
    {
        int rank = Math.Max(a.Length, b.Length);
        var shape = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            int db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{what}: shapes {Shape.Format(a)} and {Shape.Format(b)} cannot be broadcast (dimension {i}: {da} vs {db}).");
            shape[i] = da == 1 ? db : da;
        }
        return shape;
    }

    /// <summary>
    /// Collapsed layout of an output shape and the operand shapes broadcast into it:
    /// dims[k] is the collapsed extent, strides[j][k] the operand j's stride (0 where broadcast).
    /// </summary>
    internal readonly struct Layout
    {
        public readonly int[] Dims;
        public readonly int[][] Strides;

        public Layout(ReadOnlySpan<int> outShape, params int[][] operandShapes)
        {
            int rank = outShape.Length, ops = operandShapes.Length;
            var dims = new List<int>(rank);
            var full = new List<bool[]>(rank); // per collapsed dim: does operand j span it?
            for (int i = 0; i < rank; i++)
            {
                int d = outShape[i];
                if (d == 1) continue;
                var pattern = new bool[ops];
                for (int j = 0; j < ops; j++)
                {
                    var s = operandShapes[j];
                    int off = rank - s.Length;
                    pattern[j] = i >= off && s[i - off] != 1;
                }
                if (dims.Count > 0 && pattern.AsSpan().SequenceEqual(full[^1]))
                    dims[^1] *= d;
                else { dims.Add(d); full.Add(pattern); }
            }
            if (dims.Count == 0) { dims.Add(1); full.Add(new bool[ops]); }

            Dims = dims.ToArray();
            Strides = new int[ops][];
            for (int j = 0; j < ops; j++)
            {
                var st = new int[Dims.Length];
                int s = 1;
                for (int k = Dims.Length - 1; k >= 0; k--)
                {
                    if (full[k][j]) { st[k] = s; s *= Dims[k]; }
                }
                Strides[j] = st;
            }
        }

        public int Inner => Dims[^1];
        public int Rows => Shape.Size(Dims.AsSpan(0, Dims.Length - 1));

        /// <summary>Offset of operand j at the start of collapsed row <paramref name="row"/>.</summary>
        public int RowOffset(int j, int row)
        {
            var st = Strides[j];
            int off = 0;
            for (int k = Dims.Length - 2; k >= 0 && row > 0; k--)
            {
                int d = Dims[k];
                off += (row % d) * st[k];
                row /= d;
            }
            return off;
        }
    }

    /// <summary>y = a ∘ b with broadcasting; y has the broadcast shape <paramref name="yShape"/>.</summary>
    public static void Binary(BinaryKind kind, float[] a, int[] aShape, float[] b, int[] bShape, float[] y, int[] yShape)
    {
        if (a.Length == y.Length && b.Length == y.Length)
        {
            Parallelism.ForRanges(y.Length, 1, (s, e) => Apply(kind, a.AsSpan(s, e - s), b.AsSpan(s, e - s), y.AsSpan(s, e - s)));
            return;
        }
        if (b.Length == 1 && a.Length == y.Length)
        {
            float bv = b[0];
            Parallelism.ForRanges(y.Length, 1, (s, e) => ApplyRight(kind, a.AsSpan(s, e - s), bv, y.AsSpan(s, e - s)));
            return;
        }
        if (a.Length == 1 && b.Length == y.Length)
        {
            float av = a[0];
            Parallelism.ForRanges(y.Length, 1, (s, e) => ApplyLeft(kind, av, b.AsSpan(s, e - s), y.AsSpan(s, e - s)));
            return;
        }

        // General case, which also covers the (N,C,H,W)∘(C,1,1) channel pattern as (N,C,HW)∘(1,C,1).
        var layout = new Layout(yShape, aShape, bShape);
        int inner = layout.Inner, rows = layout.Rows;
        bool aRow = layout.Strides[0][^1] != 0, bRow = layout.Strides[1][^1] != 0;
        Parallelism.ForRanges(rows, inner, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int ao = layout.RowOffset(0, r), bo = layout.RowOffset(1, r);
                var yRow = y.AsSpan(r * inner, inner);
                if (aRow && bRow) Apply(kind, a.AsSpan(ao, inner), b.AsSpan(bo, inner), yRow);
                else if (aRow) ApplyRight(kind, a.AsSpan(ao, inner), b[bo], yRow);
                else if (bRow) ApplyLeft(kind, a[ao], b.AsSpan(bo, inner), yRow);
                else yRow.Fill(Scalar(kind, a[ao], b[bo]));
            }
        });
    }

    /// <summary>
    /// target += g summed over the axes along which <paramref name="targetShape"/> was broadcast
    /// to <paramref name="gShape"/>: the backward of broadcasting.
    /// </summary>
    public static void ReduceAddTo(ReadOnlySpan<float> g, int[] gShape, Span<float> target, int[] targetShape)
    {
        if (target.Length == g.Length) { TensorPrimitives.Add(target, g, target); return; }
        if (target.Length == 1) { target[0] += (float)ElementwiseKernels.SumDouble(g); return; }

        var layout = new Layout(gShape, targetShape);
        int inner = layout.Inner, rows = layout.Rows;
        bool tRow = layout.Strides[0][^1] != 0;
        for (int r = 0; r < rows; r++)
        {
            int to = layout.RowOffset(0, r);
            var gRow = g.Slice(r * inner, inner);
            if (tRow) TensorPrimitives.Add(target.Slice(to, inner), gRow, target.Slice(to, inner));
            else target[to] += TensorPrimitives.Sum(gRow);
        }
    }

    private static float Scalar(BinaryKind kind, float a, float b) => kind switch
    {
        BinaryKind.Add => a + b,
        BinaryKind.Sub => a - b,
        BinaryKind.Mul => a * b,
        _ => a / b,
    };

    private static void Apply(BinaryKind kind, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        switch (kind)
        {
            case BinaryKind.Add: TensorPrimitives.Add(a, b, y); break;
            case BinaryKind.Sub: TensorPrimitives.Subtract(a, b, y); break;
            case BinaryKind.Mul: TensorPrimitives.Multiply(a, b, y); break;
            default: TensorPrimitives.Divide(a, b, y); break;
        }
    }

    private static void ApplyRight(BinaryKind kind, ReadOnlySpan<float> a, float b, Span<float> y)
    {
        switch (kind)
        {
            case BinaryKind.Add: TensorPrimitives.Add(a, b, y); break;
            case BinaryKind.Sub: TensorPrimitives.Subtract(a, b, y); break;
            case BinaryKind.Mul: TensorPrimitives.Multiply(a, b, y); break;
            default: TensorPrimitives.Divide(a, b, y); break;
        }
    }

    private static void ApplyLeft(BinaryKind kind, float a, ReadOnlySpan<float> b, Span<float> y)
    {
        switch (kind)
        {
            case BinaryKind.Add: TensorPrimitives.Add(b, a, y); break;
            case BinaryKind.Sub: TensorPrimitives.Subtract(a, b, y); break;
            case BinaryKind.Mul: TensorPrimitives.Multiply(b, a, y); break;
            default: TensorPrimitives.Divide(a, b, y); break;
        }
    }
}
