namespace Circumvent.Attacks;

/// <summary>
/// Bicubic resizing of float planes as PyTorch's F.interpolate(mode="bicubic", align_corners=True)
/// computes it: cubic convolution with A = −0.75, source position y·(in−1)/(out−1), the four taps
/// clamped to the border. Not differentiated; WaNet needs it once per flow field.
/// </summary>
internal static class BicubicUpsampling
{
    private const double A = -0.75;

    /// <summary>Resizes each of <paramref name="planes"/> (in·H·W values, plane after plane) to outH × outW.</summary>
    public static float[] AlignCorners(ReadOnlySpan<float> source, int planes, int inH, int inW, int outH, int outW)
    {
        if (planes < 1 || inH < 1 || inW < 1 || outH < 1 || outW < 1 || source.Length != planes * inH * inW)
            throw new ArgumentException($"bicubic resize: {planes}×{inH}×{inW} → {outH}×{outW} does not match {source.Length} input values.");
        var rows = Taps(inH, outH);
        var cols = Taps(inW, outW);
        var result = new float[planes * outH * outW];
        for (int p = 0; p < planes; p++)
        {
            var plane = source.Slice(p * inH * inW, inH * inW);
            for (int y = 0; y < outH; y++)
                for (int x = 0; x < outW; x++)
                {
                    double sum = 0;
                    for (int i = 0; i < 4; i++)
                    {
                        int row = rows.Index[y * 4 + i];
                        double across = 0;
                        for (int j = 0; j < 4; j++) across += cols.Weight[x * 4 + j] * plane[row * inW + cols.Index[x * 4 + j]];
                        sum += rows.Weight[y * 4 + i] * across;
                    }
                    result[(p * outH + y) * outW + x] = (float)sum;
                }
        }
        return result;
    }

    /// <summary>Per output position, the four source indices (clamped) and their cubic weights.</summary>
    private static (int[] Index, double[] Weight) Taps(int input, int output)
    {
        var index = new int[output * 4];
        var weight = new double[output * 4];
        double scale = output > 1 ? (input - 1) / (double)(output - 1) : 0;
        for (int o = 0; o < output; o++)
        {
            double real = scale * o;
            int floor = (int)Math.Floor(real);
            double t = real - floor;
            double[] w = [Far(t + 1), Near(t), Near(1 - t), Far(2 - t)];
            for (int k = 0; k < 4; k++)
            {
                index[o * 4 + k] = Math.Clamp(floor - 1 + k, 0, input - 1);
                weight[o * 4 + k] = w[k];
            }
        }
        return (index, weight);
    }

    /// <summary>Kernel for |x| ≤ 1.</summary>
    private static double Near(double x) => ((A + 2) * x - (A + 3)) * x * x + 1;

    /// <summary>Kernel for 1 &lt; |x| &lt; 2.</summary>
    private static double Far(double x) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}
