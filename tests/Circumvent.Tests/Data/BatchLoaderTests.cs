using Circumvent.Data;
using Circumvent.Data.Loading;

namespace Circumvent.Tests.Data;

public class BatchLoaderTests
{
    /// <summary>n RGB images of 5×6 with distinct random bytes; labels i % 4.</summary>
    private static ImageDataset Colour(int n, int seed = 0)
    {
        var rng = new Random(seed);
        var pixels = new byte[n * 3 * 5 * 6];
        rng.NextBytes(pixels);
        return new ImageDataset(pixels, Enumerable.Range(0, n).Select(i => i % 4).ToArray(), 3, 5, 6, ["a", "b", "c", "d"]);
    }

    private static readonly Normalization Norm = new([0.4f, 0.5f, 0.6f], [0.2f, 0.25f, 0.3f]);

    private static List<(float[] Images, int[] Labels, int[] Indices)> Collect(BatchLoader loader, int epoch)
    {
        var result = new List<(float[], int[], int[])>();
        foreach (var batch in loader.Epoch(epoch))
            using (batch)
                result.Add((batch.Images.ToArray(), batch.Labels, batch.Indices));
        return result;
    }

    [Fact]
    public void EveryImageOncePerEpochWithMatchingLabelsAndValues()
    {
        var data = Colour(23);
        var loader = new BatchLoader(data, Norm, new BatchLoaderOptions { BatchSize = 5, Shuffle = true, Seed = 3 });
        Assert.Equal(5, loader.BatchesPerEpoch);
        var batches = Collect(loader, epoch: 0);
        Assert.Equal(new[] { 5, 5, 5, 5, 3 }, batches.Select(b => b.Labels.Length));
        var seen = batches.SelectMany(b => b.Indices).ToArray();
        Assert.Equal(Enumerable.Range(0, 23), seen.Order());

        foreach (var (images, labels, indices) in batches)
            for (int i = 0; i < indices.Length; i++)
            {
                Assert.Equal(data.Labels[indices[i]], labels[i]);
                var source = data.Image(indices[i]);
                for (int k = 0; k < source.Length; k++)
                    Assert.Equal(Norm.Apply(source[k], k / 30), images[i * 90 + k], 5);
            }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AnEpochStartedAtALaterBatchYieldsTheRestOfTheWholeEpoch(bool prefetch)
    {
        // A run resumed inside an epoch asks for its batches from there: the same images, order, crops and flips.
        var loader = new BatchLoader(Colour(23), Norm, new BatchLoaderOptions
        {
            BatchSize = 5, Shuffle = true, Seed = 3, Prefetch = prefetch, Augmentation = Augmentation.CropAndFlip(2),
        });
        var whole = Collect(loader, epoch: 2);
        var rest = new List<(float[] Images, int[] Labels, int[] Indices)>();
        foreach (var batch in loader.Epoch(2, firstBatch: 3))
            using (batch)
                rest.Add((batch.Images.ToArray(), batch.Labels, batch.Indices));
        Assert.Equal(2, rest.Count);
        for (int b = 0; b < rest.Count; b++)
        {
            Assert.Equal(whole[3 + b].Indices, rest[b].Indices);
            Assert.Equal(whole[3 + b].Images, rest[b].Images);
        }
        Assert.Empty(loader.Epoch(2, firstBatch: 5));
    }

    [Fact]
    public void ShapeIsBatchChannelsHeightWidth()
    {
        var loader = new BatchLoader(Colour(7), Norm, new BatchLoaderOptions { BatchSize = 4 });
        using var first = loader.Epoch(0).First();
        Assert.Equal(new[] { 4, 3, 5, 6 }, first.Images.Shape);
    }

    [Fact]
    public void DropLastSkipsThePartialBatch()
    {
        var loader = new BatchLoader(Colour(23), Norm, new BatchLoaderOptions { BatchSize = 5, DropLast = true, Shuffle = true });
        var batches = Collect(loader, 0);
        Assert.Equal(4, batches.Count);
        Assert.All(batches, b => Assert.Equal(5, b.Labels.Length));
        Assert.Empty(Collect(new BatchLoader(Colour(3), Norm, new BatchLoaderOptions { BatchSize = 5, DropLast = true }), 0));
    }

    [Fact]
    public void OrderIsReproducibleAndChangesWithEpochAndSeed()
    {
        var data = Colour(50);
        BatchLoader Make(int seed) => new(data, Norm, BatchLoaderOptions.Training(8, seed, Augmentation.CropAndFlip(2)));
        var a = Collect(Make(1), 4);
        var b = Collect(Make(1), 4);
        Assert.Equal(a.SelectMany(x => x.Indices), b.SelectMany(x => x.Indices));
        Assert.Equal(a.SelectMany(x => x.Images), b.SelectMany(x => x.Images));
        Assert.NotEqual(a.SelectMany(x => x.Indices), Collect(Make(1), 5).SelectMany(x => x.Indices));
        Assert.NotEqual(a.SelectMany(x => x.Indices), Collect(Make(2), 4).SelectMany(x => x.Indices));
        Assert.Equal(Enumerable.Range(0, 50), Collect(new BatchLoader(data, Norm), 9).SelectMany(x => x.Indices));
    }

    [Fact]
    public void PrefetchDoesNotChangeTheResult()
    {
        var data = Colour(30);
        var options = BatchLoaderOptions.Training(7, 11, Augmentation.CropAndFlip(3));
        var withPrefetch = Collect(new BatchLoader(data, Norm, options), 2);
        var inline = Collect(new BatchLoader(data, Norm, options with { Prefetch = false }), 2);
        Assert.Equal(withPrefetch.SelectMany(x => x.Images), inline.SelectMany(x => x.Images));
    }

    [Fact]
    public void FlipReversesColumns()
    {
        var batch = RawBatch.Gather(Colour(1), [0]);
        using var plain = ImageTensors.ToTensor(batch, Norm);
        using var flipped = ImageTensors.ToTensor(batch, Norm, [new SampleTransform(0, 0, Flip: true)]);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 6; x++)
                    Assert.Equal(plain.Data[(c * 5 + y) * 6 + x], flipped.Data[(c * 5 + y) * 6 + (5 - x)]);
    }

    [Fact]
    public void CropShiftsAndPadsWithTheValueOfZero()
    {
        var data = Colour(1);
        var batch = RawBatch.Gather(data, [0]);
        // Offset (−2, +1): output (y, x) reads source (y − 2, x + 1); rows 0–1 and column 5 are padding.
        using var t = ImageTensors.ToTensor(batch, Norm, [new SampleTransform(-2, 1, Flip: false)]);
        var src = data.Image(0);
        for (int c = 0; c < 3; c++)
        {
            float pad = -Norm.Mean[c] / Norm.Std[c];
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 6; x++)
                {
                    float v = t.Data[(c * 5 + y) * 6 + x];
                    int sy = y - 2, sx = x + 1;
                    if (sy < 0 || sx > 5) Assert.Equal(pad, v, 6);
                    else Assert.Equal(Norm.Apply(src[(c * 5 + sy) * 6 + sx], c), v, 5);
                }
        }
    }

    [Fact]
    public void LoaderAugmentationMatchesSomeCropAndFlipOfTheSource()
    {
        // Every augmented image must be exactly one of the (2p+1)²·2 candidate crops/flips of its
        // source, and over an epoch both flips and several offsets must occur.
        const int p = 2;
        var data = Colour(40, seed: 9);
        var loader = new BatchLoader(data, Norm, BatchLoaderOptions.Training(10, 5, Augmentation.CropAndFlip(p)));
        var used = new HashSet<SampleTransform>();
        foreach (var (images, _, indices) in Collect(loader, 0))
            for (int i = 0; i < indices.Length; i++)
            {
                var actual = images[(i * 90)..(i * 90 + 90)];
                var raw = RawBatch.Gather(data, [indices[i]]);
                var match = Candidates(p).Where(s =>
                {
                    using var t = ImageTensors.ToTensor(raw, Norm, [s]);
                    return t.Span.SequenceEqual(actual);
                }).ToList();
                Assert.NotEmpty(match);
                used.Add(match[0]);
            }
        Assert.Contains(used, s => s.Flip);
        Assert.Contains(used, s => !s.Flip);
        Assert.True(used.Count >= 10, $"only {used.Count} distinct crops in 40 draws");
    }

    private static IEnumerable<SampleTransform> Candidates(int p) =>
        from oy in Enumerable.Range(-p, 2 * p + 1)
        from ox in Enumerable.Range(-p, 2 * p + 1)
        from flip in new[] { false, true }
        select new SampleTransform(oy, ox, flip);

    [Fact]
    public void TransformHookSeesRawBytesBeforeNormalisation()
    {
        var data = Colour(6);
        var options = new BatchLoaderOptions
        {
            BatchSize = 4,
            Transform = raw =>
            {
                // Stamp a white top-left pixel in every channel and relabel to class 3.
                for (int i = 0; i < raw.Count; i++)
                {
                    for (int c = 0; c < raw.Channels; c++) raw.Image(i)[c * raw.Height * raw.Width] = 255;
                    raw.Labels[i] = 3;
                }
            },
        };
        var batches = Collect(new BatchLoader(data, Norm, options), 0);
        foreach (var (images, labels, _) in batches)
        {
            Assert.All(labels, l => Assert.Equal(3, l));
            for (int i = 0; i < labels.Length; i++)
                for (int c = 0; c < 3; c++)
                    Assert.Equal(Norm.Apply(255, c), images[i * 90 + c * 30], 5);
        }
        Assert.Equal(new[] { 0, 1, 2, 3, 0, 1 }, data.Labels);
    }

    [Fact]
    public void ProducerExceptionSurfacesInTheConsumer()
    {
        var options = new BatchLoaderOptions
        {
            BatchSize = 2,
            Transform = raw => { if (raw.Indices[0] == 4) throw new InvalidOperationException("trigger failed"); },
        };
        var loader = new BatchLoader(Colour(10), Norm, options);
        int consumed = 0;
        var e = Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (var batch in loader.Epoch(0)) using (batch) consumed++;
        });
        Assert.Equal("trigger failed", e.Message);
        Assert.Equal(2, consumed);
    }

    [Fact]
    public void LeavingEarlyStopsTheProducer()
    {
        int built = 0;
        var options = new BatchLoaderOptions { BatchSize = 1, Transform = _ => Interlocked.Increment(ref built) };
        var loader = new BatchLoader(Colour(50), Norm, options);
        foreach (var batch in loader.Epoch(0))
        {
            batch.Dispose();
            if (batch.Indices[0] == 2) break;
        }
        int afterBreak = Volatile.Read(ref built);
        Thread.Sleep(50);
        Assert.Equal(afterBreak, Volatile.Read(ref built));
        Assert.True(afterBreak <= 4, $"built {afterBreak} batches for 3 consumed");
    }

    [Fact]
    public void NormalisationMustMatchChannels()
    {
        var e = Assert.Throws<ArgumentException>(() => new BatchLoader(Colour(2), Normalization.Mnist));
        Assert.Contains("1 channels", e.Message);
    }
}
