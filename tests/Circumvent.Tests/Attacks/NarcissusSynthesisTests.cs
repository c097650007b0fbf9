using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Attacks;
using Circumvent.Models;

namespace Circumvent.Tests.Attacks;

public class NarcissusSynthesisTests
{
    // A small problem: random 3×6×6 images (20 of class 3), an untrained MLP surrogate.
    private static (IArchitecture, ParameterSet, ImageDataset) Problem()
    {
        var images = AttackTestImages.Dataset(200, channels: 3, height: 6, width: 6, seed: 2);
        var mlp = Architectures.Create(new ArchitectureConfig("mlp", 3, 6, 6, 10, 0.05));
        return (mlp, mlp.Initialize(new Random(1)), images);
    }

    private static readonly NarcissusSynthesisOptions Options = new()
    {
        Target = 3, Rounds = 12, LearningRate = 0.05, WarmupEpochs = 1, WarmupLearningRate = 0.01, BatchSize = 8,
    };

    [Fact]
    public void TriggerStaysInsideTheLInfBoundAndLowersTheTargetClassLoss()
    {
        var (mlp, surrogate, images) = Problem();
        var before = surrogate.Clone();
        var result = NarcissusSynthesis.Run(mlp, surrogate, images, Normalization.Cifar10, Augmentation.None, Options);

        Assert.True(result.LossAfter < result.LossBefore - 0.05, $"target-class loss {result.LossBefore:F4} → {result.LossAfter:F4}");
        float largest = result.Delta.Values.Max(Math.Abs);
        Assert.True(largest <= 16f + 1e-3f, $"max |δ| {largest} exceeds 16/255");
        // 12 rounds × 3 steps at 0.05 (Adam moves about lr a step) go past the bound: it is reached, and held.
        Assert.True(result.Delta.Values.Count(v => Math.Abs(v) > 15.99f) > result.Delta.Values.Length / 4,
            "the bound should be reached by many values");
        foreach (var (b, a) in before.Zip(surrogate)) Assert.Equal(b.Tensor.ToArray(), a.Tensor.ToArray()); // the caller's surrogate is untouched
        Assert.Equal((3, 6, 6), (result.Delta.Channels, result.Delta.Height, result.Delta.Width));
    }

    [Fact]
    public void TighterBoundIsKeptAndAFinishedSynthesisResumesToTheSameTrigger()
    {
        var (mlp, surrogate, images) = Problem();
        var options = Options with { Epsilon = 4 };
        string state = AttackTestImages.TempFile("trigger");
        var first = NarcissusSynthesis.Run(mlp, surrogate, images, Normalization.Cifar10, Augmentation.None, options, state);
        Assert.True(first.Delta.Values.Max(Math.Abs) <= 4f + 1e-3f);
        Assert.True(File.Exists(state + ".trigger-state"));
        // Every round is saved: a second call restores the finished state and trains nothing more.
        var again = NarcissusSynthesis.Run(mlp, surrogate, images, Normalization.Cifar10, Augmentation.None, options, state);
        Assert.Equal(first.Delta.Values, again.Delta.Values);
        NarcissusSynthesis.DeleteState(state);
        Assert.False(File.Exists(state + ".trigger-state"));
    }

    [Fact]
    public void TargetWithoutImagesIsRefusedByOption()
    {
        var (mlp, surrogate, images) = Problem();
        var error = Assert.Throws<ArgumentException>(() =>
            NarcissusSynthesis.Run(mlp, surrogate, images.Subset([0, 1, 2]), Normalization.Cifar10, Augmentation.None, Options));
        Assert.Contains("--target 3", error.Message);
        Assert.Contains("--epsilon", Assert.Throws<ArgumentException>(() => (Options with { Epsilon = 0 }).Validate()).Message);
    }
}
