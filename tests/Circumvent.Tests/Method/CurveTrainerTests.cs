using Circumvent.Data.Loading;
using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Tests.Method;

public class CurveTrainerTests
{
    private static readonly SupervisedObjective CrossEntropy = new();

    /// <summary>Options for a tiny, fast fit: small batches, no augmentation unless asked.</summary>
    private static CurveOptions Tiny(int epochs, int seed = 1) => new()
    {
        Epochs = epochs, BatchSize = 16, LearningRate = 0.05, Seed = seed, Augment = false,
    };

    /// <summary>Two independently trained endpoints on the blocks problem (BN stats re-estimated).</summary>
    private static (ParameterSet Start, ParameterSet End) TrainedEndpoints(IArchitecture arch, Circumvent.Data.ImageDataset data)
    {
        var options = new FineTuneOptions { Epochs = 8, BatchSize = 16, LearningRate = 0.05, Augment = false };
        ParameterSet Train(int seed)
        {
            var trained = FineTuner.Run(arch, arch.Initialize(new Random(seed)), data, CurveProblems.Norm, options with { Seed = seed }, CrossEntropy);
            BatchNormReestimation.Recompute(arch, trained, data, CurveProblems.Norm, 32);
            return trained;
        }
        return (Train(10), Train(20));
    }

    [Fact]
    public void TheCurveOptimizerOptionSelectsAdamAndAnUnknownOneIsRefused()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(32, 1);
        var (start, end) = (arch.Initialize(new Random(1)), arch.Initialize(new Random(2)));
        var sgd = CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, Tiny(1), CrossEntropy);
        var adam = CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, Tiny(1) with { Optimizer = "adam" }, CrossEntropy);
        var explicitSgd = CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, Tiny(1) with { Optimizer = "sgd" }, CrossEntropy);
        CurveProblems.AssertSetsBitIdentical(sgd.Middle, explicitSgd.Middle);
        // Adam's first step moves every weight by about lr (0.05) whatever its gradient's size; SGD's by lr × gradient.
        Assert.NotEqual(sgd.Middle.Parameters.First().Tensor.ToArray(), adam.Middle.Parameters.First().Tensor.ToArray());
        var error = Assert.Throws<ArgumentException>(() =>
            CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, Tiny(1) with { Optimizer = "lbfgs" }, CrossEntropy));
        Assert.Contains("curve optimizer must be one of sgd, adam, adamw, amsgrad, got 'lbfgs'", error.Message);
    }

    [Fact]
    public void SchedulePerEpochHoldsTheRateThroughEachEpochAndIsRecordedOnlyWhenSet()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(48, 1); // 3 batches of 16 per epoch
        var (start, end) = (arch.Initialize(new Random(1)), arch.Initialize(new Random(2)));
        List<(int Epoch, double Rate)> Rates(CurveOptions options)
        {
            var rates = new List<(int, double)>();
            CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, options, CrossEntropy, new ProgressRelay(p => rates.Add((p.Epoch, p.LearningRate))));
            return rates;
        }
        var perBatch = Rates(Tiny(2));
        var perEpoch = Rates(Tiny(2) with { SchedulePerEpoch = true });
        // Per epoch: cosine over 2 epochs, 0.05 then 0.025, for every batch of the epoch. Per batch: 6 distinct steps.
        Assert.Equal([0.05, 0.05, 0.05, 0.025, 0.025, 0.025], perEpoch.Select(r => Math.Round(r.Rate, 12)));
        Assert.Equal(6, perBatch.Select(r => r.Rate).Distinct().Count());

        // Off (the default) it is not in the recorded settings, so run folders made before it still match.
        Assert.False(Circumvent.Method.Defenses.OptionsJson.ToNode(Tiny(2)).ContainsKey("schedule_per_epoch"));
        Assert.True((bool)Circumvent.Method.Defenses.OptionsJson.ToNode(Tiny(2) with { SchedulePerEpoch = true })["schedule_per_epoch"]!);
        Assert.False(Circumvent.Method.Defenses.OptionsJson.ToNode(new FineTuneOptions()).ContainsKey("schedule_per_epoch"));
    }

    [Fact]
    public void TheDefencesStepTheirCosinePerEpochAsTheAuthorsDo()
    {
        var tsc = (Circumvent.Method.Defenses.Tsc)Circumvent.Method.Defenses.DefenseRegistry.Create("tsc", new() { ["curve_epochs"] = 5 });
        var mcr = (Circumvent.Method.Defenses.Mcr)Circumvent.Method.Defenses.DefenseRegistry.Create("mcr", new());
        var ft = (Circumvent.Method.Defenses.FineTuneDefense)Circumvent.Method.Defenses.DefenseRegistry.Create("ft", new());
        Assert.True(tsc.Options.Curve.SchedulePerEpoch && tsc.Options.FineTune.SchedulePerEpoch);
        Assert.True(mcr.Options.Curve.SchedulePerEpoch && mcr.Options.FineTune.SchedulePerEpoch);
        Assert.True(ft.Settings.SchedulePerEpoch);
    }

    [Fact]
    public void ShortFitLowersTheMidpointLossAndLeavesTheEndpointsUntouched()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(96, 1);
        var (start, end) = TrainedEndpoints(arch, data);
        var startCopy = start.Clone();
        var endCopy = end.Clone();

        var linear = BezierCurve.Initialize(start, end);
        double before = CurveProblems.EvalLoss(arch, CurvePoint.At(arch, linear, 0.5, data, CurveProblems.Norm, 32), data);
        var curve = CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, Tiny(epochs: 3), CrossEntropy);
        double after = CurveProblems.EvalLoss(arch, CurvePoint.At(arch, curve, 0.5, data, CurveProblems.Norm, 32), data);

        Assert.True(after < before, $"loss at t=0.5: {before:F4} before the fit, {after:F4} after");
        CurveProblems.AssertSetsBitIdentical(startCopy, start);
        CurveProblems.AssertSetsBitIdentical(endCopy, end);
        CurveProblems.AssertSetsBitIdentical(startCopy, curve.Start);
        CurveProblems.AssertSetsBitIdentical(endCopy, curve.End);
        Assert.NotEqual(linear.Middle["conv3.weight"].ToArray(), curve.Middle["conv3.weight"].ToArray());
    }

    [Fact]
    public void SameSeedGivesTheSameCurveAndAnotherSeedDoesNot()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(40, 2);
        var start = arch.Initialize(new Random(1));
        var end = arch.Initialize(new Random(2));
        // Default augmentation (crop with H/8 padding + flip) is part of what must reproduce.
        var options = Tiny(epochs: 2, seed: 5) with { Augment = true };

        var a = CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, options, CrossEntropy);
        var b = CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, options, CrossEntropy);
        var c = CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, options with { Seed = 6 }, CrossEntropy);

        CurveProblems.AssertSetsBitIdentical(a.Middle, b.Middle);
        Assert.NotEqual(a.Middle["fc.weight"].ToArray(), c.Middle["fc.weight"].ToArray());
    }

    [Fact]
    public void CosineRateAnnealsOverTheActualRunToNearZero()
    {
        var arch = CurveProblems.SmallMlp();
        var data = CurveProblems.Blocks(40, 3); // 3 batches of 16, 16, 8
        var progress = new CollectProgress<TrainingProgress>();
        var options = Tiny(epochs: 4);
        CurveTrainer.Fit(arch, arch.Initialize(new Random(1)), arch.Initialize(new Random(2)), data, CurveProblems.Norm,
            options, CrossEntropy, progress);

        var events = progress.Items;
        Assert.Equal(4 * 3, events.Count);
        Assert.All(events, e => Assert.Equal("curve", e.Stage));
        Assert.Equal(options.LearningRate, events[0].LearningRate, 12);
        for (int i = 1; i < events.Count; i++)
            Assert.True(events[i].LearningRate < events[i - 1].LearningRate, $"rate rose or stalled at step {i}");
        Assert.True(events[^1].LearningRate < 0.02 * options.LearningRate, $"last rate {events[^1].LearningRate}");
        Assert.Equal(new[] { 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4 }, events.Select(e => e.Epoch));
        Assert.True(events[^1].IsEpochEnd);
        Assert.All(events, e => Assert.True(double.IsFinite(e.Loss) && e.Loss > 0 && e.ImagesPerSecond > 0));
    }

    [Fact]
    public void L2TermChangesTheTrainedMiddle()
    {
        var arch = CurveProblems.SmallMlp();
        var data = CurveProblems.Blocks(32, 4);
        var start = arch.Initialize(new Random(3));
        var end = arch.Initialize(new Random(4));
        var withL2 = CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, Tiny(2) with { L2 = 0.5 }, CrossEntropy);
        var without = CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, Tiny(2) with { L2 = 0 }, CrossEntropy);
        // λ·w(t) pulls the middle towards zero on top of the optimiser's own decay.
        double Norm(BezierCurve c) => WeightPenalty.HalfSquaredNorm(c.TrainableTensors());
        Assert.True(Norm(withL2) < Norm(without), $"‖w1‖² with L2 {Norm(withL2):F4} vs without {Norm(without):F4}");
    }

    [Fact]
    public void BadOptionsAreRejected()
    {
        var arch = CurveProblems.SmallMlp();
        var p = arch.Initialize(new Random(1));
        var data = CurveProblems.Blocks(8, 1);
        Assert.Throws<ArgumentException>(() => CurveTrainer.Fit(arch, p, p, data, CurveProblems.Norm, Tiny(0), CrossEntropy));
        Assert.Throws<ArgumentException>(() => CurveTrainer.Fit(arch, p, p, data, CurveProblems.Norm, Tiny(1) with { L2 = -1 }, CrossEntropy));
        Assert.Throws<ArgumentException>(() => CurveTrainer.Fit(arch, p, p, data, CurveProblems.Norm, Tiny(1) with { Momentum = 1 }, CrossEntropy));
    }
}
