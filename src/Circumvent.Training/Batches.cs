using Circumvent.Data.Loading;
using Circumvent.Engine;

namespace Circumvent.Training;

/// <summary>
/// Where the trainer and evaluator get mini-batches. A training source shuffles (and augments)
/// deterministically per epoch; an evaluation source yields the data in order.
/// </summary>
public interface IBatchSource
{
    int Count { get; }
    int BatchesPerEpoch { get; }

    /// <summary>
    /// The batches of <paramref name="epoch"/> from batch number <paramref name="firstBatch"/> on: the same batches the
    /// whole epoch has from there (a run resumed inside an epoch continues with them).
    /// </summary>
    IEnumerable<Batch> Batches(int epoch, int firstBatch = 0);
}

/// <summary>An in-memory source over float features (N, …), for tests and synthetic problems.</summary>
public sealed class TensorBatchSource : IBatchSource
{
    private readonly float[] _features;
    private readonly int[] _labels;
    private readonly int[] _exampleShape;
    private readonly int _exampleSize;
    private readonly int _batchSize;
    private readonly int? _shuffleSeed;

    public TensorBatchSource(float[] features, int[] labels, int[] exampleShape, int batchSize, int? shuffleSeed)
    {
        _exampleSize = Shape.Size(exampleShape);
        if (features.Length != labels.Length * _exampleSize)
            throw new ArgumentException($"{labels.Length} examples of shape {Shape.Format(exampleShape)} need {labels.Length * _exampleSize} values, got {features.Length}.");
        if (batchSize <= 0) throw new ArgumentException($"Batch size must be at least 1, got {batchSize}.");
        _features = features;
        _labels = labels;
        _exampleShape = exampleShape;
        _batchSize = batchSize;
        _shuffleSeed = shuffleSeed;
    }

    public int Count => _labels.Length;
    public int BatchesPerEpoch => (Count + _batchSize - 1) / _batchSize;

    public IEnumerable<Batch> Batches(int epoch, int firstBatch = 0)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        if (_shuffleSeed is int seed) new Random(unchecked(seed * 7919 + epoch)).Shuffle(order);
        for (int start = firstBatch * _batchSize; start < Count; start += _batchSize)
        {
            int n = Math.Min(_batchSize, Count - start);
            var images = Tensor.Empty([n, .. _exampleShape]);
            var labels = new int[n];
            for (int i = 0; i < n; i++)
            {
                int k = order[start + i];
                _features.AsSpan(k * _exampleSize, _exampleSize).CopyTo(images.Span.Slice(i * _exampleSize));
                labels[i] = _labels[k];
            }
            yield return new Batch(images, labels, order[start..(start + n)]);
        }
    }
}

/// <summary>The data layer's <see cref="BatchLoader"/> (normalise, shuffle, augment, prefetch) as a batch source.</summary>
public sealed class BatchLoaderSource(BatchLoader loader) : IBatchSource
{
    public BatchLoader Loader { get; } = loader;
    public int Count => Loader.Dataset.Count;
    public int BatchesPerEpoch => Loader.BatchesPerEpoch;
    public IEnumerable<Batch> Batches(int epoch, int firstBatch = 0) => Loader.Epoch(epoch, firstBatch);
}
