using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Models.Described;
using Circumvent.Tests.Support;
using Circumvent.Training;

namespace Circumvent.Tests.Training;

/// <summary>
/// A training run stopped mid-epoch and started again from its state file ends bit for bit where the
/// uninterrupted run ends: parameters, BN buffers and batch counts, through the optimiser's momentum; it continues at the
/// step it stopped at unless dropout drew in that epoch.
/// </summary>
public sealed class TrainingStateTests : IDisposable
{
    private readonly string _folder = Scratch.NewFolder("state-");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    // cnn-small at width 1/8 on 8×8 images: BN, convolutions and pooling, small enough for a test.
    internal static readonly IArchitecture Network = Architectures.Create(new ArchitectureConfig("cnn-small", 3, 8, 8, 3, 0.125));

    internal static readonly TrainingConfig Config = new()
    {
        Architecture = "cnn-small", WidthMultiplier = 0.125, Epochs = 3, BatchSize = 8, LearningRate = 0.05, Schedule = "cosine", Seed = 5,
    };

    internal static TensorBatchSource Data()
    {
        var rng = new Random(3);
        var x = Tensor.Randn(rng, 40, 3, 8, 8).ToArray();
        var labels = Enumerable.Range(0, 40).Select(i => i % 3).ToArray();
        return new TensorBatchSource(x, labels, [3, 8, 8], 8, shuffleSeed: 9);
    }

    private (ParameterSet Parameters, RunningStatsUpdater Stats, int Steps) Train(TrainingConfig config, string? statePath, int stopAtStep = -1,
        IArchitecture? network = null, ProgressSaving? saving = null, int crashAtStep = -1, int stopFromProgressAtStep = -1, string? inputDigest = null,
        string? earlierKey = null)
    {
        network ??= Network;
        var parameters = network.Initialize(new Random(config.SeedFor(RandomStream.Initialization)));
        var stats = new RunningStatsUpdater(parameters);
        using var stop = new CancellationTokenSource();
        var trainer = new Trainer(network, parameters, config, stats)
        {
            Cancellation = stop.Token,
            State = statePath is null ? null : new TrainingStateFile(statePath, parameters, stats, config.ToJson(), saving: saving)
            {
                InputDigest = inputDigest is null ? null : () => inputDigest,
                EarlierKey = earlierKey,
            },
        };
        int steps = 0;
        trainer.Progress += _ =>
        {
            if (++steps == stopAtStep) stop.Cancel();
            if (steps == crashAtStep) throw new SimulatedCrash();
            if (steps == stopFromProgressAtStep) throw new StopFromProgress();
        };
        trainer.Train(Data());
        return (parameters, stats, steps);
    }

    // Stands for a failure that gives the run no chance to save what it has in memory beyond its own finally blocks.
    private sealed class SimulatedCrash : Exception;

    private sealed class StopFromProgress : OperationCanceledException;

    private static void AssertSameRun(ParameterSet expected, RunningStatsUpdater expectedStats, ParameterSet resumed, RunningStatsUpdater resumedStats)
    {
        foreach (var entry in expected)
            Assert.Equal(entry.Tensor.ToArray(), resumed[entry.Name].ToArray());
        Assert.Equal(expectedStats.BatchesTracked.OrderBy(kv => kv.Key), resumedStats.BatchesTracked.OrderBy(kv => kv.Key));
    }

    [Fact]
    public void ResumedRunEqualsTheUninterruptedOne()
    {
        var (expected, expectedStats, _) = Train(Config, statePath: null);
        string state = Path.Combine(_folder, "model.safetensors.train-state");
        // Stopped after step 7, inside the second epoch (5 batches per epoch): it is saved there, at batch 2 of epoch 2.
        Assert.Throws<OperationCanceledException>(() => Train(Config, state, stopAtStep: 7));
        Assert.True(File.Exists(state));
        var (resumed, resumedStats, steps) = Train(Config, state);
        Assert.Equal(8, steps); // only the steps left: none is repeated
        AssertSameRun(expected, expectedStats, resumed, resumedStats);
        Assert.Equal(15, resumedStats.BatchesTracked.First().Value);
    }

    [Fact]
    public void AStateWrittenInsideAnEpochSurvivesACrashThatSavesNothing()
    {
        var (expected, expectedStats, _) = Train(Config, statePath: null);
        string state = Path.Combine(_folder, "crash.train-state");
        // Every step is due for a write (interval 0); the crash at step 7 comes before its own write: step 6 is on disk.
        var everyStep = new ProgressSaving(TimeSpan.Zero, TimeProvider.System);
        Assert.Throws<SimulatedCrash>(() => Train(Config, state, saving: everyStep, crashAtStep: 7));
        var (resumed, resumedStats, steps) = Train(Config, state);
        Assert.Equal(9, steps);
        AssertSameRun(expected, expectedStats, resumed, resumedStats);
    }

    [Fact]
    public void AStopRaisedByTheLastStepsProgressReportKeepsTheWholeEpoch()
    {
        // A progress listener that stops the run by throwing, at the end of epoch 2 (step 10), with dropout drawing: the
        // epoch is complete, so the resumed run starts at epoch 3 (before, a stop there lost the epoch).
        var network = TestDescriptions.Architecture("plain-cnn");
        var (expected, expectedStats, _) = Train(Config, statePath: null, network: network);
        string state = Path.Combine(_folder, "end.train-state");
        Assert.Throws<StopFromProgress>(() => Train(Config, state, network: network, stopFromProgressAtStep: 10));
        var (resumed, resumedStats, steps) = Train(Config, state, network: network);
        Assert.Equal(5, steps);
        AssertSameRun(expected, expectedStats, resumed, resumedStats);
    }

    [Fact]
    public void AStopInsideAnEpochWhoseDropoutDrewResumesAtTheEpochsStart()
    {
        // Dropout draws a stream through the epoch that a later batch cannot pick up, so the epoch is done again from
        // its start; the run still ends where the uninterrupted one does.
        var network = TestDescriptions.Architecture("plain-cnn"); // 5 logits; the data's labels are 0–2
        var (expected, expectedStats, _) = Train(Config, statePath: null, network: network);
        string state = Path.Combine(_folder, "dropout.train-state");
        Assert.Throws<OperationCanceledException>(() => Train(Config, state, stopAtStep: 7, network: network));
        var (resumed, resumedStats, steps) = Train(Config, state, network: network);
        Assert.Equal(10, steps);
        AssertSameRun(expected, expectedStats, resumed, resumedStats);
    }

    [Fact]
    public void FinishedStateTrainsNoFurther()
    {
        string state = Path.Combine(_folder, "done.train-state");
        var (first, _, _) = Train(Config, state);
        var (again, _, steps) = Train(Config, state);
        Assert.Equal(0, steps);
        foreach (var entry in first) Assert.Equal(entry.Tensor.ToArray(), again[entry.Name].ToArray());
    }

    [Fact]
    public void StateOfOtherSettingsIsRefused()
    {
        string state = Path.Combine(_folder, "other.train-state");
        Assert.Throws<OperationCanceledException>(() => Train(Config, state, stopAtStep: 6));
        var error = Assert.Throws<CheckpointException>(() => Train(Config with { LearningRate = 0.01 }, state));
        Assert.Contains(state, error.Message);
        Assert.Contains("other settings", error.Message);
    }

    [Fact]
    public void AStateWhoseInputsMovedResumesWhenTheyHoldWhatTheyHeldAndIsRefusedOtherwise()
    {
        TrainingConfig At(string data) => Config with { Data = data };
        var (expected, expectedStats, _) = Train(At("cifar10:/a/data"), statePath: null);
        string state = Path.Combine(_folder, "moved.train-state");
        Assert.Throws<OperationCanceledException>(() => Train(At("cifar10:/a/data"), state, stopAtStep: 7, inputDigest: "d1"));
        byte[] saved = File.ReadAllBytes(state);

        // The data moved but holds something else: refused, saying so.
        var other = Assert.Throws<CheckpointException>(() => Train(At("cifar10:/b/data"), state, inputDigest: "d2"));
        Assert.Contains(state, other.Message);
        Assert.Contains("other content", other.Message);
        // Nor where it was made, its content changed in place.
        Assert.Contains("other content", Assert.Throws<CheckpointException>(() => Train(At("cifar10:/a/data"), state, inputDigest: "d2")).Message);
        // Without a digest to compare, another place is another run; so is another kind of data, or another setting.
        Assert.Contains("other settings", Assert.Throws<CheckpointException>(() => Train(At("cifar10:/b/data"), state)).Message);
        Assert.Contains("other settings", Assert.Throws<CheckpointException>(() => Train(At("gtsrb:/b/data"), state, inputDigest: "d1")).Message);
        Assert.Contains("other settings", Assert.Throws<CheckpointException>(() =>
            Train(At("cifar10:/b/data") with { LearningRate = 0.01 }, state, inputDigest: "d1")).Message);
        Assert.Equal(saved, File.ReadAllBytes(state));

        // The same content at the new place: the steps left, ending where the uninterrupted run ends; the state now names the new place.
        var (resumed, resumedStats, steps) = Train(At("cifar10:/b/data"), state, inputDigest: "d1");
        Assert.Equal(8, steps);
        AssertSameRun(expected, expectedStats, resumed, resumedStats);
        string meta = SafeTensorsReader.Read(state).Metadata.Values.Single();
        Assert.Contains("/b/data", meta);
        Assert.DoesNotContain("/a/data", meta);
    }

    [Fact]
    public void AStateWrittenWithoutADigestResumesOnlyWhereItWasMade()
    {
        string state = Path.Combine(_folder, "legacy.train-state");
        Assert.Throws<OperationCanceledException>(() => Train(Config with { Data = "cifar10:/a/data" }, state, stopAtStep: 7));
        Assert.Contains("other settings", Assert.Throws<CheckpointException>(() =>
            Train(Config with { Data = "cifar10:/b/data" }, state, inputDigest: "d1")).Message);
        var (_, _, steps) = Train(Config with { Data = "cifar10:/a/data" }, state, inputDigest: "d1");
        Assert.Equal(8, steps);
    }

    [Fact]
    public void AStateSavedUnderTheKeysEarlierFormResumes()
    {
        string state = Path.Combine(_folder, "earlier.train-state");
        var earlier = Config with { Data = "earlier-form" };
        Assert.Throws<OperationCanceledException>(() => Train(earlier, state, stopAtStep: 7));
        Assert.Contains("other settings", Assert.Throws<CheckpointException>(() => Train(Config, state)).Message);
        var (expected, expectedStats, _) = Train(Config, statePath: null);
        var (resumed, resumedStats, steps) = Train(Config, state, earlierKey: earlier.ToJson());
        Assert.Equal(8, steps);
        AssertSameRun(expected, expectedStats, resumed, resumedStats); // (Data is only a name here: the helper's data are fixed)
    }

    /// <summary>
    /// Builds before session 19 recorded `--data` as written: a state saved under "cifar10:REL" resumes under the key that
    /// names the same folder absolutely (what `train` records now), without a digest, as the same run; a relative path to
    /// another folder is another place (and without a digest another run).
    /// </summary>
    [Fact]
    public void AStateSavedWithARelativeDataPathResumesUnderItsAbsoluteForm()
    {
        string state = Path.Combine(_folder, "relative.train-state");
        string relative = Path.GetRelativePath(Environment.CurrentDirectory, Path.Combine(_folder, "data"));
        Assert.False(Path.IsPathRooted(relative));
        Assert.Throws<OperationCanceledException>(() => Train(Config with { Data = "cifar10:" + relative }, state, stopAtStep: 7));
        Assert.Contains("other settings", Assert.Throws<CheckpointException>(() =>
            Train(Config with { Data = "cifar10:" + Path.Combine(_folder, "elsewhere") }, state)).Message);
        var (expected, expectedStats, _) = Train(Config, statePath: null);
        var (resumed, resumedStats, steps) = Train(Config with { Data = "cifar10:" + Path.Combine(_folder, "data") }, state);
        Assert.Equal(8, steps);
        AssertSameRun(expected, expectedStats, resumed, resumedStats);
    }

    [Fact]
    public void ObjectiveAndStateDoNotMix()
    {
        var parameters = Network.Initialize(new Random(1));
        var trainer = new Trainer(Network, parameters, Config)
        {
            Objective = new PlainObjective(),
            State = new TrainingStateFile(Path.Combine(_folder, "x"), parameters, null, Config.ToJson()),
        };
        Assert.Contains("cannot be saved", Assert.Throws<InvalidOperationException>(() => trainer.Train(Data())).Message);
    }

    private sealed class PlainObjective : ITrainingObjective
    {
        public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
        {
            var logits = architecture.Forward(weights, batch.Images, context);
            return new BatchLoss(Op.CrossEntropy(logits, batch.Labels), logits, batch.Labels);
        }
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("sgd-nesterov")]
    [InlineData("adam")]
    [InlineData("amsgrad")]
    public void OptimizerStateRoundTripsExactly(string kind)
    {
        Tensor[] Weights() => [TestData.Randn(1, 4, 3).Clone(requiresGrad: true), TestData.Randn(2, 5).Clone(requiresGrad: true)];
        IOptimizer Make(Tensor[] p) => kind switch
        {
            "adam" => new Adam(p, 0.01, weightDecay: 1e-3),
            "amsgrad" => new Adam(p, 0.01, beta2: 0.5, weightDecay: 1e-3, amsgrad: true),
            _ => new Sgd(p, 0.1, 0.9, 5e-4, nesterov: kind == "sgd-nesterov"),
        };
        void Step(Tensor[] p, IOptimizer o, int seed)
        {
            o.ZeroGrad();
            Op.Add(Op.Sum(Op.Mul(p[0], TestData.Randn(seed, 4, 3))), Op.Sum(Op.Mul(p[1], TestData.Randn(seed + 1, 5)))).Backward();
            o.Step();
        }
        var (a, b) = (Weights(), Weights());
        var (oa, ob) = (Make(a), Make(b));
        for (int i = 0; i < 3; i++) Step(a, oa, 10 + i);
        for (int i = 0; i < a.Length; i++) a[i].Data.CopyTo(b[i].Data, 0);
        ob.ImportState(oa.ExportState());
        for (int i = 0; i < 2; i++) { Step(a, oa, 20 + i); Step(b, ob, 20 + i); }
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i].ToArray(), b[i].ToArray());
    }

    [Fact]
    public void OptimizerStateOfAnotherShapeIsRefused()
    {
        var sgd = new Sgd([TestData.Randn(1, 3).Clone(requiresGrad: true)], 0.1, 0.9);
        Assert.Contains("'momentum.0' has 2 values", Assert.Throws<ArgumentException>(() =>
            sgd.ImportState(new OptimizerState(1, new Dictionary<string, float[]> { ["momentum.0"] = new float[2] }))).Message);
        Assert.Contains("'momentum.1' belongs to no parameter", Assert.Throws<ArgumentException>(() =>
            sgd.ImportState(new OptimizerState(1, new Dictionary<string, float[]> { ["momentum.1"] = new float[3] }))).Message);
    }
}
