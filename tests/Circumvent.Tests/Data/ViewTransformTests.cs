using Circumvent.Data;
using Circumvent.Data.Loading;

namespace Circumvent.Tests.Data;

/// <summary>
/// Per-view raw transforms (BadEncoder's clean and triggered views of one batch) and the crop-free view augmentation
/// of BadEncoder's reference images.
/// </summary>
public class ViewTransformTests
{
    private static readonly ImageDataset Images = new(Enumerable.Range(0, 4 * 3 * 4 * 4).Select(i => (byte)(i * 7)).ToArray(), [0, 1, 0, 1], 3, 4, 4, ["a", "b"]);

    private static void Black(RawBatch raw) => raw.Pixels.AsSpan().Clear();

    [Fact]
    public void EachViewSeesItsOwnCopyOfTheRawBatch()
    {
        var loader = new BatchLoader(Images, Normalization.Identity(3), new BatchLoaderOptions
        {
            BatchSize = 4, Views = 2, ViewTransforms = [null, Black], Prefetch = false,
        });
        using var batch = loader.BuildBatch(loader.EpochOrder(0), 0, 0);
        var clean = batch.Views[0].ToArray();
        var expected = Images.Pixels.Select(b => b / 255f).ToArray();
        for (int i = 0; i < clean.Length; i++) Assert.Equal(expected[i], clean[i], 1e-6f);   // view 1's transform did not reach view 0
        Assert.All(batch.Views[1].ToArray(), v => Assert.Equal(0f, v));
        Assert.Equal(Images.Labels, batch.Labels);
    }

    [Fact]
    public void OneTransformPerViewIsRequired()
    {
        var error = Assert.Throws<ArgumentException>(() => new BatchLoader(Images, Normalization.Identity(3),
            new BatchLoaderOptions { Views = 2, ViewTransforms = [Black] }));
        Assert.Contains("1 for 2 views", error.Message);
    }

    [Fact]
    public void ReferenceAugmentationNeverCropsAndWithoutFlipOrColourIsTheIdentity()
    {
        var augmentation = ContrastiveAugmentation.BadEncoderReference;
        Assert.Contains("no crop", augmentation.Describe());
        var rng = new Random(3);
        for (int i = 0; i < 50; i++) Assert.Equal(new ContrastiveAugmentation.CropBox(0, 0, 4, 4), augmentation.Draw(4, 4, rng).Crop);
        var output = new float[3 * 4 * 4];
        ContrastiveAugmentation.WriteView(Images.Image(1), output, 3, 4, 4, new(new(0, 0, 4, 4), false, null, false), Normalization.Identity(3));
        Assert.Equal(Images.Image(1).ToArray().Select(b => b / 255f), output);
    }
}
