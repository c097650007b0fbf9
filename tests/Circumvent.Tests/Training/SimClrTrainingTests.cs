using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Training;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Training;

/// <summary>SimCLR through the one training loop: the loss it minimises, and a stopped run resumed bit for bit.</summary>
public sealed class SimClrTrainingTests : IDisposable
{
    private readonly string _folder = Scratch.NewFolder("simclr-");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static readonly SimClrNetwork Network =
        new((IFeatureExtractor)Architectures.Create(new ArchitectureConfig("resnet18", 3, 8, 8, 2, 0.0625)));

    private static readonly TrainingConfig Config = new()
    {
        Architecture = "resnet18", WidthMultiplier = 0.0625, Epochs = 3, BatchSize = 4, LearningRate = 1e-3, WeightDecay = 1e-6,
        Optimizer = "adam", Schedule = "cosine", Seed = 2,
    };

    private static BatchLoaderSource Data()
    {
        var pixels = new byte[16 * 3 * 8 * 8];
        new Random(6).NextBytes(pixels);
        var images = new ImageDataset(pixels, Enumerable.Range(0, 16).Select(i => i % 2).ToArray(), 3, 8, 8, ["a", "b"]);
        var options = BatchLoaderOptions.Training(Config.BatchSize, Config.SeedFor(RandomStream.Shuffle)) with
        {
            Views = 2, ViewAugmentation = ContrastiveAugmentation.SimClr,
        };
        return new BatchLoaderSource(new BatchLoader(images, Normalization.Identity(3), options));
    }

    private (ParameterSet Parameters, RunningStatsUpdater Stats, List<double> Losses) Train(string? statePath, int stopAtStep = -1)
    {
        var parameters = Network.Initialize(new Random(Config.SeedFor(RandomStream.Initialization)));
        var stats = new RunningStatsUpdater(parameters);
        using var stop = new CancellationTokenSource();
        var trainer = new Trainer(Network, parameters, Config, stats)
        {
            Cancellation = stop.Token,
            Objective = new SimClrObjective(),
            State = statePath is null ? null : new TrainingStateFile(statePath, parameters, stats, Config.ToJson(),
                saving: new ProgressSaving(TimeSpan.Zero, TimeProvider.System)),
        };
        var losses = new List<double>();
        trainer.Progress += p => { losses.Add(p.Loss); if (losses.Count == stopAtStep) stop.Cancel(); };
        trainer.Train(Data());
        return (parameters, stats, losses);
    }

    [Fact]
    public void StoppedAndResumedPretrainingEqualsTheUninterruptedOne()
    {
        var (expected, expectedStats, losses) = Train(statePath: null);
        Assert.Equal(12, losses.Count);
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        string state = Path.Combine(_folder, "encoder.safetensors.train-state");
        Assert.Throws<OperationCanceledException>(() => Train(state, stopAtStep: 6)); // mid-epoch 2: saved at its batch 2
        var (resumed, resumedStats, rest) = Train(state);
        Assert.Equal(6, rest.Count); // the steps left, none repeated
        foreach (var entry in expected)
            Assert.Equal(entry.Tensor.ToArray(), resumed[entry.Name].ToArray());
        Assert.Equal(expectedStats.BatchesTracked.OrderBy(kv => kv.Key), resumedStats.BatchesTracked.OrderBy(kv => kv.Key));
        Assert.Equal(24, resumedStats.BatchesTracked["g.1"]); // two views per step, 12 steps
    }

    [Fact]
    public void ObjectiveIsNtXentOfTwoSeparateForwardCalls()
    {
        var parameters = Network.Initialize(new Random(1));
        var data = Data();
        using var batch = data.Batches(0).First();
        var context = ForwardContext.Train(null, new Random(0));
        var loss = new SimClrObjective(0.5f).Loss(Network, parameters, batch, context).Loss;
        var expected = Op.NtXent(Network.Forward(parameters, batch.Views[0], context), Network.Forward(parameters, batch.Views[1], context), 0.5f);
        Assert.Equal(expected.Item(), loss.Item());
        using var single = new Batch(batch.Images.Clone(), batch.Labels, batch.Indices);
        Assert.Contains("two augmented views", Assert.Throws<InvalidOperationException>(() => new SimClrObjective().Loss(Network, parameters, single, context)).Message);
    }
}
