using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Memory;
using Circumvent.Models;

namespace Circumvent.Method.Evaluation;

/// <summary>
/// The weighted-kNN monitor of SimCLR codebases (Wu et al. 2018's instance-discrimination kNN, as in the
/// SimCLR / BadEncoder / CTRL test loops): features are L2-normalised; a query's k most cosine-similar memory
/// features vote for their labels with weight exp(similarity / T); the class with the largest total wins
/// (ties: the lowest class index). Defaults k = 200, T = 0.1.
/// </summary>
public static class KnnMonitor
{
    public const int DefaultK = 200;
    public const float DefaultTemperature = 0.1f;

    /// <summary>Accuracy in [0, 1] of classifying <paramref name="query"/> by its neighbours in <paramref name="memory"/>.</summary>
    public static double Accuracy(LabelledFeatures memory, LabelledFeatures query, int classes, int k = DefaultK, float temperature = DefaultTemperature,
        CancellationToken cancellation = default)
    {
        var predicted = Predict(memory, query.Features, classes, k, temperature, cancellation);
        int correct = 0;
        for (int i = 0; i < predicted.Length; i++) if (predicted[i] == query.Labels[i]) correct++;
        return (double)correct / predicted.Length;
    }

    /// <summary>The predicted class of each row of <paramref name="queries"/> (M, d), normalised here like the memory's.</summary>
    /// <param name="cancellation">Observed between query chunks: throws OperationCanceledException.</param>
    public static int[] Predict(LabelledFeatures memory, Tensor queries, int classes, int k = DefaultK, float temperature = DefaultTemperature,
        CancellationToken cancellation = default)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, "kNN needs k ≥ 1.");
        if (!(temperature > 0)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "kNN temperature must be positive.");
        using var noGrad = GradMode.Disable();
        using var scope = TensorScope.Open();
        int n = memory.Labels.Length, m = queries.Shape[0];
        k = Math.Min(k, n);
        var bankT = Op.Transpose(Op.L2Normalize(memory.Features, 1), 0, 1); // (d, N)
        var normalised = Op.L2Normalize(queries, 1);
        var predicted = new int[m];
        // NOTE: queries in chunks: all 10,000 CIFAR test images against 50,000 memory features at once would be a 2 GB matrix.
        for (int start = 0; start < m; start += QueryChunk)
        {
            cancellation.ThrowIfCancellationRequested();
            int count = Math.Min(QueryChunk, m - start);
            using var chunkScope = TensorScope.Open();
            var similarity = Op.MatMul(Op.Slice(normalised, 0, start, count), bankT).ToArray(); // (count, N)
            Parallel.For(0, count, q => predicted[start + q] = Vote(similarity.AsSpan(q * n, n), memory.Labels, classes, k, temperature));
        }
        return predicted;
    }

    private const int QueryChunk = 256;

    // The class with the largest exp(similarity / T) total over the k most similar memory entries.
    private static int Vote(ReadOnlySpan<float> row, int[] labels, int classes, int k, float temperature)
    {
        // The k largest similarities: a min-heap keeps the best k seen so far.
        var heap = new PriorityQueue<int, float>(k + 1);
        for (int j = 0; j < row.Length; j++)
        {
            if (heap.Count < k) heap.Enqueue(j, row[j]);
            else if (heap.TryPeek(out _, out float least) && row[j] > least) heap.EnqueueDequeue(j, row[j]);
        }
        var votes = new double[classes];
        while (heap.TryDequeue(out int j, out float s)) votes[labels[j]] += Math.Exp(s / temperature);
        int best = 0;
        for (int c = 1; c < classes; c++) if (votes[c] > votes[best]) best = c;
        return best;
    }

    /// <summary>Eval-mode features f(x) (N, d) of every image of <paramref name="data"/>, in order, with their labels.</summary>
    /// <param name="cancellation">Observed between batches: throws OperationCanceledException.</param>
    public static LabelledFeatures Extract(Func<Tensor, Tensor> features, ImageDataset data, Normalization normalization, int batchSize = 256,
        CancellationToken cancellation = default)
    {
        using var noGrad = GradMode.Disable();
        var loader = new BatchLoader(data, normalization, BatchLoaderOptions.Evaluation(batchSize));
        var rows = new List<float[]>();
        int d = 0;
        foreach (var batch in loader.Epoch(0))
        {
            using (batch)
            using (TensorScope.Open())
            {
                cancellation.ThrowIfCancellationRequested();
                var f = features(batch.Images);
                d = f.Shape[1];
                rows.Add(f.ToArray());
            }
        }
        var all = rows.SelectMany(r => r).ToArray();
        return new LabelledFeatures(Tensor.FromArray(all, data.Count, d), data.Labels.ToArray());
    }
}

/// <summary>Feature vectors (N, d) and their N labels.</summary>
public sealed record LabelledFeatures(Tensor Features, int[] Labels);
