namespace Circumvent.Attacks;

/// <summary>
/// CTRL's frequency-domain trigger (Li et al., ICCV 2023; PoisonFre.Poison_Frequency_Diff in the authors' and the TSC
/// code), for RGB images on the 0–255 scale:
///   1. RGB → YUV (kornia's rgb_to_yuv as the authors ran it): Y = 0.299R + 0.587G + 0.114B,
///      U = −0.147R − 0.289G + 0.436B, V = 0.615R − 0.515G − 0.100B;
///   2. an orthonormal DCT-II (<see cref="BlockDct"/>) on every Window×Window block of the U and V planes;
///   3. + Magnitude at positions (p, p) of every block for each p of <see cref="Positions"/> (the authors': 15 and 31);
///   4. the inverse DCT, then YUV → RGB with kornia's inverse of that version, R = Y + 1.14V, G = Y − 0.396U − 0.581V,
///      B = Y + 2.029U (rounded coefficients, so magnitude 0 moves a pixel by up to about 0.35 of a level);
///   5. ÷ 255 and clamp to [0, 1].
/// The Y plane is not transformed (the authors transform and invert it: the same up to float error). At magnitude 100
/// each coefficient adds at most (2/32)·100 = 6.25 per pixel to U and V: a faint checkerboard, about ±25 in B.
/// NOTE: bytes are written as round(255·x) of the clamped result. The authors' training-side copy keeps the floats;
/// their test-side copy casts to uint8 before clamping, which truncates and wraps values below 0 or above 255 around
/// (a bug not copied here).
/// </summary>
public sealed class CtrlTrigger
{
    public const double DefaultMagnitude = 100;
    public const int DefaultWindow = 32;
    public static IReadOnlyList<int> DefaultPositions { get; } = [15, 31];
    /// <summary>The YUV channels the trigger goes into: U and V.</summary>
    public static IReadOnlyList<int> Channels { get; } = [1, 2];

    private readonly BlockDct _dct;

    public CtrlTrigger(double magnitude = DefaultMagnitude, int window = DefaultWindow, IReadOnlyList<int>? positions = null)
    {
        if (!double.IsFinite(magnitude)) throw new ArgumentException($"--magnitude must be a finite number, got {magnitude}.");
        if (window < 1) throw new ArgumentException($"--window must be at least 1, got {window}.");
        Positions = positions ?? DefaultPositions;
        foreach (int p in Positions)
            if (p < 0 || p >= window) throw new ArgumentException($"A CTRL trigger position must lie inside the {window}×{window} window (0–{window - 1}), got {p}.");
        Magnitude = magnitude;
        Window = window;
        _dct = new BlockDct(window);
    }

    public double Magnitude { get; }
    public int Window { get; }
    public IReadOnlyList<int> Positions { get; }

    /// <summary>"ctrl (magnitude 100, window 32, UV at (15,15) (31,31))".</summary>
    public string Describe() => $"ctrl (magnitude {Magnitude:g}, window {Window}, UV at {string.Join(" ", Positions.Select(p => $"({p},{p})"))})";

    /// <summary>Refuses an image shape the trigger cannot be applied to, naming what is expected.</summary>
    public void CheckShape(int channels, int height, int width)
    {
        if (channels != 3) throw new ArgumentException($"The CTRL trigger works on RGB images (YUV's U and V planes); the images have {channels} channel(s).");
        if (height % Window != 0 || width % Window != 0)
            throw new ArgumentException($"The CTRL trigger's {Window}×{Window} DCT windows must tile the image; the images are {height}×{width}.");
    }

    /// <summary>The triggered image in [0, 1]: <paramref name="rgb"/> is 3·H·W values on the 0–255 scale, CHW.</summary>
    public float[] Apply(ReadOnlySpan<float> rgb, int height, int width) => Array.ConvertAll(ApplyExact(rgb, height, width), v => (float)v);

    /// <summary>Stamps the trigger into one CHW byte image, in place (round(255·x) of <see cref="Apply"/>, rounded from doubles).</summary>
    public void ApplyTrigger(Span<byte> chw, int channels, int height, int width)
    {
        CheckShape(channels, height, width);
        var values = new float[chw.Length];
        for (int i = 0; i < values.Length; i++) values[i] = chw[i];
        var triggered = ApplyExact(values, height, width);
        for (int i = 0; i < chw.Length; i++) chw[i] = (byte)Math.Round(triggered[i] * 255.0, MidpointRounding.AwayFromZero);
    }

    private double[] ApplyExact(ReadOnlySpan<float> rgb, int height, int width)
    {
        CheckShape(3, height, width);
        int plane = height * width;
        if (rgb.Length != 3 * plane) throw new ArgumentException($"A 3×{height}×{width} image has {3 * plane} values, got {rgb.Length}.");
        var yuv = new double[3 * plane];
        for (int i = 0; i < plane; i++)
        {
            double r = rgb[i], g = rgb[plane + i], b = rgb[2 * plane + i];
            yuv[i] = 0.299 * r + 0.587 * g + 0.114 * b;
            yuv[plane + i] = -0.147 * r - 0.289 * g + 0.436 * b;
            yuv[2 * plane + i] = 0.615 * r - 0.515 * g - 0.100 * b;
        }
        var block = new double[Window * Window];
        foreach (int channel in Channels)
            for (int top = 0; top < height; top += Window)
                for (int left = 0; left < width; left += Window)
                {
                    CopyBlock(yuv, channel * plane, width, top, left, block, toBlock: true);
                    _dct.Forward(block);
                    foreach (int p in Positions) block[p * Window + p] += Magnitude;
                    _dct.Inverse(block);
                    CopyBlock(yuv, channel * plane, width, top, left, block, toBlock: false);
                }
        var output = new double[3 * plane];
        for (int i = 0; i < plane; i++)
        {
            double y = yuv[i], u = yuv[plane + i], v = yuv[2 * plane + i];
            output[i] = Unit(y + 1.14 * v);
            output[plane + i] = Unit(y - 0.396 * u - 0.581 * v);
            output[2 * plane + i] = Unit(y + 2.029 * u);
        }
        return output;
    }

    private static double Unit(double value) => Math.Clamp(value / 255.0, 0.0, 1.0);

    // One Window×Window block of a plane (starting at planeStart, row length width) to or from the block buffer.
    private void CopyBlock(double[] planes, int planeStart, int width, int top, int left, double[] block, bool toBlock)
    {
        for (int y = 0; y < Window; y++)
            for (int x = 0; x < Window; x++)
            {
                int at = planeStart + (top + y) * width + left + x;
                if (toBlock) block[y * Window + x] = planes[at];
                else planes[at] = block[y * Window + x];
            }
    }
}
