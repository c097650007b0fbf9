using System.Text.Json.Nodes;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Memory;
using Circumvent.Method.Defenses.Anp;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Tests.Method.Defenses;

/// <summary>
/// ANP's parts against hand computations (the perturbed BN, pruning, the threshold choice), its noise and mask bounds
/// on a real network, and the whole defence against the planted backdoor.
/// </summary>
public class AnpTests
{
    /// <summary>A "network" of one BN layer (2 channels) and one linear layer, as a parameter set.</summary>
    private static ParameterSet OneBatchNorm()
    {
        var p = new ParameterSet();
        p.Add("fc.weight", Tensor.FromArray([1f, 2f, 3f, 4f], 2, 2), TensorRole.Parameter);
        p.Add("bn.weight", Tensor.FromArray([2f, 3f], 2), TensorRole.Parameter);
        p.Add("bn.bias", Tensor.FromArray([1f, -1f], 2), TensorRole.Parameter);
        p.Add("bn.running_mean", Tensor.FromArray([0.5f, 0.5f], 2), TensorRole.Buffer);
        p.Add("bn.running_var", Tensor.FromArray([1f, 1f], 2), TensorRole.Buffer);
        return p;
    }

    private static ParameterSet Named(params (string Name, float[] Values)[] entries)
    {
        var set = new ParameterSet();
        foreach (var (name, values) in entries) set.Add(name, Tensor.FromArray(values, values.Length), TensorRole.Parameter);
        return set;
    }

    [Fact]
    public void MasksAndNoiseScaleTheBatchNormAffineAsAnpDoes()
    {
        var model = OneBatchNorm();
        Assert.Equal(["bn"], NeuronMasks.BatchNormPrefixes(model));
        var masks = Named(("bn.neuron_mask", [0.5f, 1f]));
        var noise = Named(("bn.neuron_noise", [0.1f, -0.2f]), ("bn.neuron_noise_bias", [0.3f, 0f]));

        var noisy = NeuronMasks.Apply(model, masks, noise);
        // γ·(m + δ) = [2·0.6, 3·0.8]; β·(1 + ξ) = [1·1.3, −1·1].
        Assert.Equal([1.2f, 2.4f], noisy["bn.weight"].ToArray(), (a, b) => Math.Abs(a - b) < 1e-6);
        Assert.Equal([1.3f, -1f], noisy["bn.bias"].ToArray(), (a, b) => Math.Abs(a - b) < 1e-6);
        Assert.Same(model["fc.weight"], noisy["fc.weight"]);
        Assert.Same(model["bn.running_mean"], noisy["bn.running_mean"]);

        var masked = NeuronMasks.Apply(model, masks, null);
        Assert.Equal([1f, 3f], masked["bn.weight"].ToArray());
        Assert.Same(model["bn.bias"], masked["bn.bias"]);
    }

    [Fact]
    public void PruningZeroesGammaOfEveryNeuronAtOrBelowTheThreshold()
    {
        var model = new ParameterSet();
        model.Add("bn.weight", Tensor.FromArray([1f, 2f, 3f, 4f], 4), TensorRole.Parameter);
        model.Add("bn.bias", Tensor.FromArray([5f, 6f, 7f, 8f], 4), TensorRole.Parameter);
        model.Add("bn.running_mean", Tensor.FromArray(new float[4], 4), TensorRole.Buffer);
        model.Add("bn.running_var", Tensor.FromArray([1f, 1f, 1f, 1f], 4), TensorRole.Buffer);
        var masks = Named(("bn.neuron_mask", [0.1f, 0.2f, 0.25f, 0.9f]));

        var (pruned, count) = NeuronMasks.Prune(model, masks, 0.2);

        Assert.Equal(2, count);
        Assert.Equal([0f, 0f, 3f, 4f], pruned["bn.weight"].ToArray());
        Assert.Equal([5f, 6f, 7f, 8f], pruned["bn.bias"].ToArray()); // β stays, as ANP's pruning
        Assert.Equal([1f, 2f, 3f, 4f], model["bn.weight"].ToArray()); // the input is not modified
    }

    [Fact]
    public void ThresholdChoiceKeepsTheLargestWithinTheAccuracyBudgetOnD()
    {
        // Unpruned 95% on D, budget 10% relative: a threshold must keep accuracy above 85.5%.
        ThresholdTrial[] trials =
        [
            new(0.00, 0, 95), new(0.05, 1, 94), new(0.10, 3, 90), new(0.15, 6, 85),
            new(0.20, 10, 70), new(0.25, 12, 88), new(0.30, 15, 60),
        ];
        Assert.Equal(0.25, PruningThreshold.Choose(trials, 95, 0.1)!.Threshold);
        Assert.Equal(0.10, PruningThreshold.Choose(trials[..5], 95, 0.1)!.Threshold);
        Assert.Null(PruningThreshold.Choose([new(0.3, 15, 60)], 95, 0.1));
        var grid = new AnpOptions().Thresholds();
        Assert.Equal(19, grid.Count);
        Assert.Equal(0, grid[0]);
        Assert.Equal(0.9, grid[^1], 12);
    }

    /// <summary>
    /// On a real network: after the ascent every noise value lies in [−ε, ε] (and the step reaches the bound for some),
    /// and masks trained with a large rate stay in [0, 1] with some pushed to its ends.
    /// </summary>
    [Fact]
    public void NoiseStaysWithinEpsilonAndMasksWithinTheUnitInterval()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 0);
        foreach (int steps in new[] { 1, 3 })
        {
            var options = new AnpOptions { Epsilon = 0.4, NoiseSteps = steps };
            var model = problem.Parameters.Clone();
            var masks = NeuronMasks.Ones(model, NeuronMasks.BatchNormPrefixes(model));
            var objective = new AnpObjective(model, masks, options, seed: 3);
            var loader = new BatchLoader(problem.Clean, problem.Normalization, BatchLoaderOptions.Training(32, 1));
            using (var batch = loader.Epoch(0).First())
            using (TensorScope.Open())
                objective.Loss(problem.Architecture, masks, batch, ForwardContext.Train(null, new Random(0)));
            var noise = objective.LastNoise!.SelectMany(n => n.Tensor.ToArray()).ToArray();
            Assert.All(noise, v => Assert.InRange(v, -0.4f, 0.4f));
            Assert.Contains(noise, v => Math.Abs(v) == 0.4f);
            Assert.Equal(2 * masks.Sum(m => m.Tensor.Length), noise.Length);
        }

        var trained = MaskOptimisation.Run(problem.Architecture, problem.Parameters, problem.Clean, problem.Normalization, null,
            new AnpOptions { Iterations = 30, BatchSize = 32, MaskLearningRate = 5 }, seed: 2);
        var values = trained.SelectMany(m => m.Tensor.ToArray()).ToArray();
        Assert.All(values, v => Assert.InRange(v, 0f, 1f));
        Assert.Contains(values, v => v == 0f);
        Assert.Contains(values, v => v < 1f);
    }

    /// <summary>
    /// On the planted backdoor, ANP with its threshold chosen on D brings ASR down at little cost in accuracy. On a network
    /// this small the outcome varies with the seed and with the CPU's arithmetic (measured: single runs from 0% to 100% ASR;
    /// seeds 11/12/13 gave a mean under 30% on an AVX-512 machine and 91.0/48.3/31.7% on an AVX2 one), so three seeds are
    /// run and the test asks for most of them (two of three) to at least halve ASR, and for every one to keep accuracy.
    /// </summary>
    [Fact]
    public void AnpLowersAsrOnAPlantedBackdoor()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 1);
        var options = new AnpOptions { Iterations = 600, BatchSize = 32, MaskLearningRate = 0.2 };
        var asr = new List<double>();
        foreach (int seed in new[] { 11, 12, 13 })
        {
            var observer = new RecordingObserver();
            var result = new AnpDefense(options).Run(problem.Input(seed), observer);
            string choice = observer.ProgressLines.Last(p => p.Id == "round1.prune").Detail;
            Assert.True(result.Before!.Asr >= 95, $"the planted backdoor did not take (ASR {result.Before.Asr:F1}%)");
            // The threshold rule allows a 10% relative drop on D (BackdoorBench's acc_ratio; D's accuracy is ~100% here), so
            // that is the bound: a tighter one failed on one thread, where reductions in another order pick the next grid point.
            Assert.True(result.After!.Acc >= result.Before.Acc - 100 * options.AccuracyDrop,
                $"seed {seed}: ANP cost {result.Before.Acc - result.After.Acc:F1} points of accuracy; {choice}");
            asr.Add(result.After.Asr!.Value);
        }
        Assert.True(asr.Count(a => a <= 50) >= 2, $"ANP halved ASR on fewer than two of three seeds ({string.Join(", ", asr.Select(a => a.ToString("F1")))})");
    }

    /// <summary>Stopped in the middle of the mask optimisation, a rerun continues it and ends where an uninterrupted run ends.</summary>
    [Fact]
    public void AStoppedMaskOptimisationResumesToTheUninterruptedResult()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 1, epochs: 2);
        var options = new AnpOptions { Iterations = 30, BatchSize = 32, MaskLearningRate = 0.2 };
        using var folder = new Circumvent.Tests.Data.TempFolder();
        var straight = new AnpDefense(options).Run(problem.Input() with { RunFolder = Path.Combine(folder.Path, "straight") });

        var input = problem.Input() with { RunFolder = Path.Combine(folder.Path, "stopped") };
        var stopper = new RecordingObserver { StopDuring = (unit, detail) => unit.Id == "round1.neuron-masks" && detail.Contains("epoch 3/6 batch 5/5") };
        Assert.Throws<InterruptedForTest>(() => new AnpDefense(options).Run(input, stopper));
        Assert.True(File.Exists(Path.Combine(input.RunFolder!, "round1.neuron-masks.state")), "the stopped optimisation kept no progress");
        var observer = new RecordingObserver();
        var resumed = new AnpDefense(options).Run(input, observer);

        Assert.DoesNotContain(observer.ProgressLines, p => p.Id == "round1.neuron-masks" && p.Detail.Contains("epoch 1/6"));
        var a = Circumvent.Models.Checkpoints.CheckpointFiles.Read(Path.Combine(folder.Path, "straight", "round1.neuron-masks.safetensors"));
        var b = Circumvent.Models.Checkpoints.CheckpointFiles.Read(Path.Combine(input.RunFolder!, "round1.neuron-masks.safetensors"));
        Assert.Equal(a.Tensors.Select(t => t.Floats), b.Tensors.Select(t => t.Floats));
        foreach (var name in straight.Purified.Names)
            Assert.Equal(straight.Purified[name].ToArray(), resumed.Purified[name].ToArray());

        // The threshold chosen on D is the "anp" finding: what was pruned, and every threshold tried with D's accuracy.
        var anp = straight.Findings!["anp"]!;
        Assert.True(anp["chosen_on_clean_data"]!.GetValue<bool>());
        var trials = anp["trials"]!.AsArray();
        Assert.Equal(options.Thresholds().Count(), trials.Count);
        Assert.Equal(anp["pruned"]!.GetValue<int>(), trials.Where(t => t!["threshold"]!.GetValue<double>() == anp["threshold"]?.GetValue<double>())
            .Select(t => t!["pruned"]!.GetValue<int>()).DefaultIfEmpty(0).Single());
        // A rerun that restores the pruned model instead of choosing again still reports the choice.
        var restored = new AnpDefense(options).Run(input);
        Assert.Equal(0, restored.UnitsRun);
        Assert.True(JsonNode.DeepEquals(resumed.Findings!["anp"], restored.Findings!["anp"]));
        Assert.True(JsonNode.DeepEquals(anp, resumed.Findings!["anp"]));
    }

    [Fact]
    public void ANetworkWithoutBatchNormIsRefused()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 0, arch: "mlp", width: 0.25, epochs: 1);
        var e = Assert.Throws<ArgumentException>(() => new AnpDefense(new AnpOptions()).Run(problem.Input()));
        Assert.Contains("batch-norm", e.Message);
    }
}
