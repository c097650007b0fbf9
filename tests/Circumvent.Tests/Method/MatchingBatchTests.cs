using Circumvent.Engine;
using Circumvent.Method.Defenses;

namespace Circumvent.Tests.Method;

/// <summary>The batches of D that TSC's activation matching runs on (<see cref="MatchingOptions"/>).</summary>
public class MatchingBatchTests
{
    private static readonly DefenseInput Input = PlantedBackdoorProblem.Create(seed: 0, arch: "mlp", width: 0.25).Input();

    private static List<float[]> Batches(MatchingOptions? options, int seed) =>
        [.. PurificationSteps.MatchingBatches(Input, options, seed).Select(t => t.ToArray())];

    [Fact]
    public void TheAuthorsBatchingIsShuffledAugmentedAndOf128()
    {
        Assert.Equal(MatchingOptions.Authors, new TscOptions().Matching);
        var shapes = PurificationSteps.MatchingBatches(Input, MatchingOptions.Authors, 1).Select(t => t.Shape[0]);
        Assert.Equal([128, Input.Clean.Count - 128], shapes);

        var inOrder = Batches(MatchingOptions.InOrder with { BatchSize = 128 }, 1);
        var shuffled = Batches(MatchingOptions.InOrder with { BatchSize = 128, Shuffle = true }, 1);
        var augmented = Batches(MatchingOptions.InOrder with { BatchSize = 128, Augment = true }, 1);
        // Shuffling reorders the same images (the same pixel total); augmenting changes them (zero-padded crops).
        Assert.NotEqual(inOrder[0], shuffled[0]);
        Assert.Equal(inOrder.Sum(b => b.Sum(v => (double)v)), shuffled.Sum(b => b.Sum(v => (double)v)), 1e-3);
        Assert.NotEqual(inOrder[0], augmented[0]);
        // The draws follow the seed.
        Assert.Equal(Batches(MatchingOptions.Authors, 1), Batches(MatchingOptions.Authors, 1));
        Assert.NotEqual(Batches(MatchingOptions.Authors, 1)[0], Batches(MatchingOptions.Authors, 2)[0]);
    }

    [Fact]
    public void NullMeansTheOldInOrderBatchingAndIsNotRecorded()
    {
        var expected = Batches(MatchingOptions.InOrder, 7);
        Assert.Equal([Input.Clean.Count], PurificationSteps.MatchingBatches(Input, null, 3).Select(t => t.Shape[0]));
        Assert.Equal(expected, Batches(null, 3));

        // Run folders made before the option recorded no "matching"; null keeps them matching, the default is recorded.
        Assert.False(OptionsJson.ToNode(new TscOptions { Matching = null }).ContainsKey("matching"));
        var recorded = OptionsJson.ToNode(new TscOptions())["matching"]!;
        Assert.Equal(128, (int)recorded["batch_size"]!);
        Assert.True((bool)recorded["shuffle"]! && (bool)recorded["augment"]!);
    }

    [Fact]
    public void WithoutAugmentationOfDMatchingSeesDAsStoredToo()
    {
        var tsc = (Tsc)DefenseRegistry.Create("tsc", new DefenseSettings { ["augment"] = false });
        Assert.Equal(MatchingOptions.Authors with { Augment = false }, tsc.Options.Matching);
        Assert.False(tsc.Options.Curve.Augment);
        Assert.Equal(MatchingOptions.Authors, ((Tsc)DefenseRegistry.Create("tsc", new DefenseSettings())).Options.Matching);
        Assert.Contains("matching batch size", Assert.Throws<ArgumentException>(() =>
            new TscOptions { Matching = new MatchingOptions { BatchSize = 0 } }.Validate()).Message);
    }
}
