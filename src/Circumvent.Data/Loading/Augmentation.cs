namespace Circumvent.Data.Loading;

/// <summary>
/// Per-sample training augmentation, applied in torchvision's order: RandomCrop(H×W, padding = CropPadding)
/// — pad every side with CropPadding zero pixels, then cut H×W back out at a uniformly random offset —
/// followed by RandomHorizontalFlip(p = 0.5) when <see cref="HorizontalFlip"/> is set.
/// <see cref="Reflect"/> pads by reflection instead of zeros (airbench's translate: no black border).
/// <see cref="AlternateFlip"/> (airbench) flips each image by a coin drawn once per run (from the seed and the
/// image's index) in even epochs and by its opposite in odd epochs, so every image is seen both ways in any two epochs.
/// </summary>
public sealed record Augmentation(int CropPadding = 0, bool HorizontalFlip = false, bool Reflect = false, bool AlternateFlip = false)
{
    public static Augmentation None { get; } = new();

    /// <summary>The usual CIFAR-10 recipe: RandomCrop(32, padding=4) + RandomHorizontalFlip.</summary>
    public static Augmentation CropAndFlip(int padding = 4) => new(padding, true);

    /// <summary>RandomCrop only: for images whose mirror image is another class (digits, signs, text).</summary>
    public static Augmentation Crop(int padding) => new(padding, false);

    /// <summary>"crop 4 + flip", "crop 3", "none": how a config or score line shows it.</summary>
    public string Describe() => IsNone ? "none" : string.Join(" + ", new[] { CropPadding > 0 ? $"crop {CropPadding}" : null, HorizontalFlip ? "flip" : null }.OfType<string>());

    public bool IsNone => CropPadding == 0 && !HorizontalFlip;
}

/// <summary>
/// Where one output image is read from: source pixel (y + OffsetY, x' + OffsetX) with x' = W−1−x when flipped.
/// Outside the image the value is that of a zero byte, or with <see cref="Reflect"/> the pixel mirrored at the
/// border without repeating it (PyTorch's 'reflect' padding: −1 → 1, W → W−2).
/// </summary>
public readonly record struct SampleTransform(int OffsetY, int OffsetX, bool Flip, bool Reflect = false)
{
    public static SampleTransform Identity => default;

    /// <summary>Draws a crop offset in [−p, p]² and a fair coin for the flip, always consuming the same random numbers.</summary>
    public static SampleTransform Draw(Augmentation augmentation, Random rng)
    {
        int p = augmentation.CropPadding;
        int oy = rng.Next(2 * p + 1) - p;
        int ox = rng.Next(2 * p + 1) - p;
        bool flip = rng.Next(2) == 1 && augmentation.HorizontalFlip;
        return new SampleTransform(oy, ox, flip, augmentation.Reflect);
    }

    /// <summary>The source coordinate of <paramref name="position"/> shifted into an axis of <paramref name="size"/>; −1 when it falls on zero padding.</summary>
    public int Source(int position, int size)
    {
        if ((uint)position < (uint)size) return position;
        if (!Reflect) return -1;
        return position < 0 ? -position : 2 * (size - 1) - position;
    }
}
