using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Method.Curves;
using Circumvent.Method.Defenses;
using Circumvent.Models;

namespace Circumvent.Tests.Method;

/// <summary>
/// FP against computations of its own: the last conv layer's activations rebuilt from the raw conv output (BN, ReLU and
/// max-pool by hand), the pruning count found by scoring every candidate with the full network, and a small end-to-end run.
/// </summary>
public class FinePruningTests
{
    // cnn-small on 8×8 images: conv5 (8 channels at width 0.25) at 2×2, max-pooled to 1×1, so the head reads one feature per channel.
    private static readonly Lazy<PlantedBackdoorProblem> Problem = new(() => PlantedBackdoorProblem.Create(seed: 0));

    [Fact]
    public void PrunesTheLeastActiveChannelsOfTheLastConvLayer()
    {
        var problem = Problem.Value;
        var arch = (IFeatureExtractor)problem.Architecture;
        var (units, perUnit) = FinePruning.UnitsOf(arch);
        Assert.Equal(problem.Parameters["conv5.weight"].Shape[0], units);
        Assert.Equal(1, perUnit);

        // Independently: conv5's raw output → BN (running statistics) → ReLU → 2×2 max → mean over D, per channel.
        var mean = LastConvMeans(problem);
        int[] ascending = [.. Enumerable.Range(0, units).OrderBy(c => mean[c])];

        var options = new FinePruningOptions { PruneStep = 1.0 / units, AccRatio = 0.1 };
        var selection = FinePruning.Choose(arch, problem.Parameters, problem.Clean, problem.Normalization, options);
        Assert.True(selection.Pruned.Length > 0, "nothing was pruned: the test would not check the ranking");
        Assert.Equal(ascending[..selection.Pruned.Length], selection.Pruned);

        // Independently: the largest count whose full-network ACC on D is within 10% of the unpruned one, stopping at the first beyond.
        double acc0 = CleanAcc(problem, problem.Parameters);
        int expected = 0;
        for (int count = 1; count < units; count++)
        {
            var pruned = FinePruning.Prune(problem.Parameters, arch.HeadName, ascending[..count]);
            if (acc0 - CleanAcc(problem, pruned) >= 0.1 * acc0) break;
            expected = count;
        }
        Assert.Equal(expected, selection.Pruned.Length);
        Assert.Equal(acc0, selection.CleanAcc, 6);
    }

    [Fact]
    public void PrunedColumnsStayZeroThroughFineTuningAndTheRestOfTheHeadIsUntouched()
    {
        var problem = Problem.Value;
        var fp = (FinePruning)DefenseRegistry.Create("fp", new DefenseSettings { ["finetune_epochs"] = 3, ["batch_size"] = 32, ["prune_step"] = 0.125, ["acc_ratio"] = 0.5 });
        var result = fp.Run(problem.Input());
        var selection = FinePruning.Choose((IFeatureExtractor)problem.Architecture, problem.Parameters, problem.Clean, problem.Normalization, fp.Options);
        Assert.NotEmpty(selection.Columns);
        var head = result.Purified["fc.weight"];
        int width = head.Shape[1];
        for (int row = 0; row < head.Shape[0]; row++)
        for (int j = 0; j < width; j++)
        {
            float w = head.Span[row * width + j];
            if (selection.Columns.Contains(j)) Assert.Equal(0f, w);
            else Assert.NotEqual(0f, w);
        }
        // Scored before, after pruning and after fine-tuning; the input is untouched.
        Assert.Equal(["pruned " + selection.Pruned.Length + " of " + selection.Units, "fine-tune"], result.Stages.Select(s => s.Stage));
        Assert.NotEqual(0f, problem.Parameters["fc.weight"].Span[selection.Columns[0]]);
        Assert.True(result.After!.Acc >= 80, $"FP left ACC at {result.After.Acc:F1}%");
    }

    [Fact]
    public void OnAirnetTheUnitsAreTheLastGroupsChannelsOneColumnEach()
    {
        // airnet's head reads the global max of group 4's conv2 channels: one head column per channel.
        var arch = FinePruning.FeatureHead(Architectures.Create(new ArchitectureConfig("airnet", 3, 16, 16, 10, 0.125)));
        Assert.Equal((32, 1), FinePruning.UnitsOf(arch));
        Assert.Equal(arch.Tensors.Single(t => t.Name == "4.conv2.weight").Shape[0], arch.FeatureSize);
    }

    [Fact]
    public void AnArchitectureWithoutAFeatureHeadIsRefusedByName()
    {
        var arch = Architectures.Create(new ArchitectureConfig("mlp", 3, 8, 8, 10));
        var e = Assert.Throws<ArgumentException>(() => FinePruning.FeatureHead(arch));
        Assert.Contains("mlp", e.Message);
    }

    private static double[] LastConvMeans(PlantedBackdoorProblem problem)
    {
        var p = problem.Parameters;
        var recorder = new Conv5Recorder();
        var loader = new BatchLoader(problem.Clean, problem.Normalization, BatchLoaderOptions.Evaluation(64));
        foreach (var batch in loader.Epoch(0))
            using (batch)
                problem.Architecture.Forward(p, batch.Images, new ForwardContext { ActivationObserver = recorder });
        int channels = p["conv5.weight"].Shape[0];
        float[] gamma = p["bn5.weight"].ToArray(), beta = p["bn5.bias"].ToArray(), mu = p["bn5.running_mean"].ToArray(), var = p["bn5.running_var"].ToArray();
        var sum = new double[channels];
        int images = 0;
        foreach (var (data, shape) in recorder.Outputs)
        {
            int n = shape[0], plane = shape[2] * shape[3];
            for (int i = 0; i < n; i++)
            for (int c = 0; c < channels; c++)
            {
                double max = double.NegativeInfinity;
                for (int s = 0; s < plane; s++)
                {
                    double x = data[(i * channels + c) * plane + s];
                    double y = Math.Max(0, (x - mu[c]) / Math.Sqrt(var[c] + 1e-5) * gamma[c] + beta[c]);
                    max = Math.Max(max, y);
                }
                sum[c] += max;
            }
            images += n;
        }
        return [.. sum.Select(s => s / images)];
    }

    private static double CleanAcc(PlantedBackdoorProblem problem, ParameterSet parameters) =>
        Circumvent.Method.Evaluation.BackdoorMetrics.Evaluate(problem.Architecture, parameters, problem.Clean, problem.Normalization, attack: null).Acc;

    private sealed class Conv5Recorder : IActivationObserver
    {
        public List<(float[] Data, int[] Shape)> Outputs { get; } = [];

        public void Observe(string prefix, Tensor output)
        {
            if (prefix == "conv5") Outputs.Add((output.ToArray(), output.Shape.ToArray()));
        }
    }
}
