using Circumvent.Data.Loading;

namespace Circumvent.Tests.Data;

/// <summary>SimCLR's view augmentation against torchvision's definitions: grey weights, the jitter's blends, hue, ranges, order, probabilities, the crop.</summary>
public class ContrastiveAugmentationTests
{
    // One 3-channel image of the given RGB pixels (planes R, G, B).
    private static float[] Image(params (float R, float G, float B)[] pixels)
    {
        int n = pixels.Length;
        var image = new float[3 * n];
        for (int p = 0; p < n; p++) { image[p] = pixels[p].R; image[n + p] = pixels[p].G; image[2 * n + p] = pixels[p].B; }
        return image;
    }

    [Fact]
    public void GrayscaleUsesLumaWeightsOnEveryChannel()
    {
        var image = Image((1, 0, 0), (0, 1, 0), (0, 0, 1), (0.5f, 0.5f, 0.5f));
        ColorJitter.Grayscale(image, 3, 4);
        float[] expected = [0.299f, 0.587f, 0.114f, 0.5f];
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 4; p++) Assert.Equal(expected[p], image[c * 4 + p], 6);
    }

    [Fact]
    public void BrightnessContrastAndSaturationAreClampedBlends()
    {
        var image = Image((0.5f, 0.2f, 0.9f), (0.1f, 0.1f, 0.1f));
        ColorJitter.Brightness(image, 1.4f); // blend with black: 1.4·x, clamped
        Assert.Equal(Image((0.7f, 0.28f, 1f), (0.14f, 0.14f, 0.14f)), image, new ToleranceComparer(1e-6));

        image = Image((0.5f, 0.2f, 0.9f), (0.1f, 0.1f, 0.1f));
        float mean = ((0.299f * 0.5f + 0.587f * 0.2f + 0.114f * 0.9f) + 0.1f) / 2; // the whole image's mean grey
        ColorJitter.Contrast(image, 3, 2, 0.6f);
        Assert.Equal(0.6f * 0.5f + 0.4f * mean, image[0], 6);
        Assert.Equal(0.6f * 0.1f + 0.4f * mean, image[1], 6);

        image = Image((0.5f, 0.2f, 0.9f));
        float grey = 0.299f * 0.5f + 0.587f * 0.2f + 0.114f * 0.9f;
        ColorJitter.Saturation(image, 3, 1, 0f); // factor 0: fully grey
        Assert.All(image, v => Assert.Equal(grey, v, 6));
    }

    [Fact]
    public void HueRotatesAroundTheColourCircle()
    {
        var image = Image((1, 0, 0), (0.2f, 0.4f, 0.4f));
        ColorJitter.Hue(image, 3, 2, 1f / 3); // red → green; cyan-grey keeps S and V
        Assert.Equal(Image((0, 1, 0), (0.4f, 0.2f, 0.4f)), image, new ToleranceComparer(1e-5));
        image = Image((1, 0, 0));
        ColorJitter.Hue(image, 3, 1, -1f / 3); // red → blue
        Assert.Equal(Image((0, 0, 1)), image, new ToleranceComparer(1e-5));
    }

    [Fact]
    public void JitterRunsItsAdjustmentsInTheDrawnOrder()
    {
        var order1 = new ColorJitter.Draw([ColorJitter.Adjustment.Brightness, ColorJitter.Adjustment.Contrast, ColorJitter.Adjustment.Saturation, ColorJitter.Adjustment.Hue], 1.4f, 0.6f, 1.3f, 0.05f);
        var order2 = order1 with { Order = [ColorJitter.Adjustment.Hue, ColorJitter.Adjustment.Saturation, ColorJitter.Adjustment.Contrast, ColorJitter.Adjustment.Brightness] };
        var source = Image((0.9f, 0.3f, 0.1f), (0.2f, 0.8f, 0.6f), (0.5f, 0.5f, 0.9f));
        var expected = (float[])source.Clone();
        ColorJitter.Brightness(expected, 1.4f);
        ColorJitter.Contrast(expected, 3, 3, 0.6f);
        ColorJitter.Saturation(expected, 3, 3, 1.3f);
        ColorJitter.Hue(expected, 3, 3, 0.05f);
        var a = (float[])source.Clone();
        ColorJitter.Apply(a, 3, 3, order1);
        Assert.Equal(expected, a);
        var b = (float[])source.Clone();
        ColorJitter.Apply(b, 3, 3, order2);
        Assert.NotEqual(a, b); // brightness's clamp at 1 comes before or after the others
    }

    [Fact]
    public void DrawsFollowTheAuthorsRangesAndProbabilities()
    {
        var augmentation = ContrastiveAugmentation.SimClr;
        var rng = new Random(1);
        const int n = 4000;
        int jittered = 0, grey = 0, flipped = 0;
        var orders = new HashSet<string>();
        float minB = 9, maxB = 0, minHue = 9, maxHue = -9;
        for (int i = 0; i < n; i++)
        {
            var draw = augmentation.Draw(32, 32, rng);
            double area = draw.Crop.Height * draw.Crop.Width / 1024.0, ratio = (double)draw.Crop.Width / draw.Crop.Height;
            // Rounding the sides to whole pixels moves area and ratio a little past torchvision's nominal ranges.
            Assert.InRange(area, 0.06, 1.0);
            Assert.InRange(ratio, 0.6, 1.6);
            Assert.InRange(draw.Crop.Top + draw.Crop.Height, 1, 32);
            Assert.InRange(draw.Crop.Left + draw.Crop.Width, 1, 32);
            if (draw.Flip) flipped++;
            if (draw.Grayscale) grey++;
            if (draw.Jitter is not { } j) continue;
            jittered++;
            Assert.Equal(4, j.Order.Distinct().Count());
            orders.Add(string.Join(",", j.Order));
            foreach (var f in new[] { j.Brightness, j.Contrast, j.Saturation }) Assert.InRange(f, 0.6f, 1.4f);
            Assert.InRange(j.Hue, -0.1f, 0.1f);
            minB = Math.Min(minB, j.Brightness); maxB = Math.Max(maxB, j.Brightness);
            minHue = Math.Min(minHue, j.Hue); maxHue = Math.Max(maxHue, j.Hue);
        }
        Assert.InRange(jittered / (double)n, 0.77, 0.83);
        Assert.InRange(grey / (double)n, 0.17, 0.23);
        Assert.InRange(flipped / (double)n, 0.47, 0.53);
        Assert.Equal(24, orders.Count); // every order of the four adjustments occurs
        Assert.True(minB < 0.62f && maxB > 1.38f && minHue < -0.098f && maxHue > 0.098f, $"brightness {minB}..{maxB}, hue {minHue}..{maxHue}");
    }

    [Fact]
    public void CropFallsBackToTheCentreWhenNoTryFits()
    {
        // Scale above 1 never fits in ten tries: torchvision takes the whole image (its ratio 1 is inside the range).
        var crop = (ContrastiveAugmentation.SimClr with { Scale = (1.5, 2.0) }).DrawCrop(10, 10, new Random(0));
        Assert.Equal(new ContrastiveAugmentation.CropBox(0, 0, 10, 10), crop);
        // A 10×40 image is wider than 4:3, so the central crop is 10 high and round(10·4/3) = 13 wide.
        crop = (ContrastiveAugmentation.SimClr with { Scale = (1.5, 2.0) }).DrawCrop(10, 40, new Random(0));
        Assert.Equal(new ContrastiveAugmentation.CropBox(0, 13, 10, 13), crop);
    }

    [Fact]
    public void ResizedCropIsHalfPixelBilinearAndFlipMirrorsIt()
    {
        // A 4×4 one-channel image whose top-left 2×2 is [[0, 60], [120, 180]]; upsampling it to 4×4 with
        // F.interpolate(align_corners=False) weighs the two source rows/columns by 0, 0.25, 0.75, 1.
        var source = new byte[16];
        source[0] = 0; source[1] = 60; source[4] = 120; source[5] = 180;
        var output = new float[16];
        ContrastiveAugmentation.ResizeCrop(source, output, 1, 4, 4, new ContrastiveAugmentation.CropBox(0, 0, 2, 2), flip: false);
        double[] r = [0, 0.25, 0.75, 1];
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) Assert.Equal((120 * r[y] + 60 * r[x]) / 255, output[y * 4 + x], 6);
        var flipped = new float[16];
        ContrastiveAugmentation.ResizeCrop(source, flipped, 1, 4, 4, new ContrastiveAugmentation.CropBox(0, 0, 2, 2), flip: true);
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) Assert.Equal(output[y * 4 + 3 - x], flipped[y * 4 + x]);
        // The whole image unflipped is the image.
        var identity = new float[16];
        var ramp = Enumerable.Range(0, 16).Select(i => (byte)(i * 15)).ToArray();
        ContrastiveAugmentation.ResizeCrop(ramp, identity, 1, 4, 4, new ContrastiveAugmentation.CropBox(0, 0, 4, 4), flip: false);
        Assert.Equal(ramp.Select(b => b / 255f), identity, new ToleranceComparer(1e-6));
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tolerance;
        public int GetHashCode(float value) => 0;
    }
}
