using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// The common max pool — 2×2 windows, stride 2, no padding — over one (H, W) plane, four outputs per
/// SSE step. Same values and same argmax as <see cref="PoolKernels.MaxForward"/>: each window is scanned
/// top-left, top-right, bottom-left, bottom-right, and a value replaces the best so far when strictly
/// greater or NaN. The argmax is kept as one byte per output, the window offset 0–3
/// (row·2 + column), so the backward needs neither x nor an int index tensor.
/// </summary>
public static class MaxPool2x2Kernels
{
    /// <summary>
    /// (H, W) plane → (H/2, W/2) window maxima (odd last rows / columns are dropped, as in floor mode);
    /// with a non-empty <paramref name="argmax"/> (one byte per output) also each maximum's window offset.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> plane, int height, int width, Span<float> output, Span<byte> argmax)
    {
        int ho = height / 2, wo = width / 2;
        bool keep = !argmax.IsEmpty;
        for (int oh = 0; oh < ho; oh++)
        {
            var top = plane.Slice(2 * oh * width, width);
            var bottom = plane.Slice((2 * oh + 1) * width, width);
            var outRow = output.Slice(oh * wo, wo);
            var argRow = keep ? argmax.Slice(oh * wo, wo) : default;
            int ow = 0;
            if (Sse41.IsSupported)
                for (; ow <= wo - 4; ow += 4)
                {
                    var (best, offset) = Window4(top.Slice(2 * ow), bottom.Slice(2 * ow));
                    best.CopyTo(outRow.Slice(ow));
                    if (keep)
                    {
                        // 4 ints in 0..3 → 4 bytes.
                        var packed = Sse2.PackUnsignedSaturate(Sse2.PackSignedSaturate(offset, offset), Vector128<short>.Zero);
                        MemoryMarshal.Write(argRow.Slice(ow), packed.AsUInt32().ToScalar());
                    }
                }
            for (; ow < wo; ow++)
            {
                int k = Window1(top[2 * ow], top[2 * ow + 1], bottom[2 * ow], bottom[2 * ow + 1], out outRow[ow]);
                if (keep) argRow[ow] = (byte)k;
            }
        }
    }

    /// <summary>
    /// gradIn += each output gradient at its window's argmax, from the offsets <see cref="Forward"/> kept.
    /// Unless <paramref name="accumulate"/>, gradIn is assigned instead (every element, zeros off the argmax).
    /// </summary>
    public static void Backward(ReadOnlySpan<byte> argmax, ReadOnlySpan<float> gradOut, Span<float> gradIn, int height, int width,
        bool accumulate = true)
    {
        int ho = height / 2, wo = width / 2;
        if (!accumulate)
        {
            // Cells no window covers: an odd last row, and an odd last column.
            gradIn.Slice(2 * ho * width).Clear();
            if (width % 2 == 1)
                for (int ih = 0; ih < 2 * ho; ih++) gradIn[ih * width + width - 1] = 0f;
        }
        for (int oh = 0; oh < ho; oh++)
        {
            var top = gradIn.Slice(2 * oh * width, width);
            var bottom = gradIn.Slice((2 * oh + 1) * width, width);
            var gRow = gradOut.Slice(oh * wo, wo);
            var argRow = argmax.Slice(oh * wo, wo);
            int ow = 0;
            if (Sse41.IsSupported)
                for (; ow <= wo - 4; ow += 4)
                {
                    var g = Vector128.Create(gRow.Slice(ow));
                    var k = Sse41.ConvertToVector128Int32(Vector128.CreateScalar(MemoryMarshal.Read<uint>(argRow.Slice(ow))).AsByte());
                    // Offset 0..3 → gradient or 0 per window cell; interleave the columns back into rows.
                    var g0 = Only(g, k, 0);
                    var g1 = Only(g, k, 1);
                    var g2 = Only(g, k, 2);
                    var g3 = Only(g, k, 3);
                    Put(top.Slice(2 * ow), Sse.UnpackLow(g0, g1), Sse.UnpackHigh(g0, g1), accumulate);
                    Put(bottom.Slice(2 * ow), Sse.UnpackLow(g2, g3), Sse.UnpackHigh(g2, g3), accumulate);
                }
            for (; ow < wo; ow++)
            {
                int k = argRow[ow];
                if (!accumulate)
                {
                    top[2 * ow] = top[2 * ow + 1] = 0f;
                    bottom[2 * ow] = bottom[2 * ow + 1] = 0f;
                }
                (k < 2 ? top : bottom)[2 * ow + (k & 1)] += gRow[ow];
            }
        }
    }

    // Four windows: columns 2·i, 2·i + 1 of the top and bottom rows, i = 0..3.
    private static (Vector128<float> Best, Vector128<int> Offset) Window4(ReadOnlySpan<float> top, ReadOnlySpan<float> bottom)
    {
        var t0 = Vector128.Create(top);
        var t1 = Vector128.Create(top.Slice(4));
        var b0 = Vector128.Create(bottom);
        var b1 = Vector128.Create(bottom.Slice(4));
        const byte Even = 0b10_00_10_00, Odd = 0b11_01_11_01;
        var best = Sse.Shuffle(t0, t1, Even);
        var offset = Vector128<int>.Zero;
        Challenge(Sse.Shuffle(t0, t1, Odd), 1, ref best, ref offset);
        Challenge(Sse.Shuffle(b0, b1, Even), 2, ref best, ref offset);
        Challenge(Sse.Shuffle(b0, b1, Odd), 3, ref best, ref offset);
        return (best, offset);
    }

    // A later window value replaces the best when strictly greater or NaN (NaN then propagates).
    private static void Challenge(Vector128<float> value, int k, ref Vector128<float> best, ref Vector128<int> offset)
    {
        var take = Sse.Or(Sse.CompareGreaterThan(value, best), Sse.CompareUnordered(value, value));
        best = Sse41.BlendVariable(best, value, take);
        offset = Sse41.BlendVariable(offset.AsSingle(), Vector128.Create(k).AsSingle(), take).AsInt32();
    }

    private static int Window1(float a, float b, float c, float d, out float best)
    {
        int k = 0;
        best = a;
        if (b > best || float.IsNaN(b)) { best = b; k = 1; }
        if (c > best || float.IsNaN(c)) { best = c; k = 2; }
        if (d > best || float.IsNaN(d)) { best = d; k = 3; }
        return k;
    }

    private static Vector128<float> Only(Vector128<float> g, Vector128<int> offsets, int k) =>
        Sse.And(g, Sse2.CompareEqual(offsets, Vector128.Create(k)).AsSingle());

    // row[0..8) (+)= low, high.
    private static void Put(Span<float> row, Vector128<float> low, Vector128<float> high, bool accumulate)
    {
        if (accumulate)
        {
            low += Vector128.Create((ReadOnlySpan<float>)row);
            high += Vector128.Create((ReadOnlySpan<float>)row.Slice(4));
        }
        low.CopyTo(row);
        high.CopyTo(row.Slice(4));
    }
}
