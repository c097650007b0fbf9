using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Models;
using Circumvent.Tests.Data;
using Circumvent.Training;

namespace Circumvent.Tests.Training;

/// <summary>
/// airbench's recipe as options of the one training loop, each against a hand computation or an invariant:
/// the triangle, SGD parameter groups, frozen tensors, lookahead, BN momentum, fractional epochs, the preset, and a
/// stopped-and-resumed recipe run that ends bit for bit where the uninterrupted one does.
/// </summary>
public sealed class AirbenchRecipeTests
{
    // airnet at width 1/16 (widths 4/16/16) on 16×16 images: 16 → 15 → 7 → 3 → 1.
    private static readonly IArchitecture Net = Architectures.Create(new ArchitectureConfig("airnet", 3, 16, 16, 3, 0.0625));

    private static TensorBatchSource Data(int count = 40, int batch = 8)
    {
        var x = Tensor.Randn(new Random(3), count, 3, 16, 16).ToArray();
        return new TensorBatchSource(x, Enumerable.Range(0, count).Select(i => i % 3).ToArray(), [3, 16, 16], batch, shuffleSeed: 9);
    }

    // The preset at this size, with a weight decay large enough that a frozen tensor SGD still touched would move.
    private static TrainingConfig Recipe() => TrainingRecipes.Apply(TrainingRecipes.Airbench, new TrainingConfig { Architecture = "airnet", WidthMultiplier = 0.0625, Seed = 4 },
        batchSize: 8) with { Epochs = 2.6, WeightDecay = 0.01 };

    [Fact]
    public void TriangleRisesToItsPeakThenFallsToItsEnd()
    {
        var s = new TriangleSchedule(2.0, 100, start: 0.2, peakAt: 0.23, end: 0.07);
        Assert.Equal(23, s.PeakStep);
        Assert.Equal(0.4, s.At(0), 12);
        Assert.Equal(2 * (0.2 * 12 / 23 + 11.0 / 23), s.At(11), 12);
        Assert.Equal(2.0, s.At(23), 12);
        Assert.Equal(2 * (1 - 38.0 / 77 + 0.07 * 38 / 77), s.At(61), 12);
        Assert.Equal(0.14, s.At(100), 12);
        // Factories: the config's triangle over ⌈epochs × batches⌉ steps.
        var fromConfig = Factories.CreateSchedule(new TrainingConfig { Schedule = "triangle", Epochs = 9.9, LearningRate = 2, Triangle = [0.2, 0.23, 0.07] }, 48);
        Assert.Equal(new TriangleSchedule(2, 476, 0.2, 0.23, 0.07), fromConfig);
    }

    [Fact]
    public void ParameterGroupRunsAtScaledRateWithTheSameDecayPerStep()
    {
        var a = Tensor.FromArray([1f, -2f], [2]);
        var b = Tensor.FromArray([3f, 0.5f], [2]);
        a.RequiresGrad = b.RequiresGrad = true;
        var sgd = new Sgd([a, b], 0.1, weightDecay: 0.01, learningRateScales: [1, 64]);
        a.GradSpan()[0] = 0.5f; a.GradSpan()[1] = 1f;
        b.GradSpan()[0] = -1f; b.GradSpan()[1] = 2f;
        sgd.Step();
        // a: p − 0.1·(g + 0.01·p); b: p − 6.4·(g + 0.01/64·p), i.e. the same 0.001·p of decay.
        Assert.Equal(new[] { 1f - 0.1f * (0.5f + 0.01f * 1f), -2f - 0.1f * (1f + 0.01f * -2f) }, a.ToArray());
        Assert.Equal(3f - 6.4f * -1f - 0.001f * 3f, b.ToArray()[0], 5);
        Assert.Equal(0.5f - 6.4f * 2f - 0.001f * 0.5f, b.ToArray()[1], 5);
        // The config's groups: airnet's BN biases only.
        var parameters = Net.Initialize(new Random(0));
        var scales = LearningRateScale.For(parameters.Parameters.Select(p => p.Name), ["*.norm*.bias=64"]);
        var names = parameters.Parameters.Select(p => p.Name).ToArray();
        for (int i = 0; i < names.Length; i++) Assert.Equal(names[i].Contains(".norm") && names[i].EndsWith(".bias") ? 64 : 1, scales[i]);
        Assert.Equal(6, scales.Count(s => s == 64));
    }

    [Fact]
    public void FrozenTensorsStayBitIdenticalWhileTheOthersMove()
    {
        var config = Recipe() with { LookaheadEvery = null, LookaheadDecay = null };
        var parameters = Net.Initialize(new Random(1));
        var initial = parameters.Clone();
        // airbench's "0.bias@3" would not freeze within 2.6 epochs; "@1" trains the bias in the first epoch only.
        config = config with { Freeze = ["0.weight", "0.bias@1", "*.norm*.weight"] };
        var trainer = new Trainer(Net, parameters, config, Factories.CreateRunningStats(config, parameters));
        float[]? biasAfterEpoch1 = null;
        trainer.Progress += p => { if (p.IsEpochEnd && p.Epoch == 1) biasAfterEpoch1 = parameters["0.bias"].ToArray(); };
        trainer.Train(Data());
        Assert.Equal(initial["0.weight"].ToArray(), parameters["0.weight"].ToArray());
        foreach (var name in parameters.Names.Where(n => n.Contains(".norm") && n.EndsWith(".weight")))
            Assert.Equal(initial[name].ToArray(), parameters[name].ToArray());
        Assert.NotEqual(initial["0.bias"].ToArray(), biasAfterEpoch1);         // trained in epoch 1
        Assert.Equal(biasAfterEpoch1, parameters["0.bias"].ToArray());        // frozen from epoch 2 on
        foreach (var name in new[] { "2.conv1.weight", "2.norm1.bias", "7.weight" })
            Assert.NotEqual(initial[name].ToArray(), parameters[name].ToArray());
    }

    [Fact]
    public void LookaheadMatchesAHandComputationOverParametersAndBuffers()
    {
        var weights = new ParameterSet();
        weights.Add("w", Tensor.FromArray([1f, 2f], [2]), TensorRole.Parameter);
        weights.Add("bn.running_mean", Tensor.FromArray([4f], [1]), TensorRole.Buffer);
        var hook = new Lookahead(weights, every: 2, decay: 0.9);
        void Set(float w0, float w1, float m) { weights["w"].Span[0] = w0; weights["w"].Span[1] = w1; weights["bn.running_mean"].Span[0] = m; }

        Set(3, 6, 8);
        hook.AfterStep(1, 10); // not a multiple of 2: nothing happens
        Assert.Equal(new[] { 3f, 6f }, weights["w"].ToArray());
        hook.AfterStep(2, 10);
        double rho = 0.81 * Math.Pow(0.2, 3);
        float t = (float)(1 - rho);
        float[] average = [1 + t * (3 - 1), 2 + t * (6 - 2)];
        float runningAverage = 4 + t * (8 - 4);
        Assert.Equal(average, weights["w"].ToArray());
        Assert.Equal(runningAverage, weights["bn.running_mean"].Span[0]);
        Assert.Equal(average, hook.Average["w"].ToArray());

        Set(10, 20, 30);
        hook.AfterStep(10, 10); // the last step: an update at ρ = 0.81, then the weights take the average
        float t2 = (float)(1 - 0.81);
        Assert.Equal(new[] { average[0] + t2 * (10 - average[0]), average[1] + t2 * (20 - average[1]) }, weights["w"].ToArray());
        Assert.Equal(runningAverage + t2 * (30 - runningAverage), weights["bn.running_mean"].Span[0]);
        Assert.Equal(hook.Average["w"].ToArray(), weights["w"].ToArray());
    }

    [Fact]
    public void BatchNormMomentumReachesTheRunningStatistics()
    {
        // One step (40 images in one batch, one epoch): running_mean = (1 − m)·0 + m·(batch mean) for m = 0.4.
        var config = new TrainingConfig { Architecture = "airnet", WidthMultiplier = 0.0625, Epochs = 1, BatchSize = 40, BatchNormMomentum = 0.4, Augment = false };
        var parameters = Net.Initialize(new Random(2));
        var capture = new CapturedStatistics();
        var data = Data(batch: 40);
        foreach (var batch in data.Batches(0))
            using (batch)
                Net.Forward(parameters, batch.Images, ForwardContext.Train(capture, new Random(0)));
        var stats = Factories.CreateRunningStats(config, parameters);
        Assert.Equal(0.4f, stats.Momentum);
        new Trainer(Net, parameters, config, stats).Train(data);
        var expected = capture.Means["2.norm1"].Select(m => 0.4f * m).ToArray();
        var actual = parameters["2.norm1.running_mean"].ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
        Assert.Equal(0.1f, Factories.CreateRunningStats(new TrainingConfig(), parameters).Momentum);
    }

    private sealed class CapturedStatistics : IBatchNormObserver
    {
        public Dictionary<string, float[]> Means { get; } = [];
        public void Observe(string prefix, BatchStatistics stats) => Means[prefix] = (float[])stats.Mean.Clone();
    }

    [Fact]
    public void FractionalEpochsStopAtTheStepBudget()
    {
        var config = new TrainingConfig { Architecture = "airnet", WidthMultiplier = 0.0625, Epochs = 2.5, BatchSize = 8, Schedule = "triangle" };
        var parameters = Net.Initialize(new Random(0));
        var ends = new List<int>();
        var trainer = new Trainer(Net, parameters, config, new RunningStatsUpdater(parameters));
        trainer.Progress += p => { if (p.IsEpochEnd) ends.Add(p.Epoch); };
        var result = trainer.Train(Data());
        Assert.Equal(13, result.Steps); // ⌈2.5 × 5⌉
        Assert.Equal(new[] { 1, 2, 3 }, ends); // the cut third epoch still ends
        Assert.Equal(13, config.TotalSteps(5));
    }

    [Fact]
    public void PresetSetsEveryValueAndPlainConfigsKeepTheirJson()
    {
        var c = TrainingRecipes.Apply(TrainingRecipes.Airbench, new TrainingConfig { Architecture = "airnet", Seed = 3 });
        Assert.Equal(1.5, c.LearningRate, 12); // 11.5 / (1 + 1/0.15) at batch 1024
        Assert.Equal(0.0153 / 11.5, c.WeightDecay, 15);
        Assert.Equal((9.9, 1024, 0.85, "triangle", 0.2, 0.4, 5, 2, 2, "alternate", true), (c.Epochs, c.BatchSize, c.Momentum, c.Schedule, c.LabelSmoothing,
            c.BatchNormMomentum, c.LookaheadEvery, c.Translate, c.TtaLevel, c.Flip, c.WhitenInit));
        Assert.Equal(3, c.Seed);
        Assert.Equal(0.75, TrainingRecipes.Apply(TrainingRecipes.Airbench, new TrainingConfig(), batchSize: 512).LearningRate, 12);
        var back = TrainingConfig.FromJson(c.ToJson());
        Assert.Equal(c.ToJson(), back.ToJson());
        Assert.Equal(["0.weight", "0.bias@3", "*.norm*.weight"], back.Freeze!);
        // A config without the recipe writes none of its keys: saved states and plan keys compare as before.
        string plain = new TrainingConfig().ToJson();
        foreach (var key in new[] { "recipe", "triangle", "whiten_init", "freeze", "learning_rate_scales", "batch_norm_momentum", "lookahead", "translate", "flip", "tta_level" })
            Assert.DoesNotContain(key, plain);
        Assert.Contains("\"epochs\":10,", plain);
        Assert.Throws<ArgumentException>(() => TrainingRecipes.Apply("bogus", new TrainingConfig()));
        Assert.Contains("--freeze", Assert.Throws<ArgumentException>(() => (c with { Freeze = ["0.bias@x"] }).Validate()).Message);
        Assert.Contains("--lr-scale", Assert.Throws<ArgumentException>(() => (c with { LearningRateScales = ["*.bias"] }).Validate()).Message);
    }

    [Fact]
    public void AStoppedAndResumedRecipeRunEqualsTheUninterruptedOne()
    {
        var config = Recipe(); // lookahead every 5, freezing, BN-bias group, triangle, 2.6 epochs = 13 steps
        var (expected, expectedAverage) = Train(config, statePath: null);
        using var folder = new TempFolder();
        string state = folder.File("airnet.train-state");
        // Stopped in the second epoch (after step 7, between two lookahead updates): saved there, lookahead average included.
        Assert.Throws<OperationCanceledException>(() => Train(config, state, stopAtStep: 7));
        var (resumed, resumedAverage) = Train(config, state);
        foreach (var name in expected.Names)
            Assert.True(expected[name].ToArray().AsSpan().SequenceEqual(resumed[name].ToArray()), $"'{name}' differs after resuming");
        foreach (var name in expected.Names)
            Assert.True(expectedAverage[name].ToArray().AsSpan().SequenceEqual(resumedAverage[name].ToArray()), $"lookahead '{name}' differs after resuming");
    }

    private static (ParameterSet Parameters, ParameterSet Average) Train(TrainingConfig config, string? statePath, int stopAtStep = -1)
    {
        var parameters = Net.Initialize(new Random(config.SeedFor(RandomStream.Initialization)));
        var stats = Factories.CreateRunningStats(config, parameters);
        using var stop = new CancellationTokenSource();
        var trainer = new Trainer(Net, parameters, config, stats) { Cancellation = stop.Token };
        if (statePath is not null) trainer.State = new TrainingStateFile(statePath, parameters, stats, config.ToJson(), trainer.StateParts);
        int steps = 0;
        trainer.Progress += _ => { if (++steps == stopAtStep) stop.Cancel(); };
        trainer.Train(Data());
        return (parameters, trainer.Hooks.OfType<Lookahead>().Single().Average);
    }
}
