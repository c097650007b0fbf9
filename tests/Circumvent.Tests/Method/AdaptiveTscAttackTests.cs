using Circumvent.Attacks;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Method.Attacks;
using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Tests.Method;

public class AdaptiveTscAttackTests
{
    [Fact]
    public void CombinationDifferentiatesEndpointsOnlyWhenAsked()
    {
        var start = Tensor.Parameter([1f, 2f], 2);
        var middle = Tensor.Parameter([3f, 4f], 2);
        var end = Tensor.FromArray([5f, 6f], 2); // fixed

        BezierCombination.Combine(start, middle, end, 0.25f, 0.5f, 0.25f).Backward(Tensor.FromArray([1f, 1f], 2));
        Assert.Null(start.Grad); // the default: endpoints fixed even when they require gradients
        middle.ZeroGrad();

        var y = BezierCombination.Combine(start, middle, end, 0.25f, 0.5f, 0.25f, differentiateEndpoints: true);
        Assert.Equal(new[] { 0.25f * 1 + 0.5f * 3 + 0.25f * 5, 0.25f * 2 + 0.5f * 4 + 0.25f * 6 }, y.ToArray());
        y.Backward(Tensor.FromArray([1f, -2f], 2));
        Assert.Equal(new[] { 0.25f, -0.5f }, start.Grad!.ToArray());
        Assert.Equal(new[] { 0.5f, -1f }, middle.Grad!.ToArray());
        Assert.Null(end.Grad);
    }

    [Fact]
    public void WholeCurveTrainingMovesTheEndpointsOnlyWhenAsked()
    {
        var arch = CurveProblems.SmallMlp();
        var data = CurveProblems.Blocks(64, 1);
        var start = arch.Initialize(new Random(1));
        var end = arch.Initialize(new Random(2));
        var startCopy = start.Clone();
        var options = new CurveOptions { Epochs = 1, BatchSize = 16, LearningRate = 0.05, Augment = false, Seed = 3 };

        var middleOnly = CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, options, new SupervisedObjective());
        CurveProblems.AssertSetsBitIdentical(start, middleOnly.Start);
        CurveProblems.AssertSetsBitIdentical(end, middleOnly.End);

        var whole = CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, options with { TrainEndpoints = true }, new SupervisedObjective());
        Assert.NotEqual(start.Parameters.First().Tensor.ToArray(), whole.Start.Parameters.First().Tensor.ToArray());
        Assert.NotEqual(end.Parameters.First().Tensor.ToArray(), whole.End.Parameters.First().Tensor.ToArray());
        CurveProblems.AssertSetsBitIdentical(startCopy, start); // the caller's model is never touched
    }

    [Fact]
    public void TrainEndpointsIsLeftOutOfRecordedDefenceSettings()
    {
        Assert.DoesNotContain("endpoints", System.Text.Json.JsonSerializer.Serialize(new CurveOptions()), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void RunReturnsATrainedStartPointDeterministically()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(64, 2);
        var backdoored = arch.Initialize(new Random(5));
        var copy = backdoored.Clone();
        var options = new AdaptiveTscOptions { Epochs = 1, BatchSize = 16, LearningRate = 0.05, Augment = false, Seed = 4 };

        var result = AdaptiveTscAttack.Run(arch, backdoored, data, CurveProblems.Norm, options);
        Assert.Equal(backdoored.Names, result.Names);
        Assert.All(result, e => Assert.Equal(backdoored[e.Name].Shape, e.Tensor.Shape));
        Assert.NotEqual(backdoored.Parameters.First().Tensor.ToArray(), result.Parameters.First().Tensor.ToArray());
        CurveProblems.AssertSetsBitIdentical(copy, backdoored);
        CurveProblems.AssertSetsBitIdentical(result, AdaptiveTscAttack.Run(arch, backdoored, data, CurveProblems.Norm, options));
    }

    [Fact]
    public void StartPointBatchNormStatisticsSeeTheImagesAugmentedAsInTraining()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(64, 2);
        var options = new AdaptiveTscOptions { Epochs = 1, BatchSize = 16, LearningRate = 0.05, Augment = true, Seed = 4 };
        var result = AdaptiveTscAttack.Run(arch, arch.Initialize(new Random(5)), data, CurveProblems.Norm, options);

        ParameterSet Reestimated(Augmentation augmentation)
        {
            var copy = result.Clone();
            BatchNormReestimation.Recompute(arch, copy, data, CurveProblems.Norm, options.BatchSize, augmentation, options.Seed);
            return copy;
        }
        CurveProblems.AssertSetsBitIdentical(Reestimated(new CurveOptions().AugmentationFor(data.Height)), result);
        // And that is a different answer from the plain images' (the bug this guards against).
        var plain = Reestimated(Augmentation.None);
        Assert.Contains(result.Buffers, b => !b.Tensor.ToArray().SequenceEqual(plain[b.Name].ToArray()));
    }

    [Fact]
    public void BadOptionsAreNamed()
    {
        Assert.Contains("--adaptive-epochs", Assert.Throws<ArgumentException>(() => new AdaptiveTscOptions { Epochs = 0 }.Validate()).Message);
        Assert.Contains("--adaptive-lr", Assert.Throws<ArgumentException>(() => new AdaptiveTscOptions { LearningRate = -1 }.Validate()).Message);
    }
}
