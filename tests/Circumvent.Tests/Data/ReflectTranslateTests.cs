using Circumvent.Data;
using Circumvent.Data.Loading;

namespace Circumvent.Tests.Data;

/// <summary>airbench's augmentation in the loader: reflect-padded translation and the alternating flip.</summary>
public class ReflectTranslateTests
{
    // Identity normalisation: an output value is its source byte.
    private static readonly Normalization Identity = new([0f], [1f / 255]);

    [Fact]
    public void ReflectTranslateReadsTheMirroredBorderOfAHandMadeImage()
    {
        // 1×3×4 image, bytes 10·row + column:   0  1  2  3 / 10 11 12 13 / 20 21 22 23.
        byte[] pixels = [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23];
        var output = new float[12];
        // Read from (y − 1, x + 2): row −1 reflects to row 1, columns 4 and 5 reflect to 2 and 1.
        ImageTensors.WriteImage(pixels, output, 1, 3, 4, new SampleTransform(-1, 2, Flip: false, Reflect: true), Identity);
        float[] expected = [12, 13, 12, 11, 2, 3, 2, 1, 12, 13, 12, 11];
        Assert.Equal(expected, output);
        // Zero padding (the default) reads a zero byte there instead.
        ImageTensors.WriteImage(pixels, output, 1, 3, 4, new SampleTransform(-1, 2, Flip: false), Identity);
        Assert.Equal(new float[] { 0, 0, 0, 0, 2, 3, 0, 0, 12, 13, 0, 0 }, output);
    }

    [Fact]
    public void AlternatingFlipInvertsEachImagesCoinEveryOtherEpochAndCoversBothWays()
    {
        var rng = new Random(1);
        var pixels = new byte[40 * 3 * 4 * 4];
        rng.NextBytes(pixels);
        var data = new ImageDataset(pixels, new int[40], 3, 4, 4, ["x"]);
        var aug = new Augmentation(2, HorizontalFlip: true, Reflect: true, AlternateFlip: true);
        var loader = new BatchLoader(data, new Normalization([0.5f, 0.5f, 0.5f], [0.2f, 0.2f, 0.2f]), BatchLoaderOptions.Training(8, 7, aug));
        var flips = Enumerable.Range(0, 40).Select(i => loader.AlternatingFlip(i, 0)).ToArray();
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(!flips[i], loader.AlternatingFlip(i, 1));
            Assert.Equal(flips[i], loader.AlternatingFlip(i, 4));
        }
        Assert.InRange(flips.Count(f => f), 8, 32); // a coin per image, not one for all
        // The batches carry it: without translation every image is its source, flipped exactly when the coin says.
        var flipOnly = new BatchLoader(data, loader.Normalization, BatchLoaderOptions.Training(8, 7, aug with { CropPadding = 0 }));
        int checkedImages = 0;
        foreach (int epoch in new[] { 0, 1 })
            foreach (var batch in flipOnly.Epoch(epoch))
                using (batch)
                {
                    var images = batch.Images.ToArray();
                    for (int i = 0; i < batch.Count; i++, checkedImages++)
                    {
                        var expected = new float[48];
                        bool flip = flipOnly.AlternatingFlip(batch.Indices[i], epoch);
                        ImageTensors.WriteImage(data.Image(batch.Indices[i]), expected, 3, 4, 4, new SampleTransform(0, 0, flip), flipOnly.Normalization);
                        Assert.Equal(expected, images.AsSpan(i * 48, 48).ToArray());
                    }
                }
        Assert.Equal(80, checkedImages);
    }
}
