using Circumvent.Data.Loading;
using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Tests.Method;

public class FineTunerTests
{
    private static readonly FineTuneOptions Quick = new()
    {
        Epochs = 5, BatchSize = 16, LearningRate = 0.05, Augment = false, Seed = 2,
    };

    [Fact]
    public void LowersTheTrainingLossAndLeavesTheInputAlone()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(60, 5);
        var initial = arch.Initialize(new Random(1));
        BatchNormReestimation.Recompute(arch, initial, data, CurveProblems.Norm, 32);
        var copy = initial.Clone();
        var progress = new CollectProgress<TrainingProgress>();

        var tuned = FineTuner.Run(arch, initial, data, CurveProblems.Norm, Quick, new SupervisedObjective(), progress);

        double before = CurveProblems.EvalLoss(arch, initial, data), after = CurveProblems.EvalLoss(arch, tuned, data);
        Assert.True(after < 0.7 * before, $"training loss {before:F4} → {after:F4}");
        CurveProblems.AssertSetsBitIdentical(copy, initial);
        Assert.All(tuned, e => Assert.False(e.Tensor.RequiresGrad, e.Name));
        // BN running statistics followed the momentum updates.
        Assert.NotEqual(initial["bn4.running_mean"].ToArray(), tuned["bn4.running_mean"].ToArray());
        Assert.Equal(5 * 4, progress.Items.Count);
        Assert.All(progress.Items, e => Assert.Equal("fine-tune", e.Stage));
        Assert.True(progress.Items[^1].LearningRate < 0.01 * Quick.LearningRate);
    }

    [Fact]
    public void SchedulePerEpochStepsTheCosineOncePerEpoch()
    {
        var arch = CurveProblems.SmallMlp();
        var data = CurveProblems.Blocks(60, 5); // 4 batches of 16 per epoch
        var progress = new CollectProgress<TrainingProgress>();
        FineTuner.Run(arch, arch.Initialize(new Random(1)), data, CurveProblems.Norm, Quick with { SchedulePerEpoch = true },
            new SupervisedObjective(), progress);
        // Epoch e (0-based) of 5 runs all its batches at 0.05·(1 + cos(π e / 5)) / 2, as scheduler.step() once per epoch.
        Assert.Equal(5 * 4, progress.Items.Count);
        Assert.All(progress.Items, p => Assert.Equal(Quick.LearningRate * (1 + Math.Cos(Math.PI * (p.Epoch - 1) / 5)) / 2, p.LearningRate, 12));
    }

    [Fact]
    public void IsDeterministicForASeed()
    {
        var arch = CurveProblems.SmallMlp();
        var data = CurveProblems.Blocks(30, 6);
        var initial = arch.Initialize(new Random(3));
        var options = Quick with { Epochs = 2, Augment = true };
        var a = FineTuner.Run(arch, initial, data, CurveProblems.Norm, options, new SupervisedObjective());
        var b = FineTuner.Run(arch, initial, data, CurveProblems.Norm, options, new SupervisedObjective());
        CurveProblems.AssertSetsBitIdentical(a, b);
    }

    [Fact]
    public void UsesTheObjectiveItIsGiven()
    {
        var arch = CurveProblems.SmallMlp();
        var data = CurveProblems.Blocks(30, 7);
        var initial = arch.Initialize(new Random(4));
        var options = Quick with { Epochs = 1 };
        var plain = FineTuner.Run(arch, initial, data, CurveProblems.Norm, options, new SupervisedObjective());
        var smoothed = FineTuner.Run(arch, initial, data, CurveProblems.Norm, options, new SupervisedObjective(labelSmoothing: 0.5));
        Assert.NotEqual(plain["fc1.weight"].ToArray(), smoothed["fc1.weight"].ToArray());
    }
}
