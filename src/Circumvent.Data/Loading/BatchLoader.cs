using Circumvent.Engine;

namespace Circumvent.Data.Loading;

/// <summary>
/// Cuts an <see cref="ImageDataset"/> into normalised, optionally augmented batches. Everything
/// random (order, crops, flips) derives from (Seed, epoch, batch number), so a run reproduces
/// exactly whatever the thread timing.
/// With <see cref="BatchLoaderOptions.Prefetch"/> the next batch is built on a thread-pool thread
/// while the caller trains on the current one. Ownership: each yielded <see cref="Batch"/> belongs
/// to the caller (dispose it after the step); a batch prepared but never yielded — because the
/// caller left the loop early — is disposed by the enumerator. Exceptions thrown while building a
/// batch (including by the transform hook) surface in the caller's MoveNext.
/// </summary>
public sealed class BatchLoader
{
    public BatchLoader(ImageDataset dataset, Normalization normalization, BatchLoaderOptions? options = null)
    {
        Options = options ?? new BatchLoaderOptions();
        if (Options.BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"Batch size must be positive, got {Options.BatchSize}.");
        if (Options.Augmentation.CropPadding < 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"Crop padding must be ≥ 0, got {Options.Augmentation.CropPadding}.");
        if (Options.Views < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"Views per image must be at least 1, got {Options.Views}.");
        if (Options.ViewAugmentation is not null && !Options.Augmentation.IsNone)
            throw new ArgumentException("Give either a crop/flip augmentation or a view augmentation, not both.", nameof(options));
        if (Options.ViewTransforms is { } perView && perView.Count != Options.Views)
            throw new ArgumentException($"Give one view transform per view: {perView.Count} for {Options.Views} views.", nameof(options));
        if (normalization.Channels != dataset.Channels)
            throw new ArgumentException($"Normalization has {normalization.Channels} channels, the dataset's images have {dataset.Channels}.");
        Dataset = dataset;
        Normalization = normalization;
    }

    public ImageDataset Dataset { get; }
    public Normalization Normalization { get; }
    public BatchLoaderOptions Options { get; }

    public int BatchesPerEpoch => Options.DropLast
        ? Dataset.Count / Options.BatchSize
        : (Dataset.Count + Options.BatchSize - 1) / Options.BatchSize;

    /// <summary>The order in which epoch <paramref name="epoch"/> visits the dataset (identity without shuffling).</summary>
    public int[] EpochOrder(int epoch) => Options.Shuffle
        ? Subsets.Permutation(Dataset.Count, new Random(MixSeed(Options.Seed, epoch, -1)))
        : Enumerable.Range(0, Dataset.Count).ToArray();

    /// <summary>The batches of one epoch; enumerate once per epoch (use foreach so early exit cleans up).</summary>
    /// <param name="firstBatch">Start at this batch number (a run resumed inside the epoch): the batches from there are
    /// those of the whole epoch, since each derives from (seed, epoch, its number) alone.</param>
    public IEnumerable<Batch> Epoch(int epoch, int firstBatch = 0)
    {
        var order = EpochOrder(epoch);
        int batches = BatchesPerEpoch;
        if (firstBatch < 0) throw new ArgumentOutOfRangeException(nameof(firstBatch), firstBatch, "must not be negative");
        if (!Options.Prefetch)
        {
            for (int b = firstBatch; b < batches; b++) yield return BuildBatch(order, epoch, b);
            yield break;
        }

        Task<Batch>? pending = firstBatch < batches ? Task.Run(() => BuildBatch(order, epoch, firstBatch)) : null;
        try
        {
            for (int b = firstBatch; b < batches; b++)
            {
                var task = pending!;
                pending = null;
                var current = task.GetAwaiter().GetResult();
                if (b + 1 < batches)
                {
                    int next = b + 1;
                    pending = Task.Run(() => BuildBatch(order, epoch, next));
                }
                yield return current;
            }
        }
        finally
        {
            // The caller stopped early (or failed): wait for the batch in flight so no worker keeps
            // running after the loop, and recycle it. Its own failure no longer matters to anyone.
            if (pending is not null)
            {
                try { pending.GetAwaiter().GetResult().Dispose(); }
                catch (Exception) { }
            }
        }
    }

    /// <summary>Builds batch <paramref name="batchIndex"/> of an epoch whose visiting order is <paramref name="order"/>.</summary>
    public Batch BuildBatch(int[] order, int epoch, int batchIndex)
    {
        int start = batchIndex * Options.BatchSize;
        int count = Math.Min(Options.BatchSize, order.Length - start);
        var raw = RawBatch.Gather(Dataset, order.AsSpan(start, count));
        Options.Transform?.Invoke(raw);

        var views = new Tensor[Options.Views];
        for (int v = 0; v < views.Length; v++)
        {
            var source = raw;
            if (Options.ViewTransforms?[v] is { } transform)
            {
                source = raw.Copy();
                transform(source);
            }
            views[v] = BuildView(source, epoch, ViewRandom(epoch, batchIndex, v));
        }
        return new Batch(views[0], raw.Labels, raw.Indices, views.Length > 1 ? views : null);
    }

    // One augmented view of the raw batch as a normalised (B, C, H, W) tensor.
    private Tensor BuildView(RawBatch raw, int epoch, Random rng)
    {
        int count = raw.Count;
        if (Options.ViewAugmentation is { } augmentation)
        {
            var output = Tensor.Empty(count, raw.Channels, raw.Height, raw.Width);
            for (int i = 0; i < count; i++)
                ContrastiveAugmentation.WriteView(raw.Image(i), output.Span.Slice(i * raw.ImageSize, raw.ImageSize), raw.Channels, raw.Height, raw.Width,
                    augmentation.Draw(raw.Height, raw.Width, rng), Normalization);
            return output;
        }
        var transforms = new SampleTransform[count];
        if (!Options.Augmentation.IsNone)
        {
            for (int i = 0; i < count; i++) transforms[i] = SampleTransform.Draw(Options.Augmentation, rng);
            if (Options.Augmentation.AlternateFlip)
                for (int i = 0; i < count; i++) transforms[i] = transforms[i] with { Flip = AlternatingFlip(raw.Indices[i], epoch) };
        }
        return ImageTensors.ToTensor(raw, Normalization, transforms);
    }

    // View 0 keeps the one-view loader's stream (seed, epoch, batch); further views mix in their number.
    private Random ViewRandom(int epoch, int batchIndex, int view)
    {
        int seed = MixSeed(Options.Seed, epoch, batchIndex);
        return new Random(view == 0 ? seed : MixSeed(seed, view, -2));
    }

    /// <summary>
    /// airbench's alternating flip of dataset image <paramref name="index"/>: a coin drawn once per run from (Seed, index),
    /// taken in even epochs and inverted in odd ones.
    /// </summary>
    public bool AlternatingFlip(int index, int epoch) => ((MixSeed(Options.Seed, -1, index) & 1) == 1) ^ (epoch % 2 == 1);

    /// <summary>SplitMix64-style mix of (seed, epoch, stream) into a 31-bit seed.</summary>
    public static int MixSeed(int seed, int epoch, int stream)
    {
        ulong z = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)epoch * 0xC2B2AE3D27D4EB4FUL ^ (ulong)(uint)stream * 0x165667B19E3779F9UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z & 0x7FFFFFFF);
    }
}
