using Circumvent.Data;
using Circumvent.Data.Loading;

namespace Circumvent.Tests.Data;

/// <summary>Several augmented views per batch: each drawn from (seed, epoch, batch, view), so any batch can be rebuilt alone.</summary>
public class BatchLoaderViewsTests
{
    private static ImageDataset Colour(int n)
    {
        var rng = new Random(4);
        var pixels = new byte[n * 3 * 8 * 8];
        rng.NextBytes(pixels);
        return new ImageDataset(pixels, Enumerable.Range(0, n).Select(i => i % 2).ToArray(), 3, 8, 8, ["a", "b"]);
    }

    private static readonly Normalization Norm = new([0.4f, 0.5f, 0.6f], [0.2f, 0.25f, 0.3f]);

    private static BatchLoaderOptions TwoViews(int seed) =>
        BatchLoaderOptions.Training(4, seed) with { Views = 2, ViewAugmentation = ContrastiveAugmentation.SimClr, Prefetch = false };

    private static float[][] Views(BatchLoader loader, int epoch, int batchIndex)
    {
        using var batch = loader.BuildBatch(loader.EpochOrder(epoch), epoch, batchIndex);
        Assert.Same(batch.Images, batch.Views[0]);
        return [.. batch.Views.Select(v => v.ToArray())];
    }

    [Fact]
    public void ViewsAreDeterministicPerSeedEpochAndBatchAndDifferFromEachOther()
    {
        var data = Colour(12);
        var loader = new BatchLoader(data, Norm, TwoViews(seed: 7));
        var inEpoch = loader.Epoch(1).Select(b => { using (b) return b.Views.Select(v => v.ToArray()).ToArray(); }).ToList();
        Assert.Equal(3, inEpoch.Count);
        Assert.All(inEpoch, views => Assert.Equal(2, views.Length));
        // Batch 2 of epoch 1 rebuilt alone, by another loader, is the same (as a resumed run needs).
        var alone = Views(new BatchLoader(data, Norm, TwoViews(seed: 7)), 1, 2);
        Assert.Equal(inEpoch[2][0], alone[0]);
        Assert.Equal(inEpoch[2][1], alone[1]);
        Assert.NotEqual(alone[0], alone[1]);
        Assert.NotEqual(alone[0], Views(loader, 2, 2)[0]); // another epoch draws anew
        Assert.NotEqual(alone[0], Views(new BatchLoader(data, Norm, TwoViews(seed: 8)), 1, 2)[0]);
    }

    [Fact]
    public void FirstViewOfACropFlipLoaderIsWhatAOneViewLoaderGives()
    {
        var data = Colour(12);
        var one = BatchLoaderOptions.Training(4, 3, Augmentation.CropAndFlip(2)) with { Prefetch = false };
        var single = new BatchLoader(data, Norm, one);
        var two = new BatchLoader(data, Norm, one with { Views = 2 });
        var order = single.EpochOrder(0);
        using var a = single.BuildBatch(order, 0, 1);
        using var b = two.BuildBatch(order, 0, 1);
        Assert.Single(a.Views);
        Assert.Equal(a.Images.ToArray(), b.Views[0].ToArray());
        Assert.NotEqual(b.Views[0].ToArray(), b.Views[1].ToArray());
    }

    [Fact]
    public void RejectsNoViewsAndTwoAugmentationsAtOnce()
    {
        var data = Colour(4);
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchLoader(data, Norm, new BatchLoaderOptions { Views = 0 }));
        Assert.Throws<ArgumentException>(() => new BatchLoader(data, Norm,
            new BatchLoaderOptions { Augmentation = Augmentation.CropAndFlip(), ViewAugmentation = ContrastiveAugmentation.SimClr }));
    }
}
