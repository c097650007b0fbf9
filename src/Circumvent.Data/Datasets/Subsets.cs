namespace Circumvent.Data;

/// <summary>
/// Seeded subsets of a dataset. The *Indices methods return sorted source indices (so they can be
/// saved, compared or complemented); the others copy those images into a new dataset.
/// </summary>
public static class Subsets
{
    /// <summary><paramref name="count"/> distinct images drawn uniformly at random.</summary>
    public static int[] RandomIndices(int datasetCount, int count, int seed)
    {
        if (count < 0 || count > datasetCount)
            throw new ArgumentOutOfRangeException(nameof(count), $"Cannot draw {count} of {datasetCount} images.");
        var order = Permutation(datasetCount, new Random(seed));
        var chosen = order[..count];
        Array.Sort(chosen);
        return chosen;
    }

    public static ImageDataset Random(ImageDataset dataset, int count, int seed) =>
        dataset.Subset(RandomIndices(dataset.Count, count, seed));

    /// <summary>round(fraction·N) images drawn uniformly at random.</summary>
    public static ImageDataset Random(ImageDataset dataset, double fraction, int seed) =>
        Random(dataset, CountFor(fraction, dataset.Count), seed);

    /// <summary>
    /// Stratified sample: round(fraction·n_c) images from every class c, each class drawn with its own
    /// seeded shuffle (e.g. the defender's 5% of the training set in TSC).
    /// </summary>
    public static int[] PerClassIndices(ImageDataset dataset, double fraction, int seed)
    {
        var rng = new Random(seed);
        var byClass = Enumerable.Range(0, dataset.NumClasses).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < dataset.Count; i++)
        {
            int label = dataset.Labels[i];
            if ((uint)label >= (uint)byClass.Length)
                throw new ArgumentException($"Image {i} has label {label}, outside the {byClass.Length} classes.");
            byClass[label].Add(i);
        }

        var chosen = new List<int>();
        foreach (var members in byClass)
        {
            int take = CountFor(fraction, members.Count);
            var order = Permutation(members.Count, rng);
            for (int k = 0; k < take; k++) chosen.Add(members[order[k]]);
        }
        var result = chosen.ToArray();
        Array.Sort(result);
        return result;
    }

    public static ImageDataset PerClass(ImageDataset dataset, double fraction, int seed) =>
        dataset.Subset(PerClassIndices(dataset, fraction, seed));

    /// <summary>Indices in 0..datasetCount−1 not in <paramref name="indices"/>, ascending.</summary>
    public static int[] Complement(int datasetCount, int[] indices)
    {
        var taken = new bool[datasetCount];
        foreach (var i in indices) taken[i] = true;
        return Enumerable.Range(0, datasetCount).Where(i => !taken[i]).ToArray();
    }

    /// <summary>A uniformly random permutation of 0..n−1 (Fisher–Yates).</summary>
    public static int[] Permutation(int n, Random rng)
    {
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        for (int i = n - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    private static int CountFor(double fraction, int n)
    {
        if (!(fraction >= 0 && fraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(fraction), $"Subset fraction must be in [0, 1], got {fraction}.");
        return (int)Math.Round(fraction * n, MidpointRounding.AwayFromZero);
    }
}
