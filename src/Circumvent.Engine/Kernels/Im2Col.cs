using System.Numerics.Tensors;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// Geometry of one 2-D convolution or pooling window sweep over a single (C, H, W) image.
/// Output size follows PyTorch: floor((H + 2p − k) / s) + 1.
/// </summary>
public readonly record struct ConvGeometry(int Channels, int Height, int Width, int KernelH, int KernelW, int Stride, int Padding)
{
    public int OutHeight => (Height + 2 * Padding - KernelH) / Stride + 1;
    public int OutWidth => (Width + 2 * Padding - KernelW) / Stride + 1;
    /// <summary>Rows of the column matrix: C·kH·kW.</summary>
    public int ColumnRows => Channels * KernelH * KernelW;
    /// <summary>Columns of the column matrix: Ho·Wo.</summary>
    public int ColumnCols => OutHeight * OutWidth;
    public int ImageSize => Channels * Height * Width;
}

/// <summary>
/// Unfolds an image into the column matrix a convolution multiplies by, and folds it back.
/// Column layout: (C·kH·kW, Ho·Wo), row r = (c·kH + i)·kW + j holds input[c, oh·s − p + i, ow·s − p + j]
/// for every output position (oh, ow), zero where that falls in the padding.
/// </summary>
public static class Im2Col
{
    /// <summary>(C, H, W) image → (C·kH·kW, Ho·Wo) columns; every column entry is written.</summary>
    public static void Unfold(in ConvGeometry g, ReadOnlySpan<float> image, Span<float> columns)
    {
        int ho = g.OutHeight, wo = g.OutWidth, h = g.Height, w = g.Width, s = g.Stride, p = g.Padding;
        int row = 0;
        for (int c = 0; c < g.Channels; c++)
        {
            var plane = image.Slice(c * h * w, h * w);
            for (int i = 0; i < g.KernelH; i++)
                for (int j = 0; j < g.KernelW; j++, row++)
                {
                    var dst = columns.Slice(row * ho * wo, ho * wo);
                    // Output columns ow whose input column iw = ow·s − p + j lies inside [0, w).
                    int owStart = FirstInside(j - p, s), owEnd = EndInside(j - p, s, w, wo);
                    for (int oh = 0; oh < ho; oh++)
                    {
                        var dstRow = dst.Slice(oh * wo, wo);
                        int ih = oh * s - p + i;
                        if ((uint)ih >= (uint)h || owStart >= owEnd) { dstRow.Clear(); continue; }
                        dstRow[..owStart].Clear();
                        dstRow[owEnd..].Clear();
                        var src = plane.Slice(ih * w, w);
                        int iw = owStart * s - p + j;
                        if (s == 1)
                            src.Slice(iw, owEnd - owStart).CopyTo(dstRow[owStart..owEnd]);
                        else
                            for (int ow = owStart; ow < owEnd; ow++, iw += s) dstRow[ow] = src[iw];
                    }
                }
        }
    }

    /// <summary>Adjoint of <see cref="Unfold"/>: adds every column entry back into its image position.</summary>
    public static void FoldAdd(in ConvGeometry g, ReadOnlySpan<float> columns, Span<float> image)
    {
        int ho = g.OutHeight, wo = g.OutWidth, h = g.Height, w = g.Width, s = g.Stride, p = g.Padding;
        int row = 0;
        for (int c = 0; c < g.Channels; c++)
        {
            var plane = image.Slice(c * h * w, h * w);
            for (int i = 0; i < g.KernelH; i++)
                for (int j = 0; j < g.KernelW; j++, row++)
                {
                    var src = columns.Slice(row * ho * wo, ho * wo);
                    int owStart = FirstInside(j - p, s), owEnd = EndInside(j - p, s, w, wo);
                    if (owStart >= owEnd) continue;
                    for (int oh = 0; oh < ho; oh++)
                    {
                        int ih = oh * s - p + i;
                        if ((uint)ih >= (uint)h) continue;
                        var srcRow = src.Slice(oh * wo, wo);
                        var dst = plane.Slice(ih * w, w);
                        int iw = owStart * s - p + j;
                        if (s == 1)
                        {
                            var d = dst.Slice(iw, owEnd - owStart);
                            TensorPrimitives.Add(d, srcRow[owStart..owEnd], d);
                        }
                        else
                            for (int ow = owStart; ow < owEnd; ow++, iw += s) dst[iw] += srcRow[ow];
                    }
                }
        }
    }

    // Smallest o ≥ 0 with o·s + offset ≥ 0.
    private static int FirstInside(int offset, int s) => offset >= 0 ? 0 : (-offset + s - 1) / s;

    // One past the largest o < outCount with o·s + offset < size (clamped to at least FirstInside's range).
    private static int EndInside(int offset, int s, int size, int outCount)
    {
        int limit = size - offset; // need o·s < limit
        if (limit <= 0) return 0;
        return Math.Min(outCount, (limit + s - 1) / s);
    }
}
