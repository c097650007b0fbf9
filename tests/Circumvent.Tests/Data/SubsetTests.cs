using Circumvent.Data;

namespace Circumvent.Tests.Data;

public class SubsetTests
{
    /// <summary>Images of 1×2×2 whose first byte is the image index (mod 256); class sizes 100, 50, 30 for classes 0, 1, 2.</summary>
    internal static ImageDataset Toy(int[]? classSizes = null)
    {
        classSizes ??= [100, 50, 30];
        var labels = classSizes.SelectMany((n, c) => Enumerable.Repeat(c, n)).ToArray();
        // Interleave classes so index order and class order differ.
        var rng = new Random(5);
        labels = labels.OrderBy(_ => rng.Next()).ToArray();
        var pixels = new byte[labels.Length * 4];
        for (int i = 0; i < labels.Length; i++)
        {
            pixels[4 * i] = (byte)i;
            pixels[4 * i + 1] = (byte)(i >> 8);
            pixels[4 * i + 2] = (byte)labels[i];
        }
        return new ImageDataset(pixels, labels, 1, 2, 2, ["a", "b", "c"]);
    }

    private static int SourceIndex(ImageDataset d, int i) => d.Image(i)[0] | (d.Image(i)[1] << 8);

    [Fact]
    public void SubsetCopiesImagesAndLabelsInOrder()
    {
        var data = Toy();
        var sub = data.Subset([5, 2, 170]);
        Assert.Equal(3, sub.Count);
        Assert.Equal(new[] { 5, 2, 170 }, Enumerable.Range(0, 3).Select(i => SourceIndex(sub, i)));
        Assert.Equal(new[] { data.Labels[5], data.Labels[2], data.Labels[170] }, sub.Labels);
        Assert.NotSame(data.Pixels, sub.Pixels);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Subset([180]));
    }

    [Fact]
    public void RandomHasRequestedSizeAndIsDeterministic()
    {
        var data = Toy();
        var a = Subsets.RandomIndices(data.Count, 40, seed: 1);
        Assert.Equal(40, a.Length);
        Assert.Equal(40, a.Distinct().Count());
        Assert.Equal(a, Subsets.RandomIndices(data.Count, 40, seed: 1));
        Assert.NotEqual(a, Subsets.RandomIndices(data.Count, 40, seed: 2));
        Assert.Equal(18, Subsets.Random(data, 0.1, seed: 3).Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => Subsets.RandomIndices(10, 11, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Subsets.Random(data, 1.5, 0));
    }

    [Fact]
    public void PerClassTakesTheSameFractionOfEveryClass()
    {
        var data = Toy();
        var indices = Subsets.PerClassIndices(data, 0.1, seed: 7);
        var counts = new int[3];
        foreach (var i in indices) counts[data.Labels[i]]++;
        Assert.Equal(new[] { 10, 5, 3 }, counts);
        Assert.Equal(indices, Subsets.PerClassIndices(data, 0.1, seed: 7));
        Assert.NotEqual(indices, Subsets.PerClassIndices(data, 0.1, seed: 8));

        var sub = Subsets.PerClass(data, 0.1, seed: 7);
        Assert.Equal(new[] { 10, 5, 3 }, sub.CountPerClass());
        // Every copied image is the one its index names.
        Assert.Equal(indices, Enumerable.Range(0, sub.Count).Select(i => SourceIndex(sub, i)));
    }

    [Fact]
    public void ComplementIsDisjointAndCoversTheRest()
    {
        var data = Toy();
        var held = Subsets.PerClassIndices(data, 0.05, seed: 1);
        var rest = Subsets.Complement(data.Count, held);
        Assert.Empty(held.Intersect(rest));
        Assert.Equal(data.Count, held.Length + rest.Length);
        Assert.Equal(Enumerable.Range(0, data.Count), held.Concat(rest).Order());
    }

    [Fact]
    public void PermutationIsAPermutation()
    {
        var p = Subsets.Permutation(1000, new Random(0));
        Assert.Equal(Enumerable.Range(0, 1000), p.Order());
        Assert.NotEqual(Enumerable.Range(0, 1000), p);
    }
}
