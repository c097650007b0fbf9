using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;

namespace Circumvent.Attacks.Sapa;

/// <summary>
/// Differentiable augmentation of the poisons while they are crafted (Sleeper Agent's `paugment`, on by default there): at
/// every crafting step each poison x + δ gets a random crop offset and flip, so δ is matched under the shifts the victim's
/// training applies rather than at one alignment. The transforms are the training loader's own
/// (<see cref="SampleTransform.Draw"/>: offset in [−p, p]², fair-coin flip), and the result is the loader's output exactly:
/// pixels read from whole-pixel positions and zero-byte padding (−mean/std in normalised units). It is written as bilinear
/// grid sampling at those whole-pixel positions (<see cref="Op.GridSample"/>), which is linear in the image, so ∂/∂δ
/// moves the gradient back to the pixels it came from. (The authors' RandomTransform shifts by a continuous amount with
/// bilinear interpolation; here the victim's integer crop is used as is.)
/// </summary>
public sealed class PoisonAugmentation
{
    private readonly Tensor _grid;   // (N, H, W, 2): (x, y) in [−1, 1], align-corners convention
    private readonly Tensor _padding; // (1, C, 1, 1): the normalised value of a zero byte per channel

    /// <param name="transforms">One per image of the batch the augmentation will be applied to.</param>
    public PoisonAugmentation(IReadOnlyList<SampleTransform> transforms, Normalization normalization, int height, int width)
    {
        if (height < 2 || width < 2) throw new ArgumentException($"SAPA augmentation: images must be at least 2×2, got {height}×{width}.");
        int n = transforms.Count;
        var grid = new float[n * height * width * 2];
        for (int i = 0; i < n; i++)
        {
            var t = transforms[i];
            for (int y = 0; y < height; y++)
            {
                int sy = t.Source(y + t.OffsetY, height);
                for (int x = 0; x < width; x++)
                {
                    int sx = t.Source((t.Flip ? width - 1 - x : x) + t.OffsetX, width);
                    int g = ((i * height + y) * width + x) * 2;
                    // NOTE: a padded position samples two pixels outside the image, so no bilinear tap reaches a real pixel.
                    grid[g] = sx < 0 || sy < 0 ? -3f : 2f * sx / (width - 1) - 1f;
                    grid[g + 1] = sx < 0 || sy < 0 ? -3f : 2f * sy / (height - 1) - 1f;
                }
            }
        }
        _grid = Tensor.FromArray(grid, n, height, width, 2);
        _padding = Tensor.FromArray([.. Enumerable.Range(0, normalization.Channels).Select(normalization.Shift)], 1, normalization.Channels, 1, 1);
        Count = n;
    }

    /// <summary>Images the augmentation has transforms for.</summary>
    public int Count { get; }

    /// <summary>One transform per image, drawn as the training loader draws them.</summary>
    public static PoisonAugmentation Draw(int count, Augmentation augmentation, Normalization normalization, int height, int width, Random rng) =>
        new([.. Enumerable.Range(0, count).Select(_ => SampleTransform.Draw(augmentation, rng))], normalization, height, width);

    /// <summary>The augmented normalised images (N, C, H, W): sampled relative to the padding value, so padding reads a zero byte.</summary>
    public Tensor Apply(Tensor images)
    {
        if (images.Shape.Length != 4 || images.Shape[0] != Count || images.Shape[1] != _padding.Shape[1])
            throw new ArgumentException($"SAPA augmentation: expected {Count} images of {_padding.Shape[1]} channels, got {Shape.Format(images.Shape)}.");
        return Op.Add(Op.GridSample(Op.Sub(images, _padding), _grid, alignCorners: true), _padding);
    }
}
