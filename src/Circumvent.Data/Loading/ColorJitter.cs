namespace Circumvent.Data.Loading;

/// <summary>
/// torchvision's colour transforms on one float image (C, H, W) with values in [0, 1], in place, as its
/// tensor functional defines them: blend(x, y, f) = clamp(f·x + (1 − f)·y, 0, 1) with y = 0 for brightness,
/// the image's mean grey for contrast, the pixel's grey for saturation; hue shifts H of HSV by a fraction of
/// the circle. Grey is ITU-R 601-2 luma, 0.299 R + 0.587 G + 0.114 B (PIL's "L", which the authors'
/// torchvision-on-PIL pipeline uses). Saturation, hue and grayscale change nothing on a one-channel image.
/// </summary>
public static class ColorJitter
{
    public const float RedWeight = 0.299f, GreenWeight = 0.587f, BlueWeight = 0.114f;

    /// <summary>The four adjustments, numbered as torchvision's ColorJitter orders them (fn_idx).</summary>
    public enum Adjustment { Brightness, Contrast, Saturation, Hue }

    /// <summary>One draw of ColorJitter: the order the four adjustments run in and their factors.</summary>
    public readonly record struct Draw(Adjustment[] Order, float Brightness, float Contrast, float Saturation, float Hue);

    /// <summary>Applies the adjustments of <paramref name="draw"/> in its order.</summary>
    public static void Apply(Span<float> image, int channels, int plane, Draw draw)
    {
        foreach (var adjustment in draw.Order)
        {
            switch (adjustment)
            {
                case Adjustment.Brightness: Brightness(image, draw.Brightness); break;
                case Adjustment.Contrast: Contrast(image, channels, plane, draw.Contrast); break;
                case Adjustment.Saturation: Saturation(image, channels, plane, draw.Saturation); break;
                case Adjustment.Hue: Hue(image, channels, plane, draw.Hue); break;
            }
        }
    }

    public static void Brightness(Span<float> image, float factor)
    {
        for (int i = 0; i < image.Length; i++) image[i] = Clamp01(factor * image[i]);
    }

    /// <summary>Blends every pixel with the mean grey of the whole image.</summary>
    public static void Contrast(Span<float> image, int channels, int plane, float factor)
    {
        double sum = 0;
        for (int p = 0; p < plane; p++) sum += Grey(image, channels, plane, p);
        float mean = (float)(sum / plane);
        for (int i = 0; i < image.Length; i++) image[i] = Clamp01(factor * image[i] + (1 - factor) * mean);
    }

    /// <summary>Blends every pixel with its own grey.</summary>
    public static void Saturation(Span<float> image, int channels, int plane, float factor)
    {
        if (channels != 3) return;
        for (int p = 0; p < plane; p++)
        {
            float grey = Grey(image, channels, plane, p);
            for (int c = 0; c < 3; c++) image[c * plane + p] = Clamp01(factor * image[c * plane + p] + (1 - factor) * grey);
        }
    }

    /// <summary>Rotates the hue by <paramref name="shift"/> (a fraction of the circle, in [−0.5, 0.5]) through HSV.</summary>
    public static void Hue(Span<float> image, int channels, int plane, float shift)
    {
        if (channels != 3) return;
        for (int p = 0; p < plane; p++)
        {
            var (h, s, v) = ToHsv(image[p], image[plane + p], image[2 * plane + p]);
            h = (h + shift) % 1f;
            if (h < 0) h += 1f;
            var (r, g, b) = FromHsv(h, s, v);
            image[p] = r; image[plane + p] = g; image[2 * plane + p] = b;
        }
    }

    /// <summary>Every channel becomes the pixel's grey (RandomGrayscale keeps the channel count).</summary>
    public static void Grayscale(Span<float> image, int channels, int plane)
    {
        if (channels != 3) return;
        for (int p = 0; p < plane; p++)
        {
            float grey = Grey(image, channels, plane, p);
            image[p] = image[plane + p] = image[2 * plane + p] = grey;
        }
    }

    private static float Grey(ReadOnlySpan<float> image, int channels, int plane, int p) =>
        channels == 3 ? RedWeight * image[p] + GreenWeight * image[plane + p] + BlueWeight * image[2 * plane + p] : image[p];

    private static float Clamp01(float x) => x < 0f ? 0f : x > 1f ? 1f : x;

    // torchvision's _rgb2hsv: h in [0, 1), s and v in [0, 1].
    internal static (float H, float S, float V) ToHsv(float r, float g, float b)
    {
        float max = Math.Max(r, Math.Max(g, b)), min = Math.Min(r, Math.Min(g, b));
        float delta = max - min;
        if (delta == 0f) return (0f, 0f, max);
        float s = delta / max;
        float h = max == r ? (g - b) / delta : max == g ? 2f + (b - r) / delta : 4f + (r - g) / delta;
        h /= 6f;
        if (h < 0) h += 1f;
        return (h, s, max);
    }

    // torchvision's _hsv2rgb: six sectors of the hue circle.
    internal static (float R, float G, float B) FromHsv(float h, float s, float v)
    {
        float scaled = h * 6f;
        int sector = (int)Math.Floor(scaled) % 6;
        float f = scaled - MathF.Floor(scaled);
        float p = Clamp01(v * (1f - s)), q = Clamp01(v * (1f - s * f)), t = Clamp01(v * (1f - s * (1f - f)));
        return sector switch
        {
            0 => (v, t, p),
            1 => (q, v, p),
            2 => (p, v, t),
            3 => (p, q, v),
            4 => (t, p, v),
            _ => (v, p, q),
        };
    }
}
