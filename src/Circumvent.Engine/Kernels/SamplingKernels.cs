namespace Circumvent.Engine.Kernels;

/// <summary>
/// Bilinear sampling kernels with PyTorch's index arithmetic (ATen UpSample.h / GridSampler.h),
/// computed in float like ATen's CPU path so results agree to the last bits where possible.
/// </summary>
public static class SamplingKernels
{
    /// <summary>
    /// Per output coordinate along one axis: the two source indices and their weights, as in
    /// ATen's compute_indices_weights_linear (i1 = i0 + 1 unless i0 is the last index).
    /// </summary>
    public readonly struct LinearTaps
    {
        public readonly int[] Index0, Index1;
        public readonly float[] Weight0, Weight1;

        public LinearTaps(int inSize, int outSize, bool alignCorners)
        {
            Index0 = new int[outSize]; Index1 = new int[outSize];
            Weight0 = new float[outSize]; Weight1 = new float[outSize];
            float scale = alignCorners
                ? (outSize > 1 ? (float)(inSize - 1) / (outSize - 1) : 0f)
                : (float)inSize / outSize;
            for (int d = 0; d < outSize; d++)
            {
                float src;
                if (alignCorners) src = scale * d;
                else
                {
                    // NOTE: ATen evaluates scale·(d + 0.5) − 0.5 in double and clamps negatives to 0.
                    src = (float)(scale * (d + 0.5) - 0.5);
                    if (src < 0f) src = 0f;
                }
                int i0 = (int)src;
                float lambda = Math.Clamp(src - i0, 0f, 1f);
                Index0[d] = i0;
                Index1[d] = i0 + (i0 < inSize - 1 ? 1 : 0);
                Weight0[d] = 1f - lambda;
                Weight1[d] = lambda;
            }
        }
    }

    /// <summary>One (H, W) plane → (outH, outW).</summary>
    public static void ResizePlane(ReadOnlySpan<float> x, int w, in LinearTaps rows, in LinearTaps cols, Span<float> y)
    {
        int outH = rows.Index0.Length, outW = cols.Index0.Length;
        for (int oh = 0; oh < outH; oh++)
        {
            var r0 = x.Slice(rows.Index0[oh] * w, w);
            var r1 = x.Slice(rows.Index1[oh] * w, w);
            float h0 = rows.Weight0[oh], h1 = rows.Weight1[oh];
            var yRow = y.Slice(oh * outW, outW);
            for (int ow = 0; ow < outW; ow++)
            {
                int c0 = cols.Index0[ow], c1 = cols.Index1[ow];
                float w0 = cols.Weight0[ow], w1 = cols.Weight1[ow];
                yRow[ow] = h0 * (w0 * r0[c0] + w1 * r0[c1]) + h1 * (w0 * r1[c0] + w1 * r1[c1]);
            }
        }
    }

    /// <summary>Adjoint of <see cref="ResizePlane"/>: gx += Rᵀ gy for one plane.</summary>
    public static void ResizePlaneBackward(ReadOnlySpan<float> gy, int w, in LinearTaps rows, in LinearTaps cols, Span<float> gx)
    {
        int outH = rows.Index0.Length, outW = cols.Index0.Length;
        for (int oh = 0; oh < outH; oh++)
        {
            int b0 = rows.Index0[oh] * w, b1 = rows.Index1[oh] * w;
            float h0 = rows.Weight0[oh], h1 = rows.Weight1[oh];
            for (int ow = 0; ow < outW; ow++)
            {
                float g = gy[oh * outW + ow];
                int c0 = cols.Index0[ow], c1 = cols.Index1[ow];
                float w0 = cols.Weight0[ow], w1 = cols.Weight1[ow];
                gx[b0 + c0] += h0 * w0 * g;
                gx[b0 + c1] += h0 * w1 * g;
                gx[b1 + c0] += h1 * w0 * g;
                gx[b1 + c1] += h1 * w1 * g;
            }
        }
    }

    /// <summary>grid_sampler_unnormalize: [-1, 1] → pixel coordinate.</summary>
    public static float Unnormalize(float coord, int size, bool alignCorners) =>
        alignCorners ? (coord + 1f) / 2f * (size - 1) : ((coord + 1f) * size - 1f) / 2f;

    /// <summary>d(pixel coordinate)/d(grid coordinate).</summary>
    public static float UnnormalizeSlope(int size, bool alignCorners) =>
        alignCorners ? (size - 1) / 2f : size / 2f;

    /// <summary>
    /// Samples one point of every channel plane of one image: x (C, H, W) at pixel (ix, iy), zero
    /// outside. y receives C values at stride <paramref name="yStride"/>.
    /// </summary>
    public static void SamplePoint(ReadOnlySpan<float> x, int c, int h, int w, float ix, float iy, Span<float> y, int yStride)
    {
        var t = new Corners(ix, iy, h, w);
        int plane = h * w;
        for (int ch = 0; ch < c; ch++)
        {
            var p = x.Slice(ch * plane, plane);
            float v = 0f;
            if (t.NwIn) v += p[t.Y0 * w + t.X0] * t.Nw;
            if (t.NeIn) v += p[t.Y0 * w + t.X0 + 1] * t.Ne;
            if (t.SwIn) v += p[(t.Y0 + 1) * w + t.X0] * t.Sw;
            if (t.SeIn) v += p[(t.Y0 + 1) * w + t.X0 + 1] * t.Se;
            y[ch * yStride] = v;
        }
    }

    /// <summary>
    /// Backward of <see cref="SamplePoint"/>: scatters gy (C values at stride gyStride) into gx
    /// (when not empty) and returns the gradient with respect to the pixel coordinates (ix, iy).
    /// </summary>
    public static (float gix, float giy) SamplePointBackward(ReadOnlySpan<float> x, int c, int h, int w, float ix, float iy,
        ReadOnlySpan<float> gy, int gyStride, Span<float> gx)
    {
        var t = new Corners(ix, iy, h, w);
        int plane = h * w;
        float gix = 0f, giy = 0f;
        // Distances to the far corners, as ATen names them: (ix_se − ix), (iy_se − iy), ...
        float east = t.X0 + 1 - ix, west = ix - t.X0, south = t.Y0 + 1 - iy, north = iy - t.Y0;
        for (int ch = 0; ch < c; ch++)
        {
            var p = x.Slice(ch * plane, plane);
            float g = gy[ch * gyStride];
            bool scatter = !gx.IsEmpty;
            var gp = scatter ? gx.Slice(ch * plane, plane) : default;
            if (t.NwIn)
            {
                int j = t.Y0 * w + t.X0; float v = p[j];
                gix -= v * south * g; giy -= v * east * g;
                if (scatter) gp[j] += t.Nw * g;
            }
            if (t.NeIn)
            {
                int j = t.Y0 * w + t.X0 + 1; float v = p[j];
                gix += v * south * g; giy -= v * west * g;
                if (scatter) gp[j] += t.Ne * g;
            }
            if (t.SwIn)
            {
                int j = (t.Y0 + 1) * w + t.X0; float v = p[j];
                gix -= v * north * g; giy += v * east * g;
                if (scatter) gp[j] += t.Sw * g;
            }
            if (t.SeIn)
            {
                int j = (t.Y0 + 1) * w + t.X0 + 1; float v = p[j];
                gix += v * north * g; giy += v * west * g;
                if (scatter) gp[j] += t.Se * g;
            }
        }
        return (gix, giy);
    }

    // The four neighbours of (ix, iy), their bilinear weights and whether each lies inside the image.
    private readonly struct Corners
    {
        public readonly int X0, Y0;
        public readonly float Nw, Ne, Sw, Se;
        public readonly bool NwIn, NeIn, SwIn, SeIn;

        public Corners(float ix, float iy, int h, int w)
        {
            float fx = MathF.Floor(ix), fy = MathF.Floor(iy);
            // NOTE: far-outside points would overflow int; any point beyond one pixel of the border samples zeros.
            fx = Math.Clamp(fx, -2f, w + 1f);
            fy = Math.Clamp(fy, -2f, h + 1f);
            X0 = (int)fx; Y0 = (int)fy;
            float e = X0 + 1 - ix, wst = ix - X0, s = Y0 + 1 - iy, n = iy - Y0;
            Nw = e * s; Ne = wst * s; Sw = e * n; Se = wst * n;
            bool x0In = X0 >= 0 && X0 < w, x1In = X0 + 1 >= 0 && X0 + 1 < w;
            bool y0In = Y0 >= 0 && Y0 < h, y1In = Y0 + 1 >= 0 && Y0 + 1 < h;
            NwIn = x0In && y0In; NeIn = x1In && y0In; SwIn = x0In && y1In; SeIn = x1In && y1In;
        }
    }
}
