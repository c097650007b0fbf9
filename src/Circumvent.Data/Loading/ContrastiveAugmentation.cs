namespace Circumvent.Data.Loading;

/// <summary>
/// SimCLR's view augmentation, in the authors' order (torchvision, CIFAR): RandomResizedCrop(H×W, Scale, Ratio)
/// → RandomHorizontalFlip(FlipProbability) → ColorJitter(Brightness, Contrast, Saturation, Hue) with probability
/// JitterProbability → RandomGrayscale(GrayscaleProbability) → normalise. Works on floats in [0, 1]; the crop is
/// resized back to the image's size bilinearly (half-pixel centres, as F.interpolate with align_corners=False;
/// a crop is never larger than the image, so this is upsampling and antialiasing does not arise).
/// </summary>
public sealed record ContrastiveAugmentation
{
    /// <summary>False: no crop (the whole image, drawing nothing), as BadEncoder's reference augmentation.</summary>
    public bool ResizedCrop { get; init; } = true;
    public (double Min, double Max) Scale { get; init; } = (0.08, 1.0);
    public (double Min, double Max) Ratio { get; init; } = (3.0 / 4.0, 4.0 / 3.0);
    public double FlipProbability { get; init; } = 0.5;
    public float Brightness { get; init; } = 0.4f;
    public float Contrast { get; init; } = 0.4f;
    public float Saturation { get; init; } = 0.4f;
    public float Hue { get; init; } = 0.1f;
    public double JitterProbability { get; init; } = 0.8;
    public double GrayscaleProbability { get; init; } = 0.2;

    /// <summary>The SimCLR / BadEncoder CIFAR recipe (torchvision's default crop scale (0.08, 1)).</summary>
    public static ContrastiveAugmentation SimClr { get; } = new();

    /// <summary>
    /// BadEncoder's augmentation of its reference images (finetune_transform_cifar10): flip, colour jitter p 0.8,
    /// grey p 0.2, no crop.
    /// </summary>
    public static ContrastiveAugmentation BadEncoderReference { get; } = new() { ResizedCrop = false };

    /// <summary>"simclr (crop 0.08–1, flip, jitter 0.4/0.4/0.4/0.1 p 0.8, grey p 0.2)": how a config line shows it.</summary>
    public string Describe() =>
        $"simclr ({(ResizedCrop ? $"crop {Scale.Min:g}–{Scale.Max:g}" : "no crop")}, flip {FlipProbability:g}, jitter {Brightness:g}/{Contrast:g}/{Saturation:g}/{Hue:g} p {JitterProbability:g}, grey p {GrayscaleProbability:g})";

    /// <summary>Everything random about one view of one image, drawn in the transforms' order.</summary>
    public readonly record struct ViewDraw(CropBox Crop, bool Flip, ColorJitter.Draw? Jitter, bool Grayscale);

    /// <summary>A crop of the source: rows Top..Top+Height−1, columns Left..Left+Width−1.</summary>
    public readonly record struct CropBox(int Top, int Left, int Height, int Width);

    public ViewDraw Draw(int height, int width, Random rng)
    {
        var crop = ResizedCrop ? DrawCrop(height, width, rng) : new CropBox(0, 0, height, width);
        bool flip = rng.NextDouble() < FlipProbability;
        ColorJitter.Draw? jitter = null;
        if (rng.NextDouble() < JitterProbability)
        {
            // torchvision: fn_idx = randperm(4), then each factor uniform in its range.
            var order = new[] { ColorJitter.Adjustment.Brightness, ColorJitter.Adjustment.Contrast, ColorJitter.Adjustment.Saturation, ColorJitter.Adjustment.Hue };
            rng.Shuffle(order);
            jitter = new ColorJitter.Draw(order, Factor(rng, Brightness), Factor(rng, Contrast), Factor(rng, Saturation),
                (float)(rng.NextDouble() * 2 * Hue - Hue));
        }
        bool grey = rng.NextDouble() < GrayscaleProbability;
        return new ViewDraw(crop, flip, jitter, grey);
    }

    // A factor uniform in [max(0, 1 − s), 1 + s] (torchvision's ranges for brightness, contrast, saturation).
    private static float Factor(Random rng, float strength)
    {
        double low = Math.Max(0, 1 - strength), high = 1 + strength;
        return (float)(low + rng.NextDouble() * (high - low));
    }

    /// <summary>torchvision's RandomResizedCrop.get_params: ten tries at a random area and log-uniform aspect ratio, then a central crop.</summary>
    public CropBox DrawCrop(int height, int width, Random rng)
    {
        double area = (double)height * width;
        double logMin = Math.Log(Ratio.Min), logMax = Math.Log(Ratio.Max);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double target = area * (Scale.Min + rng.NextDouble() * (Scale.Max - Scale.Min));
            double aspect = Math.Exp(logMin + rng.NextDouble() * (logMax - logMin));
            int w = (int)Math.Round(Math.Sqrt(target * aspect)); // banker's rounding, as Python's round
            int h = (int)Math.Round(Math.Sqrt(target / aspect));
            if (w > 0 && w <= width && h > 0 && h <= height)
                return new CropBox(rng.Next(height - h + 1), rng.Next(width - w + 1), h, w);
        }
        double inRatio = (double)width / height;
        int cw = width, ch = height;
        if (inRatio < Ratio.Min) ch = (int)Math.Round(cw / Ratio.Min);
        else if (inRatio > Ratio.Max) cw = (int)Math.Round(ch * Ratio.Max);
        return new CropBox((height - ch) / 2, (width - cw) / 2, ch, cw);
    }

    /// <summary>One view: <paramref name="source"/> (C, H, W) bytes → <paramref name="destination"/> (C, H, W) normalised floats.</summary>
    public static void WriteView(ReadOnlySpan<byte> source, Span<float> destination, int channels, int height, int width,
        ViewDraw draw, Normalization normalization)
    {
        int plane = height * width;
        ResizeCrop(source, destination, channels, height, width, draw.Crop, draw.Flip);
        if (draw.Jitter is { } jitter) ColorJitter.Apply(destination, channels, plane, jitter);
        if (draw.Grayscale) ColorJitter.Grayscale(destination, channels, plane);
        for (int c = 0; c < channels; c++)
        {
            float mean = normalization.Mean[c], inverseStd = 1f / normalization.Std[c];
            var dst = destination.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++) dst[i] = (dst[i] - mean) * inverseStd;
        }
    }

    /// <summary>The crop of <paramref name="source"/> bilinearly resized to H×W (then mirrored when flipped), as floats in [0, 1].</summary>
    public static void ResizeCrop(ReadOnlySpan<byte> source, Span<float> destination, int channels, int height, int width, CropBox crop, bool flip)
    {
        int plane = height * width;
        double sy = (double)crop.Height / height, sx = (double)crop.Width / width;
        for (int y = 0; y < height; y++)
        {
            var (y0, y1, wy) = Taps((y + 0.5) * sy - 0.5, crop.Height);
            for (int x = 0; x < width; x++)
            {
                // Flip after the crop: output column x reads the resized crop's column W−1−x.
                int xr = flip ? width - 1 - x : x;
                var (x0, x1, wx) = Taps((xr + 0.5) * sx - 0.5, crop.Width);
                for (int c = 0; c < channels; c++)
                {
                    var src = source.Slice(c * plane, plane);
                    int r0 = (crop.Top + y0) * width + crop.Left, r1 = (crop.Top + y1) * width + crop.Left;
                    double top = src[r0 + x0] + wx * (src[r0 + x1] - src[r0 + x0]);
                    double bottom = src[r1 + x0] + wx * (src[r1 + x1] - src[r1 + x0]);
                    destination[c * plane + y * width + x] = (float)((top + wy * (bottom - top)) / 255.0);
                }
            }
        }
    }

    // The two source positions (within a crop of length n) and the weight of the second, for a source coordinate.
    private static (int I0, int I1, double Weight) Taps(double coordinate, int n)
    {
        double c = Math.Max(coordinate, 0);
        int i0 = Math.Min((int)c, n - 1);
        int i1 = Math.Min(i0 + 1, n - 1);
        return (i0, i1, c - i0);
    }
}
