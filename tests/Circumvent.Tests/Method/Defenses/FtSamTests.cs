using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Memory;
using Circumvent.Engine.Optim;
using Circumvent.Method.Curves;
using Circumvent.Method.Defenses.FtSam;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Tests.Method.Defenses;

/// <summary>SAM's ascent step against hand computations, its gradient against the gradient at the perturbed point, and FT-SAM end to end.</summary>
public class FtSamTests
{
    /// <summary>w1 = (1, 2), w2 = (−1) with gradients (3, 4) and (12), from the loss 3·w1₀ + 4·w1₁ + 12·w2₀.</summary>
    private static ParameterSet WithGradients()
    {
        var set = new ParameterSet();
        set.Add("w1", Tensor.Parameter([1f, 2f], 2), TensorRole.Parameter);
        set.Add("w2", Tensor.Parameter([-1f], 1), TensorRole.Parameter);
        set.Add("buffer", Tensor.FromArray([7f], 1), TensorRole.Buffer);
        var loss = Op.Add(Op.Sum(Op.Mul(set["w1"], Tensor.FromArray([3f, 4f], 2))), Op.Sum(Op.Mul(set["w2"], Tensor.FromArray([12f], 1))));
        loss.Backward();
        return set;
    }

    [Fact]
    public void SamStepIsRhoTimesTheUnitGradient()
    {
        // ‖g‖ = √(9 + 16 + 144) = 13, so e = 0.5·(3, 4, 12)/13.
        var e = SharpnessAwareObjective.Perturbation(WithGradients(), rho: 0.5, adaptive: false);
        Assert.Equal([0.5f * 3 / 13, 0.5f * 4 / 13], e["w1"].ToArray(), (a, b) => Math.Abs(a - b) < 1e-7);
        Assert.Equal(0.5f * 12 / 13, e["w2"].ToArray()[0], 1e-7f);
        Assert.False(e.ContainsKey("buffer"));
    }

    [Fact]
    public void AdaptiveSamStepScalesByTheWeights()
    {
        // |w|·g = (3, 8, 12), norm √217; e = ρ·w²·g/√217 = 2·(1·3, 4·4, 1·12)/√217.
        var e = SharpnessAwareObjective.Perturbation(WithGradients(), rho: 2, adaptive: true);
        double norm = Math.Sqrt(217);
        Assert.Equal([(float)(2 * 3 / norm), (float)(2 * 16 / norm)], e["w1"].ToArray(), (a, b) => Math.Abs(a - b) < 1e-6);
        Assert.Equal((float)(2 * 12 / norm), e["w2"].ToArray()[0], 1e-6f);
    }

    /// <summary>
    /// The gradient the SAM objective leaves on w equals the plain loss's gradient at w + e, with e computed here
    /// independently from the plain gradient at w.
    /// </summary>
    [Fact]
    public void SamGradientIsThePlainGradientAtThePerturbedWeights()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 0, arch: "mlp", width: 0.25, epochs: 2);
        var loader = new BatchLoader(problem.Clean, problem.Normalization, BatchLoaderOptions.Training(32, 1));
        using var batch = loader.Epoch(0).First();
        var plain = new SupervisedObjective(0.1);
        const double rho = 0.3;

        var weights = problem.Parameters.Clone(requiresGrad: true);
        using (TensorScope.Open())
            new SharpnessAwareObjective(plain, rho, adaptive: false).Loss(problem.Architecture, weights, batch, ForwardContext.Eval()).Loss.Backward();

        var reference = problem.Parameters.Clone(requiresGrad: true);
        using (TensorScope.Open()) plain.Loss(problem.Architecture, reference, batch, ForwardContext.Eval()).Loss.Backward();
        double norm = Math.Sqrt(reference.Parameters.Sum(e => e.Tensor.Grad!.ToArray().Sum(g => (double)g * g)));
        var shifted = problem.Parameters.Clone(requiresGrad: true);
        foreach (var e in shifted.Parameters)
        {
            var w = e.Tensor.Span;
            var g = reference[e.Name].Grad!.Span;
            for (int i = 0; i < w.Length; i++) w[i] += (float)(rho * g[i] / norm);
        }
        using (TensorScope.Open()) plain.Loss(problem.Architecture, shifted, batch, ForwardContext.Eval()).Loss.Backward();

        foreach (var e in weights.Parameters)
            Assert.Equal(shifted[e.Name].Grad!.ToArray(), e.Tensor.Grad!.ToArray(), (a, b) => Math.Abs(a - b) <= 1e-5f + 1e-4f * Math.Abs(b));
        // And the step was not negligible: the gradient at w + e differs from the one at w.
        Assert.Contains(weights.Parameters, e => !e.Tensor.Grad!.ToArray().SequenceEqual(reference[e.Name].Grad!.ToArray()));
    }

    /// <summary>
    /// On the planted backdoor (a BN network) plain fine-tuning leaves ASR where it was; the same fine-tuning with
    /// BackdoorBench's ASAM (ρ = 2) removes it. The rate is raised to 0.05 for the 30-epoch budget of a unit test.
    /// </summary>
    [Fact]
    public void FtSamLowersAsrOnAPlantedBackdoorWherePlainFineTuningDoesNot()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 0);
        var tune = new FtSamOptions().FineTune with { Epochs = 30, BatchSize = 32, LearningRate = 0.05, Augment = false };
        using var folder = new Circumvent.Tests.Data.TempFolder();
        var input = problem.Input() with { RunFolder = Path.Combine(folder.Path, "run") };
        var progress = new ProgressLines();
        var result = new FtSamDefense(new FtSamOptions { FineTune = tune }).Run(input, progress);
        var plain = new Circumvent.Method.Defenses.FineTuneDefense(tune).Run(problem.Input());

        // The rate of each reported step is BackdoorBench's cosine (T_max = 100 steps, stepped every batch, on past 100).
        var wave = new CosineSchedule(tune.LearningRate, 100, continuePastEnd: true);
        var rates = progress.Lines.Select(l => System.Text.RegularExpressions.Regex.Match(l, @"epoch (\d+)/\d+ batch (\d+)/(\d+) .*?lr ([0-9.eE+-]+)"))
            .Where(m => m.Success).Select(m => (Step: (int.Parse(m.Groups[1].Value) - 1) * int.Parse(m.Groups[3].Value) + int.Parse(m.Groups[2].Value) - 1,
                Lr: double.Parse(m.Groups[4].Value, System.Globalization.CultureInfo.InvariantCulture))).ToList();
        Assert.Contains(rates, r => r.Step > 100);
        foreach (var (step, lr) in rates) Assert.True(Math.Abs(lr - wave.At(step)) <= 0.01 * wave.At(step) + 1e-6, $"step {step}: lr {lr}, expected {wave.At(step)}");

        Assert.True(result.Before!.Asr >= 95, $"the planted backdoor did not take (ASR {result.Before.Asr:F1}%)");
        Assert.True(plain.After!.Asr >= 80, $"plain fine-tuning already removes this backdoor (ASR {plain.After.Asr:F1}%): the test shows nothing about SAM");
        Assert.True(result.After!.Asr <= 20, $"FT-SAM left ASR at {result.After.Asr:F1}% (before {result.Before.Asr:F1}%)");
        Assert.True(result.After.Acc >= result.Before.Acc - 5, $"FT-SAM cost {result.Before.Acc - result.After.Acc:F1} points of accuracy");
        var again = new FtSamDefense(new FtSamOptions { FineTune = tune }).Run(input);
        Assert.Equal(0, again.UnitsRun);
        Assert.Equal(1, again.UnitsResumed);
    }

    /// <summary>
    /// BackdoorBench's smooth_crossentropy with s = 0.1 over 10 classes (0.9 on the true class, 0.1/9 on each other),
    /// computed here by hand, equals the cross-entropy FT-SAM trains with; PyTorch's own ε = 0.1 would not.
    /// </summary>
    [Fact]
    public void LabelSmoothingIsBackdoorBenchs()
    {
        const int classes = 10;
        var logits = Circumvent.Tests.Support.TestData.Randn(3, 4, classes);
        int[] labels = [2, 7, 0, 9];
        var values = logits.ToArray();
        double expected = 0;
        for (int n = 0; n < labels.Length; n++)
        {
            var row = values.AsSpan(n * classes, classes).ToArray().Select(v => (double)v).ToArray();
            double max = row.Max(), logSum = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
            for (int c = 0; c < classes; c++) expected -= (c == labels[n] ? 0.9 : 0.1 / 9) * (row[c] - logSum);
        }
        expected /= labels.Length;
        double ours = Op.CrossEntropy(logits, labels, (float)new FtSamOptions().TorchLabelSmoothing(classes)).ToArray()[0];
        double torchs = Op.CrossEntropy(logits, labels, 0.1f).ToArray()[0];
        Assert.True(Math.Abs(ours - expected) < 1e-5, $"ours {ours}, BackdoorBench's {expected}");
        Assert.True(Math.Abs(torchs - expected) > 1e-4, "PyTorch's ε = 0.1 gives the same loss here: the test cannot tell them apart");
        Assert.Throws<ArgumentException>(() => new FtSamOptions { LabelSmoothing = 0.9 }.TorchLabelSmoothing(classes));
    }

    /// <summary>
    /// FT-SAM fine-tunes under BackdoorBench's schedule: its CosineAnnealingLR(T_max = 100) stepped every batch, so the
    /// rate at step t is 0.01·(1 + cos(πt/100))/2 past step 100 too; the run's rate per step is read from its progress.
    /// </summary>
    [Fact]
    public void FtSamsRateFollowsBackdoorBenchsCosineSteppedEveryBatch()
    {
        var options = new FtSamOptions();
        var wave = new CosineSchedule(options.FineTune.LearningRate, 100, continuePastEnd: true);
        var config = new Circumvent.Training.TrainingConfig
        {
            Epochs = options.FineTune.Epochs, BatchSize = 256, LearningRate = options.FineTune.LearningRate, Schedule = options.FineTune.Schedule,
            CosineHalfPeriodSteps = options.FineTune.CosineHalfPeriodSteps,
        };
        Assert.False(options.FineTune.SchedulePerEpoch);
        var schedule = Circumvent.Training.Factories.CreateSchedule(config, stepsPerEpoch: 10);
        foreach (int step in new[] { 0, 37, 100, 150, 999 }) Assert.Equal(wave.At(step), schedule.At(step), 12);
        Assert.True(schedule.At(999) > 0.0099, "the last step runs near the peak rate, as BackdoorBench's does");
    }

    private sealed class ProgressLines : Circumvent.Method.Defenses.IDefenseObserver
    {
        public List<string> Lines { get; } = [];
        public void Progress(Circumvent.Method.Defenses.DefenseUnit unit, string detail) => Lines.Add(detail);
    }
}
