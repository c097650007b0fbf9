namespace Circumvent.Data.Loading;

/// <summary>How a <see cref="BatchLoader"/> cuts, orders and augments an epoch.</summary>
public sealed record BatchLoaderOptions
{
    public int BatchSize { get; init; } = 128;

    /// <summary>Reshuffle every epoch with a seed mixed from <see cref="Seed"/> and the epoch number.</summary>
    public bool Shuffle { get; init; }

    /// <summary>Skip the final batch when it would be smaller than <see cref="BatchSize"/>.</summary>
    public bool DropLast { get; init; }

    public int Seed { get; init; }

    public Augmentation Augmentation { get; init; } = Augmentation.None;

    /// <summary>
    /// Augmented views per image (<see cref="Batch.Views"/>): 2 for SimCLR's pairs. Each view draws its own
    /// augmentation from (Seed, epoch, batch, view); view 0 draws what a one-view loader draws.
    /// </summary>
    public int Views { get; init; } = 1;

    /// <summary>SimCLR's view augmentation (crop-resize, flip, colour jitter, grey), used instead of <see cref="Augmentation"/>; null: none.</summary>
    public ContrastiveAugmentation? ViewAugmentation { get; init; }

    /// <summary>
    /// Optional hook on each raw batch before augmentation and normalisation (e.g. apply a trigger).
    /// It runs on the loader's producer thread, one batch at a time, in batch order, and only on the batches built: a
    /// run resumed inside an epoch skips the ones before, so anything it draws must derive from the batch itself.
    /// </summary>
    public Action<RawBatch>? Transform { get; init; }

    /// <summary>
    /// Optional hook per view (length <see cref="Views"/>; null entries change nothing): view v is built from a copy of
    /// the raw batch (after <see cref="Transform"/>) that ViewTransforms[v] may change in place, e.g. BadEncoder's clean
    /// view 0 and triggered view 1 of the same images. Runs on the loader's producer thread, like <see cref="Transform"/>.
    /// </summary>
    public IReadOnlyList<Action<RawBatch>?>? ViewTransforms { get; init; }

    /// <summary>Prepare the next batch on a worker thread while the current one is consumed.</summary>
    public bool Prefetch { get; init; } = true;

    /// <summary>Evaluation defaults: dataset order, every image, no augmentation.</summary>
    public static BatchLoaderOptions Evaluation(int batchSize = 256) => new() { BatchSize = batchSize };

    /// <summary>Training defaults: shuffled, last partial batch dropped.</summary>
    public static BatchLoaderOptions Training(int batchSize, int seed, Augmentation? augmentation = null) =>
        new() { BatchSize = batchSize, Shuffle = true, DropLast = true, Seed = seed, Augmentation = augmentation ?? Augmentation.None };
}
