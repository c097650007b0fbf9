using System.Numerics.Tensors;
using Circumvent.Engine.Kernels;

namespace Circumvent.Engine;

/// <summary>
/// Shape ops. Tensors are always contiguous and own their buffer, so every op here copies into a
/// new pooled tensor (a reshape is one memcpy; permutes gather with strides).
/// </summary>
public static partial class Op
{
    /// <summary>Same data, new shape; one dimension may be -1.</summary>
    public static Tensor Reshape(Tensor a, params int[] shape)
    {
        var resolved = ResolveShape(a, shape);
        var y = Tensor.Empty(resolved);
        a.Span.CopyTo(y.Span);
        return y.WithBackward("reshape", [a], gy =>
        {
            var gx = a.GradSpan();
            TensorPrimitives.Add(gx, gy.Span, gx);
        });
    }

    /// <summary>Flattens dimensions startDim.. into one (PyTorch torch.flatten(x, 1) by default).</summary>
    public static Tensor Flatten(Tensor a, int startDim = 1)
    {
        if (a.Rank == 0) return Reshape(a, 1);
        int start = Shape.Axis(startDim, a.Rank);
        var shape = new int[start + 1];
        for (int i = 0; i < start; i++) shape[i] = a.Shape[i];
        shape[start] = Shape.Size(a.Shape.AsSpan(start));
        return Reshape(a, shape);
    }

    public static Tensor Transpose(Tensor a, int dim0, int dim1)
    {
        int d0 = Shape.Axis(dim0, a.Rank), d1 = Shape.Axis(dim1, a.Rank);
        var perm = new int[a.Rank];
        for (int i = 0; i < perm.Length; i++) perm[i] = i;
        (perm[d0], perm[d1]) = (perm[d1], perm[d0]);
        return Permute(a, perm);
    }

    /// <summary>Output dimension k is input dimension dims[k] (torch.permute).</summary>
    public static Tensor Permute(Tensor a, params int[] dims)
    {
        if (dims.Length != a.Rank)
            throw new ArgumentException($"permute: {dims.Length} dims given for a tensor of shape {Shape.Format(a.Shape)}.");
        var perm = new int[dims.Length];
        var seen = new bool[dims.Length];
        for (int k = 0; k < dims.Length; k++)
        {
            int d = Shape.Axis(dims[k], a.Rank);
            if (seen[d]) throw new ArgumentException($"permute: dims ({string.Join(", ", dims)}) repeat dimension {d}.");
            seen[d] = true;
            perm[k] = d;
        }
        var outShape = new int[perm.Length];
        for (int k = 0; k < perm.Length; k++) outShape[k] = a.Shape[perm[k]];

        var y = Tensor.Empty(outShape);
        PermuteInto(a.Data, a.Shape, perm, y.Data, accumulate: false);
        return y.WithBackward("permute", [a], gy =>
        {
            // dX = permute(dY, perm⁻¹)
            var inverse = new int[perm.Length];
            for (int k = 0; k < perm.Length; k++) inverse[perm[k]] = k;
            a.GradSpan();
            PermuteInto(gy.Data, outShape, inverse, a.Grad!.Data, accumulate: true);
        });
    }

    public static Tensor Concat(Tensor[] parts, int axis)
    {
        if (parts.Length == 0) throw new ArgumentException("concat: no tensors given.");
        var first = parts[0];
        int ax = Shape.Axis(axis, first.Rank);
        int total = 0;
        foreach (var p in parts)
        {
            bool ok = p.Rank == first.Rank;
            for (int i = 0; ok && i < p.Rank; i++) ok = i == ax || p.Shape[i] == first.Shape[i];
            if (!ok)
                throw new ArgumentException($"concat along axis {ax}: shape {Shape.Format(p.Shape)} does not match {Shape.Format(first.Shape)} outside that axis.");
            total += p.Shape[ax];
        }
        var outShape = first.Shape.ToArray();
        outShape[ax] = total;
        int outer = Shape.Size(first.Shape.AsSpan(0, ax)), inner = Shape.Size(first.Shape.AsSpan(ax + 1));

        var y = Tensor.Empty(outShape);
        int rowLength = total * inner, offset = 0;
        var offsets = new int[parts.Length];
        for (int p = 0; p < parts.Length; p++)
        {
            offsets[p] = offset;
            int block = parts[p].Shape[ax] * inner;
            var src = parts[p].Data;
            for (int o = 0; o < outer; o++) Array.Copy(src, o * block, y.Data, o * rowLength + offset, block);
            offset += block;
        }
        return y.WithBackward("concat", parts, gy =>
        {
            for (int p = 0; p < parts.Length; p++)
            {
                if (!parts[p].RequiresGrad) continue;
                int block = parts[p].Shape[ax] * inner;
                var gx = parts[p].GradSpan();
                for (int o = 0; o < outer; o++)
                {
                    var dst = gx.Slice(o * block, block);
                    TensorPrimitives.Add(dst, gy.Span.Slice(o * rowLength + offsets[p], block), dst);
                }
            }
        });
    }

    /// <summary>Elements start..start+length along axis (PyTorch narrow).</summary>
    public static Tensor Slice(Tensor a, int axis, int start, int length)
    {
        int ax = Shape.Axis(axis, a.Rank), dim = a.Shape[ax];
        if (start < 0 || length < 0 || start + length > dim)
            throw new ArgumentException($"slice: range [{start}, {start + length}) is outside axis {ax} of size {dim} (shape {Shape.Format(a.Shape)}).");
        var outShape = a.Shape.ToArray();
        outShape[ax] = length;
        int outer = Shape.Size(a.Shape.AsSpan(0, ax)), inner = Shape.Size(a.Shape.AsSpan(ax + 1));
        int srcRow = dim * inner, block = length * inner, skip = start * inner;

        var y = Tensor.Empty(outShape);
        for (int o = 0; o < outer; o++) Array.Copy(a.Data, o * srcRow + skip, y.Data, o * block, block);
        return y.WithBackward("slice", [a], gy =>
        {
            var gx = a.GradSpan();
            for (int o = 0; o < outer; o++)
            {
                var dst = gx.Slice(o * srcRow + skip, block);
                TensorPrimitives.Add(dst, gy.Span.Slice(o * block, block), dst);
            }
        });
    }

    private static int[] ResolveShape(Tensor a, int[] shape)
    {
        var resolved = shape.ToArray();
        int inferred = -1;
        long known = 1;
        for (int i = 0; i < resolved.Length; i++)
        {
            if (resolved[i] == -1)
            {
                if (inferred >= 0) throw new ArgumentException($"reshape {Shape.Format(a.Shape)} → {Shape.Format(shape)}: only one dimension may be -1.");
                inferred = i;
            }
            else if (resolved[i] < 0) throw new ArgumentException($"reshape {Shape.Format(a.Shape)} → {Shape.Format(shape)}: negative dimension.");
            else known *= resolved[i];
        }
        if (inferred >= 0)
        {
            if (known == 0 || a.Length % known != 0)
                throw new ArgumentException($"reshape: cannot infer -1 in {Shape.Format(shape)} for {a.Length} elements (shape {Shape.Format(a.Shape)}).");
            resolved[inferred] = (int)(a.Length / known);
        }
        else if (known != a.Length)
            throw new ArgumentException($"reshape: shape {Shape.Format(shape)} holds {known} elements, tensor {Shape.Format(a.Shape)} has {a.Length}.");
        return resolved;
    }

    /// <summary>
    /// dst (shape srcShape permuted by perm) gets src gathered with strides; dst index k walks
    /// source dimension perm[k]. With <paramref name="accumulate"/> it adds instead of writing.
    /// Source dimensions that stay adjacent are merged first, so NCHW → NHWC becomes a batch of
    /// (C, H·W) → (H·W, C) matrix transposes, which run in cache-sized tiles.
    /// </summary>
    private static void PermuteInto(float[] src, int[] srcShape, int[] perm, float[] dst, bool accumulate)
    {
        if (src.Length == 0) return;
        var (shape, order) = CollapsePermutation(srcShape, perm);
        int rank = order.Length;
        if (rank == 1)
        {
            if (accumulate) TensorPrimitives.Add(dst, src, dst);
            else Array.Copy(src, dst, src.Length);
            return;
        }
        if (order[^1] == rank - 2 && order[^2] == rank - 1 && IsIdentityPrefix(order, rank - 2))
        {
            int rows = shape[^2], cols = shape[^1];
            TransposeBatch(src, dst, src.Length / (rows * cols), rows, cols, accumulate);
            return;
        }

        var srcStrides = Shape.Strides(shape);
        var dims = new int[rank];
        var strides = new int[rank];
        for (int k = 0; k < rank; k++) { dims[k] = shape[order[k]]; strides[k] = srcStrides[order[k]]; }
        int inner = dims[^1], innerStride = strides[^1];
        int outerRows = Shape.Size(dims.AsSpan(0, rank - 1));

        Parallelism.ForRanges(outerRows, inner, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int off = 0, rem = r;
                for (int k = rank - 2; k >= 0; k--) { off += (rem % dims[k]) * strides[k]; rem /= dims[k]; }
                int d = r * inner;
                if (accumulate)
                    for (int i = 0; i < inner; i++) dst[d + i] += src[off + i * innerStride];
                else if (innerStride == 1)
                    Array.Copy(src, off, dst, d, inner);
                else
                    for (int i = 0; i < inner; i++) dst[d + i] = src[off + i * innerStride];
            }
        });
    }

    /// <summary>
    /// Merges runs of source dimensions that the permutation keeps adjacent and in order, and
    /// drops size-1 dimensions. Returns the collapsed source shape and the collapsed permutation.
    /// </summary>
    private static (int[] shape, int[] order) CollapsePermutation(int[] srcShape, int[] perm)
    {
        // nextNonUnit[d]: the first source dim after d with size > 1; size-1 dims do not break a run.
        var nextNonUnit = new int[srcShape.Length];
        for (int d = srcShape.Length - 1, next = -1; d >= 0; d--) { nextNonUnit[d] = next; if (srcShape[d] != 1) next = d; }

        var runs = new List<(int firstDim, int size)>();
        int previous = -1;
        foreach (var d in perm)
        {
            if (srcShape[d] == 1) continue;
            if (previous >= 0 && d == nextNonUnit[previous])
                runs[^1] = (runs[^1].firstDim, runs[^1].size * srcShape[d]);
            else runs.Add((d, srcShape[d]));
            previous = d;
        }
        if (runs.Count == 0) return ([1], [0]);
        var bySource = runs.Select((run, outIndex) => (run, outIndex)).OrderBy(r => r.run.firstDim).ToArray();
        var shape = bySource.Select(r => r.run.size).ToArray();
        var order = new int[runs.Count];
        for (int srcIndex = 0; srcIndex < bySource.Length; srcIndex++) order[bySource[srcIndex].outIndex] = srcIndex;
        return (shape, order);
    }

    private static bool IsIdentityPrefix(int[] order, int length)
    {
        for (int k = 0; k < length; k++) if (order[k] != k) return false;
        return true;
    }

    // dst[b] (cols × rows) = src[b] (rows × cols)ᵀ, in 32 × 32 tiles so both sides stay in cache.
    private static void TransposeBatch(float[] src, float[] dst, int batch, int rows, int cols, bool accumulate)
    {
        const int Tile = 32;
        int rowTiles = (rows + Tile - 1) / Tile, matrix = rows * cols;
        Parallelism.For(batch * rowTiles, (long)Tile * cols, item =>
        {
            int b = item / rowTiles, r0 = item % rowTiles * Tile, r1 = Math.Min(rows, r0 + Tile);
            int bo = b * matrix;
            for (int c0 = 0; c0 < cols; c0 += Tile)
            {
                int c1 = Math.Min(cols, c0 + Tile);
                for (int r = r0; r < r1; r++)
                {
                    int s = bo + r * cols;
                    if (accumulate) for (int c = c0; c < c1; c++) dst[bo + c * rows + r] += src[s + c];
                    else for (int c = c0; c < c1; c++) dst[bo + c * rows + r] = src[s + c];
                }
            }
        });
    }
}
