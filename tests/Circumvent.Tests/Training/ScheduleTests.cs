using Circumvent.Engine.Optim;

namespace Circumvent.Tests.Training;

public class ScheduleTests
{
    [Fact]
    public void CosineHitsBaseHalfwayAndMinimum()
    {
        var s = new CosineSchedule(0.1, totalSteps: 100, minLearningRate: 0.001);
        Assert.Equal(0.1, s.At(0), 12);
        Assert.Equal((0.1 + 0.001) / 2, s.At(50), 12);
        Assert.Equal(0.001, s.At(100), 12);
        Assert.Equal(0.001, s.At(250), 12); // clamped past the end
        Assert.Equal(0.001 + 0.099 * (1 + Math.Cos(Math.PI * 0.25)) / 2, s.At(25), 12);
    }

    [Fact]
    public void EpochSteppedCosineHoldsEachEpochsRateForAllItsBatches()
    {
        // 4 epochs of 3 batches: PyTorch's CosineAnnealingLR(T_max = 4) stepped once per epoch.
        var s = new EpochSteppedSchedule(new CosineSchedule(0.02, totalSteps: 4), stepsPerEpoch: 3);
        for (int epoch = 0; epoch < 4; epoch++)
            for (int batch = 0; batch < 3; batch++)
                Assert.Equal(0.02 * (1 + Math.Cos(Math.PI * epoch / 4)) / 2, s.At(epoch * 3 + batch), 12);
        Assert.Throws<ArgumentException>(() => new EpochSteppedSchedule(new ConstantSchedule(1), 0));
    }

    [Fact]
    public void StepDecayMultipliesByGammaEveryStepSize()
    {
        var s = new StepDecaySchedule(0.1, stepSize: 30, gamma: 0.1);
        Assert.Equal(0.1, s.At(0), 12);
        Assert.Equal(0.1, s.At(29), 12);
        Assert.Equal(0.01, s.At(30), 12);
        Assert.Equal(0.001, s.At(65), 12);
    }

    [Fact]
    public void MultiStepDropsByGammaAtEachMilestone()
    {
        var s = new MultiStepSchedule(0.01, [20, 10], 0.1);
        Assert.Equal([10, 20], s.Milestones);
        Assert.Equal(0.01, s.At(9), 12);
        Assert.Equal(0.001, s.At(10), 12);
        Assert.Equal(0.001, s.At(19), 12);
        Assert.Equal(0.0001, s.At(20), 12);
        Assert.Equal(0.0001, s.At(1000), 12);
        Assert.Throws<ArgumentException>(() => new MultiStepSchedule(0.01, [-1], 0.1));
    }

    [Fact]
    public void WarmupRisesLinearlyThenHandsOverToInner()
    {
        var s = new WarmupSchedule(new CosineSchedule(0.2, totalSteps: 10), warmupSteps: 4);
        Assert.Equal(0.05, s.At(0), 12);
        Assert.Equal(0.1, s.At(1), 12);
        Assert.Equal(0.2, s.At(3), 12);
        Assert.Equal(0.2, s.At(4), 12);          // inner step 0
        Assert.Equal(0.1, s.At(9), 12);          // inner step 5 = half-way through the cosine
        Assert.Equal(0.0, s.At(14), 12);         // inner step 10 = end
    }

    [Fact]
    public void WarmupComposesWithStepDecay()
    {
        var s = new WarmupSchedule(new StepDecaySchedule(1.0, stepSize: 2, gamma: 0.5), warmupSteps: 2);
        Assert.Equal([0.5, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25], Enumerable.Range(0, 7).Select(s.At).ToArray());
    }

    [Fact]
    public void InvalidSchedulesAreRejected()
    {
        Assert.Throws<ArgumentException>(() => new CosineSchedule(0.1, 0));
        Assert.Throws<ArgumentException>(() => new StepDecaySchedule(0.1, 0, 0.1));
    }
}
