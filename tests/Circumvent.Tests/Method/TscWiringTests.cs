using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Method.Curves;
using Circumvent.Method.Defenses;
using Circumvent.Method.Permutations;
using Circumvent.Method.Runs;
using Circumvent.Models;

namespace Circumvent.Tests.Method;

/// <summary>
/// What TSC connects to what (Algorithm 1), read back from the curves a run stores: stage 1 runs from θ to a
/// permutation of θ that is anti-matched (UNALIGN) to it; stage 2 runs from θ permuted to match (ALIGN) the
/// stage-1 point θ1, to θ1. And on a planted backdoor, the whole method removes it.
/// </summary>
public class TscWiringTests
{
    private static readonly TscOptions OneRound = new()
    {
        Rounds = 1,
        T = 0.4,
        Curve = new CurveOptions { Epochs = 3, BatchSize = 32, LearningRate = 0.02 },
        FineTune = new FineTuneOptions { Epochs = 0 },
        Matching = MatchingOptions.Authors with { BatchSize = 32 },
    };

    private sealed record Run(PlantedBackdoorProblem Problem, DefenseInput Input, BezierCurve Stage1, BezierCurve Stage2);

    private static Run RunOneRound(Circumvent.Tests.Data.TempFolder folder)
    {
        var problem = PlantedBackdoorProblem.Create(seed: 0, arch: "mlp", width: 0.25);
        var input = problem.Input() with { RunFolder = Path.Combine(folder.Path, "run") };
        var result = new Tsc(OneRound).Run(input);
        Assert.Equal(["stage 1", "stage 2"], result.Curves.Select(c => c.Stage));
        return new Run(problem, input, CurveFile.Load(result.Curves[0].Path).Curve, CurveFile.Load(result.Curves[1].Path).Curve);
    }

    /// <summary>The batches a round-1 matching of the run ran on (same options, same derived seed).</summary>
    private static List<Tensor> MatchingBatches(DefenseInput input, int purpose) =>
        PurificationSteps.MatchingBatches(input, OneRound.Matching, UnitSeeds.For(input.Seed, 1, purpose));

    /// <summary>Σ corr[i, perm[i]] of <paramref name="other"/>'s units against <paramref name="reference"/>'s: under the identity, and the min and max any permutation reaches.</summary>
    private static (double Identity, double Min, double Max) Totals(IArchitecture arch, ParameterSet reference, ParameterSet other, List<Tensor> batches)
    {
        var spec = PermutationSpecs.For(arch);
        var min = ActivationMatcher.Match(arch, spec, reference, other, batches, MatchMode.Unalign);
        var max = ActivationMatcher.Match(arch, spec, reference, other, batches, MatchMode.Align);
        return (min.TotalCorrelation(Permutation.Identity(spec)), min.TotalCorrelation(min.Permutations), max.TotalCorrelation(max.Permutations));
    }

    private static void AssertSameFunction(IArchitecture arch, ParameterSet expected, ParameterSet actual, string what)
    {
        var x = Tensor.Randn(new Random(5), 16, 1, PlantedBackdoorProblem.Size, PlantedBackdoorProblem.Size);
        PermutationTestNets.AssertSameLogits(PermutationTestNets.Logits(arch, expected, x, false), PermutationTestNets.Logits(arch, actual, x, false), what);
    }

    private static bool SameWeights(ParameterSet a, ParameterSet b) => a.All(e => e.Tensor.ToArray().SequenceEqual(b[e.Name].ToArray()));

    [Fact]
    public void StageOneRunsFromThetaToAnUnalignedPermutationOfTheta()
    {
        using var folder = new Circumvent.Tests.Data.TempFolder();
        var run = RunOneRound(folder);
        var arch = run.Problem.Architecture;
        var theta = run.Problem.Parameters;

        Assert.True(SameWeights(theta, run.Stage1.Start), "stage 1 must start at θ");
        // The permuted endpoint is θ's function with other weights ...
        AssertSameFunction(arch, theta, run.Stage1.End, "stage 1's permuted endpoint against θ");
        Assert.False(SameWeights(theta, run.Stage1.End), "stage 1's endpoint must be a permutation of θ, not θ");
        // ... and anti-matched to θ: no permutation lowers its units' total correlation with θ's.
        var (identity, min, max) = Totals(arch, theta, run.Stage1.End, MatchingBatches(run.Input, UnitSeeds.FirstMatching));
        Assert.True(identity <= min + 1e-6 * Math.Abs(min), $"stage 1's endpoint is not UNALIGNed to θ: Σ corr {identity:F4}, the minimum is {min:F4}.");
        Assert.True(max - min > 1, $"matching must have a choice to make here (Σ corr spans {min:F4} … {max:F4}).");
    }

    [Fact]
    public void StageTwoRunsFromThetaAlignedToTheStageOnePointToThatPoint()
    {
        using var folder = new Circumvent.Tests.Data.TempFolder();
        var run = RunOneRound(folder);
        var arch = run.Problem.Architecture;
        var theta = run.Problem.Parameters;
        var theta1 = new PurificationSteps(run.Input).PointAt(run.Stage1, OneRound.T, OneRound.Curve, UnitSeeds.For(run.Input.Seed, 1, UnitSeeds.FirstPoint));

        Assert.True(SameWeights(theta1, run.Stage2.End), "stage 2 must end at the stage-1 point θ1");
        // The start is the current model θ (its function), permuted: matched to θ1, so no permutation raises its total correlation.
        AssertSameFunction(arch, theta, run.Stage2.Start, "stage 2's start against θ");
        Assert.False(SameWeights(theta, run.Stage2.Start), "stage 2 must start at θ permuted to θ1's basin, not at θ itself");
        var (identity, min, max) = Totals(arch, theta1, run.Stage2.Start, MatchingBatches(run.Input, UnitSeeds.SecondMatching));
        Assert.True(identity >= max - 1e-6 * Math.Abs(max), $"stage 2's start is not ALIGNed to θ1: Σ corr {identity:F4}, the maximum is {max:F4}.");
        Assert.True(max - min > 1, $"matching must have a choice to make here (Σ corr spans {min:F4} … {max:F4}).");
    }

    /// <summary>
    /// A 2×2 patch backdoor (ASR ~100%) in a small network: TSC, two rounds with short curves, must bring ASR far
    /// below where no defence leaves it, at no real cost in clean accuracy.
    /// </summary>
    [Fact]
    public void TscRemovesAPlantedBackdoor()
    {
        foreach (int seed in new[] { 0, 1 })
        {
            var problem = PlantedBackdoorProblem.Create(seed, arch: "mlp", width: 0.25);
            var before = problem.Evaluate(problem.Parameters);
            Assert.True(before.Asr >= 95, $"seed {seed}: the planted backdoor did not take (ASR {before.Asr:F1}%).");
            var options = OneRound with
            {
                Rounds = 2,
                Curve = OneRound.Curve with { Epochs = 40 },
                FineTune = new FineTuneOptions { Epochs = 5, BatchSize = 32, LearningRate = 1e-3 },
            };
            var after = new Tsc(options).Run(problem.Input(seed + 11)).After!;
            Assert.True(after.Asr <= 15, $"seed {seed}: TSC left ASR at {after.Asr:F1}% (no defence: {before.Asr:F1}%).");
            Assert.True(after.Acc >= before.Acc - 5, $"seed {seed}: TSC cost {before.Acc - after.Acc:F1} points of accuracy.");
        }
    }
}
