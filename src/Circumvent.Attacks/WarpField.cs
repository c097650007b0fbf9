namespace Circumvent.Attacks;

/// <summary>
/// WaNet's warping field (Nguyen &amp; Tran 2021). A random flow field of shape (2, k, k) — plane 0
/// the x (column) offsets, plane 1 the y (row) offsets — uniform in [−1, 1], divided by its mean
/// absolute value, is upsampled bicubically (align corners) to H × W; the sampling grid is
/// clamp((identity + s·flow / size) · rescale, −1, 1), in grid_sample's (x, y) order and [−1, 1]
/// coordinates (align corners). The authors divide both offsets by the (square) image height; here
/// x is divided by W and y by H, which is the same on square images.
/// </summary>
public static class WarpField
{
    /// <summary>The normalised random flow field (2·k·k floats, planes x then y) drawn from <paramref name="seed"/>.</summary>
    public static float[] RandomFlow(int k, int seed)
    {
        if (k < 2) throw new ArgumentException($"WaNet: the control grid must be at least 2×2, got k = {k}.");
        var rng = new Random(seed);
        var flow = new float[2 * k * k];
        for (int i = 0; i < flow.Length; i++) flow[i] = (float)(rng.NextDouble() * 2 - 1);
        return Normalized(flow);
    }

    /// <summary>flow / mean(|flow|) (a zero field stays zero).</summary>
    public static float[] Normalized(float[] flow)
    {
        double meanAbs = flow.Average(v => Math.Abs((double)v));
        return meanAbs == 0 ? (float[])flow.Clone() : Array.ConvertAll(flow, v => (float)(v / meanAbs));
    }

    /// <summary>The flow upsampled to H × W, as H·W·2 floats (x, y) per pixel — PyTorch's noise_grid.</summary>
    public static float[] Upsampled(float[] flow, int k, int height, int width)
    {
        var planes = BicubicUpsampling.AlignCorners(flow, 2, k, k, height, width); // (2, H, W)
        var interleaved = new float[height * width * 2];
        for (int p = 0; p < height * width; p++)
        {
            interleaved[2 * p] = planes[p];
            interleaved[2 * p + 1] = planes[height * width + p];
        }
        return interleaved;
    }

    /// <summary>The warp's sampling grid (H·W·2 floats, (x, y) per output pixel, in [−1, 1]).</summary>
    public static float[] Grid(float[] flow, int k, int height, int width, double strength, double rescale)
    {
        var offsets = Upsampled(flow, k, height, width);
        var grid = new float[offsets.Length];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int i = 2 * (y * width + x);
                grid[i] = Clamp((Identity(x, width) + strength * offsets[i] / width) * rescale);
                grid[i + 1] = Clamp((Identity(y, height) + strength * offsets[i + 1] / height) * rescale);
            }
        return grid;
    }

    /// <summary>
    /// The grid plus per-element jitter uniform in [−1, 1]/size (x by W, y by H), clamped again —
    /// WaNet's noise-mode grid for one sample.
    /// </summary>
    public static float[] Jittered(ReadOnlySpan<float> grid, int height, int width, Random rng)
    {
        var jittered = new float[grid.Length];
        for (int p = 0; p < height * width; p++)
        {
            jittered[2 * p] = Clamp(grid[2 * p] + (rng.NextDouble() * 2 - 1) / width);
            jittered[2 * p + 1] = Clamp(grid[2 * p + 1] + (rng.NextDouble() * 2 - 1) / height);
        }
        return jittered;
    }

    /// <summary>linspace(−1, 1, n)[i].</summary>
    private static double Identity(int i, int n) => n == 1 ? -1 : -1 + 2.0 * i / (n - 1);

    private static float Clamp(double v) => (float)Math.Clamp(v, -1, 1);
}
