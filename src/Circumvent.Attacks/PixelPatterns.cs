using System.Collections.Concurrent;

namespace Circumvent.Attacks;

/// <summary>Helpers shared by the additive triggers (SIG, LF, the LC corners): x' = clip(round(x + p), 0, 255).</summary>
internal static class PixelPatterns
{
    /// <summary>Throws when <paramref name="chw"/> does not hold one <paramref name="channels"/>×<paramref name="height"/>×<paramref name="width"/> image.</summary>
    public static void CheckImage(string attack, ReadOnlySpan<byte> chw, int channels, int height, int width)
    {
        if (channels < 1 || height < 1 || width < 1 || chw.Length != channels * height * width)
            throw new ArgumentException($"{attack}: a {channels}×{height}×{width} image needs {channels * height * width} bytes, got {chw.Length}.");
    }

    /// <summary>Adds <paramref name="pattern"/> (same length, 0–255 scale) to the image, rounding half away from zero and clipping to 0..255.</summary>
    public static void AddClipped(Span<byte> chw, ReadOnlySpan<float> pattern)
    {
        if (pattern.Length != chw.Length)
            throw new ArgumentException($"A pattern of {pattern.Length} values cannot be added to an image of {chw.Length} bytes.");
        for (int i = 0; i < chw.Length; i++)
        {
            // NOTE: summed in double so integer pixel + pattern rounds exactly as the formula says.
            double value = chw[i] + (double)pattern[i];
            chw[i] = (byte)Math.Clamp(Math.Round(value, MidpointRounding.AwayFromZero), 0, 255);
        }
    }
}

/// <summary>One prepared pattern per input shape, built on first use (loaders call triggers from worker threads).</summary>
internal sealed class PatternCache(Func<int, int, int, float[]> build)
{
    private readonly ConcurrentDictionary<(int C, int H, int W), float[]> _patterns = new();

    public float[] For(int channels, int height, int width) =>
        _patterns.GetOrAdd((channels, height, width), key => build(key.C, key.H, key.W));
}
