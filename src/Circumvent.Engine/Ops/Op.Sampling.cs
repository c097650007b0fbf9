using Circumvent.Engine.Kernels;

namespace Circumvent.Engine;

/// <summary>Bilinear resizing and grid sampling (PyTorch F.interpolate / F.grid_sample).</summary>
public static partial class Op
{
    /// <summary>Bilinear resize of (N, C, H, W) to (N, C, outH, outW), PyTorch F.interpolate semantics.</summary>
    public static Tensor ResizeBilinear(Tensor x, int outH, int outW, bool alignCorners = false)
    {
        Shape.CheckRank(x, 4, "resize input (N, C, H, W)");
        if (outH <= 0 || outW <= 0) throw new ArgumentException($"resize: output size {outH}×{outW} must be positive.");
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        if (h == 0 || w == 0) throw new ArgumentException($"resize: input {Shape.Format(x.Shape)} has an empty plane.");
        var rows = new SamplingKernels.LinearTaps(h, outH, alignCorners);
        var cols = new SamplingKernels.LinearTaps(w, outW, alignCorners);
        int inPlane = h * w, outPlane = outH * outW;

        var y = Tensor.Empty(n, c, outH, outW);
        float[] xd = x.Data, yd = y.Data;
        Parallelism.For(n * c, 8L * outPlane, p =>
            SamplingKernels.ResizePlane(xd.AsSpan(p * inPlane, inPlane), w, rows, cols, yd.AsSpan(p * outPlane, outPlane)));
        return y.WithBackward("resize_bilinear", [x], gy =>
        {
            x.GradSpan();
            float[] g = gy.Data, gx = x.Grad!.Data;
            Parallelism.For(n * c, 8L * outPlane, p =>
                SamplingKernels.ResizePlaneBackward(g.AsSpan(p * outPlane, outPlane), w, rows, cols, gx.AsSpan(p * inPlane, inPlane)));
        });
    }

    /// <summary>Bilinear F.grid_sample with zero padding: x (N, C, H, W), grid (N, Ho, Wo, 2) in [-1, 1] (x, y) → (N, C, Ho, Wo).</summary>
    public static Tensor GridSample(Tensor x, Tensor grid, bool alignCorners = true)
    {
        Shape.CheckRank(x, 4, "grid_sample input (N, C, H, W)");
        Shape.CheckRank(grid, 4, "grid_sample grid (N, Ho, Wo, 2)");
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        int ho = grid.Shape[1], wo = grid.Shape[2];
        if (grid.Shape[0] != n || grid.Shape[3] != 2)
            throw new ArgumentException($"grid_sample: grid must be ({n}, Ho, Wo, 2) for input {Shape.Format(x.Shape)}, got {Shape.Format(grid.Shape)}.");
        int plane = h * w, outPlane = ho * wo, image = c * plane;

        var y = Tensor.Empty(n, c, ho, wo);
        float[] xd = x.Data, gd = grid.Data, yd = y.Data;
        // One task per output row of one image; output (n, ·, r, ·) is written at stride Ho·Wo per channel.
        Parallelism.For(n * ho, 12L * wo * c, nr =>
        {
            int b = nr / ho, r = nr % ho;
            var xi = xd.AsSpan(b * image, image);
            for (int col = 0; col < wo; col++)
            {
                int gi = ((b * ho + r) * wo + col) * 2;
                float ix = SamplingKernels.Unnormalize(gd[gi], w, alignCorners);
                float iy = SamplingKernels.Unnormalize(gd[gi + 1], h, alignCorners);
                SamplingKernels.SamplePoint(xi, c, h, w, ix, iy, yd.AsSpan(b * c * outPlane + r * wo + col), outPlane);
            }
        });
        return y.WithBackward("grid_sample", [x, grid], gy =>
        {
            if (x.RequiresGrad) x.GradSpan();
            if (grid.RequiresGrad) grid.GradSpan();
            float[] g = gy.Data;
            float[]? gx = x.Grad?.Data, gg = grid.Grad?.Data;
            bool wantX = x.RequiresGrad, wantGrid = grid.RequiresGrad;
            float sx = SamplingKernels.UnnormalizeSlope(w, alignCorners), sy = SamplingKernels.UnnormalizeSlope(h, alignCorners);
            // Points of one image scatter into the same input plane, so images are the unit of parallelism.
            Parallelism.For(n, 24L * outPlane * c, b =>
            {
                var xi = xd.AsSpan(b * image, image);
                var gxi = wantX ? gx!.AsSpan(b * image, image) : Span<float>.Empty;
                for (int p = 0; p < outPlane; p++)
                {
                    int gi = (b * outPlane + p) * 2;
                    float ix = SamplingKernels.Unnormalize(gd[gi], w, alignCorners);
                    float iy = SamplingKernels.Unnormalize(gd[gi + 1], h, alignCorners);
                    var (gix, giy) = SamplingKernels.SamplePointBackward(xi, c, h, w, ix, iy,
                        g.AsSpan(b * c * outPlane + p), outPlane, gxi);
                    if (wantGrid)
                    {
                        gg![gi] += gix * sx;
                        gg[gi + 1] += giy * sy;
                    }
                }
            });
        });
    }
}
