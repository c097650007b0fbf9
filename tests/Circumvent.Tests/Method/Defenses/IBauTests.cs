using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Method.Defenses;
using Circumvent.Method.Defenses.IBau;
using Circumvent.Models;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Method.Defenses;

/// <summary>I-BAU's hypergradient against PyTorch's (double backward), its perturbation step by hand, and the defence end to end.</summary>
public class IBauTests(ITestOutputHelper output)
{
    /// <summary>As SecondOrderProductsTests' (the same products, here K − 1 = 4 Hessian-vector products and one mixed one).</summary>
    private const double Tolerance = 2e-2;

    private static Hypergradient Hypergradient(SecondOrderFixture f, ParameterSet model) => ImplicitHypergradient.Compute(f.Architecture, model,
        f.Data.F32("delta"), (f.Data.F32("x"), f.Data.Labels("y")), (f.Data.F32("ibau.x_outer"), f.Data.Labels("ibau.y_outer")),
        [.. f.Data.I64("ibau.patched").Select(i => (int)i)], new IBauOptions { InnerL2 = FixtureInnerL2 });

    /// <summary>The inner loss's ‖δ‖² weight the fixture was made with (tools/fixtures/make_second_order_fixture.py).</summary>
    private const double FixtureInnerL2 = 1e-4;

    /// <summary>
    /// The whole hypergradient, and its implicit part alone (about 1e-5 of the whole on this fixture, so the whole would
    /// match even without it): each against PyTorch's fixed_point through double backward; v_K too.
    /// </summary>
    [Fact]
    public void HypergradientMatchesPyTorchsFixedPointThroughDoubleBackward()
    {
        var f = new SecondOrderFixture();
        var model = f.Model();
        Assert.Equal(f.ParameterNames, model.Parameters.Select(e => e.Name));
        var ours = Hypergradient(f, model);
        double total = SecondOrderFixture.RelativeError(ours.Total(), f.PerParameter("ibau.grad"));
        double implicitPart = SecondOrderFixture.RelativeError(ours.Implicit, f.PerParameter("ibau.implicit"));
        double v = SecondOrderFixture.RelativeError([ours.V], [f.Data.F32("ibau.v").ToArray()]);
        output.WriteLine($"max |ours − torch| / max |torch|: hypergradient {total:E2}, its implicit part {implicitPart:E2}, v_K {v:E2}");
        Assert.True(total <= Tolerance, $"hypergradient relative error {total:E2}");
        Assert.True(implicitPart <= Tolerance, $"implicit part relative error {implicitPart:E2}");
        Assert.True(v <= Tolerance, $"v_K relative error {v:E2}");
        // The implicit part is not zero (it would match a zero reference only if that were zero too).
        Assert.Contains(ours.Implicit, p => p.Any(x => x != 0));
    }

    // δ on the fixture's patched images, zeros elsewhere (N, C, H, W).
    private static Tensor PatchedDelta(SecondOrderFixture f)
    {
        var x = f.Data.F32("ibau.x_outer");
        var d = f.Data.F32("delta").ToArray();
        var m = new float[x.Length];
        foreach (long i in f.Data.I64("ibau.patched")) d.CopyTo(m, (int)i * d.Length);
        return Tensor.FromArray(m, x.Shape.ToArray());
    }

    /// <summary>From δ = 0 one SGD step is lr · Σ over the batch of ∇x CE(f(x), argmax f(x)) (the ‖δ‖² term has no slope at 0), computed here per image.</summary>
    [Fact]
    public void PerturbationStepAscendsTheCrossEntropyOfTheModelsOwnPrediction()
    {
        var f = new SecondOrderFixture();
        var model = f.Model();
        var x = f.Data.F32("x");
        var delta = UniversalPerturbation.Fit(f.Architecture, model, [(x, f.Data.Labels("y"))], learningRate: 10, l2: 1e-3);

        var images = x.Clone(requiresGrad: true);
        var predicted = Op.ArgMax(f.Architecture.Forward(model, x, ForwardContext.Eval()));
        var g = Gradients.Of(() => Op.CrossEntropy(f.Architecture.Forward(model, images, ForwardContext.Eval()), predicted), [images])[0];
        int per = delta.Length;
        var expected = new float[per];
        for (int n = 0; n < x.Shape[0]; n++)
            for (int i = 0; i < per; i++) expected[i] += 10 * g[n * per + i];
        Assert.Equal(expected, delta.ToArray(), (a, b) => Math.Abs(a - b) <= 1e-5 + 1e-4 * Math.Abs(b));
        Assert.Contains(expected, v => Math.Abs(v) > 1e-3);
    }

    /// <summary>
    /// On the planted backdoor I-BAU lowers ASR where the same Adam steps without the perturbation (portion 0: plain
    /// fine-tuning, and no implicit term) do not. Scaled for a unit test: 160 clean images in batches of 32, 8 rounds, the
    /// paper's Adam rate 1e-3, a fifth of each batch carrying δ (BackdoorBench's 0.01 patches no image of 32), and the
    /// perturbation's rate 100 instead of 10 (this tiny model is so confident that CE barely moves δ at 10).
    /// </summary>
    [Fact]
    public void IBauLowersAsrOnAPlantedBackdoorWhereTheSameStepsWithoutThePerturbationDoNot()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 0);
        var options = new IBauOptions { BatchSize = 32, LearningRate = 1e-3, Portion = 0.2, Augment = false, Rounds = 8, PerturbationLearningRate = 100 };
        using var folder = new Circumvent.Tests.Data.TempFolder();
        var input = problem.Input() with { RunFolder = Path.Combine(folder.Path, "run") };
        var result = new IBauDefense(options).Run(input, new Log(output));
        var control = new IBauDefense(options with { Portion = 0 }).Run(problem.Input());
        output.WriteLine($"before: ACC {result.Before!.Acc:F1} ASR {result.Before.Asr:F1}; I-BAU: ACC {result.After!.Acc:F1} ASR {result.After.Asr:F1}; " +
                         $"without δ: ACC {control.After!.Acc:F1} ASR {control.After.Asr:F1}");
        Assert.True(result.Before.Asr >= 95, $"the planted backdoor did not take (ASR {result.Before.Asr:F1}%)");
        Assert.True(control.After.Asr >= 80, $"the steps alone remove this backdoor (ASR {control.After.Asr:F1}%): the test shows nothing about I-BAU");
        Assert.True(result.After.Asr <= 40, $"I-BAU left ASR at {result.After.Asr:F1}% (before {result.Before.Asr:F1}%)");
        Assert.True(result.After.Acc >= result.Before.Acc - 5, $"I-BAU cost {result.Before.Acc - result.After.Acc:F1} points of accuracy");
        var again = new IBauDefense(options).Run(input);
        Assert.Equal(0, again.UnitsRun);
    }

    /// <summary>
    /// Round r's perturbation is fitted on a fresh pass of D (the loader's epoch r: BackdoorBench iterates its loader again),
    /// not on the outer batches kept from epoch 0: round 1's recorded ‖δ‖ is that of δ fitted from the starting weights on
    /// epoch 1, and not that of δ fitted on epoch 0 (5 batches of 32, so the order of the steps matters).
    /// </summary>
    [Fact]
    public void EachRoundsPerturbationIsFittedOnAFreshPassOfTheCleanSet()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 0);
        var options = new IBauOptions { BatchSize = 32, Rounds = 1, PerturbationLearningRate = 100 };
        var defense = new IBauDefense(options);
        var input = problem.Input();
        var result = defense.Run(input);
        double recorded = result.Findings!["i-bau"]!["perturbation_l2_per_round"]![0]!.GetValue<double>();
        double NormFittedOn(int epoch)
        {
            var delta = UniversalPerturbation.Fit(input.Architecture, input.Parameters, IBauDefense.Pass(defense.Loader(input), epoch),
                options.PerturbationLearningRate, options.PerturbationL2);
            return Math.Round(Math.Sqrt(delta.ToArray().Sum(v => (double)v * v)), 4);
        }
        output.WriteLine($"round 1's ‖δ‖ {recorded}; fitted on epoch 1: {NormFittedOn(1)}, on epoch 0: {NormFittedOn(0)}");
        Assert.Equal(NormFittedOn(1), recorded);
        Assert.NotEqual(NormFittedOn(0), recorded);
    }

    [Fact]
    public void DefaultsAreBackdoorBenchs()
    {
        var d = new IBauOptions();
        Assert.Equal((5, 5, 0.1, 1e-3, 1e-4, "amsgrad", 10.0, 1e-3, 0.01, 256),
            (d.Rounds, d.FixedPointSteps, d.InnerStep, d.InnerL2, d.LearningRate, d.Optimizer, d.PerturbationLearningRate, d.PerturbationL2, d.Portion, d.BatchSize));
    }

    [Fact]
    public void RegisteredWithItsKnobs()
    {
        var defense = (IBauDefense)DefenseRegistry.Create("i-bau", new DefenseSettings { ["ibau_k"] = 3, ["ibau_lr"] = 1e-3 });
        Assert.Equal(3, defense.Options.FixedPointSteps);
        Assert.Equal(1e-3, defense.Options.LearningRate);
        Assert.Equal(5, defense.Options.Rounds);
        var bad = Assert.Throws<ArgumentException>(() => DefenseRegistry.Create("i-bau", new DefenseSettings { ["ibau_portion"] = 1.5 }));
        Assert.Contains("--ibau-portion", bad.Message);
        Assert.Throws<ArgumentException>(() => DefenseRegistry.Create("i-bau", new DefenseSettings { ["sam_rho"] = 1.0 }));
    }

    private sealed class Log(ITestOutputHelper output) : IDefenseObserver
    {
        public void Progress(DefenseUnit unit, string detail) => output.WriteLine($"{unit.Id}: {detail}");
    }
}
