using Circumvent.Attacks;
using Circumvent.Method.Attacks;
using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Models.Described;
using Circumvent.Training;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Method;

/// <summary>A curve fit (the adaptive attack's) stopped mid-way and rerun with its checkpoint ends where an uninterrupted fit ends.</summary>
public class EpochCheckpointTests
{
    // Dropout draws a varying number of values per batch: the case a single random stream could not resume.
    private const string DropoutMlp = """
        { "name": "dropout-mlp", "input": [1, 8, 8], "classes": 3,
          "layers": [
            { "type": "flatten" },
            { "type": "linear", "name": "fc1", "in_features": 64, "out_features": 16 },
            { "type": "relu" },
            { "type": "dropout", "p": 0.3 },
            { "type": "linear", "name": "fc2", "in_features": 16, "out_features": 3 }
          ] }
        """;

    private static IArchitecture Network(string name) => name == "dropout-mlp"
        ? Architectures.Create(DescriptionParser.ParseJson(DropoutMlp, "dropout-mlp.json").ToConfig())
        : CurveProblems.SmallCnn();

    private static CurveOptions Options(bool trainEndpoints, string? optimizer = null) =>
        new() { Epochs = 3, BatchSize = 16, LearningRate = 0.05, Augment = true, Seed = 3, TrainEndpoints = trainEndpoints, Optimizer = optimizer };

    [Theory]
    [InlineData("cnn-small", false, null)]
    [InlineData("cnn-small", true, null)]
    [InlineData("dropout-mlp", true, null)]
    [InlineData("cnn-small", false, "adam")]
    public void StoppedAndResumedFitEqualsAnUninterruptedOne(string network, bool trainEndpoints, string? optimizer)
    {
        var arch = Network(network);
        var data = CurveProblems.Blocks(48, 1); // 3 batches per epoch
        var (start, end) = (arch.Initialize(new Random(1)), arch.Initialize(new Random(2)));
        var options = Options(trainEndpoints, optimizer);
        BezierCurve Fit(IProgress<TrainingProgress>? progress, CancellationToken cancel, EpochCheckpoint? checkpoint) =>
            CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, options, new SupervisedObjective(), progress, cancel, checkpoint);

        var whole = Fit(null, CancellationToken.None, null);
        var resumed = StopAfterTwoEpochsThenResume((progress, cancel, checkpoint) => Fit(progress, cancel, checkpoint));
        CurveProblems.AssertSetsBitIdentical(whole.Start, resumed.Start);
        CurveProblems.AssertSetsBitIdentical(whole.Middle, resumed.Middle);
        CurveProblems.AssertSetsBitIdentical(whole.End, resumed.End);
    }

    [Theory]
    [InlineData("cnn-small", null)]
    [InlineData("dropout-mlp", null)]
    [InlineData("cnn-small", "adam")]
    public void StoppedAndResumedFineTuningEqualsAnUninterruptedOne(string network, string? optimizer)
    {
        var arch = Network(network);
        var data = CurveProblems.Blocks(48, 3);
        var start = arch.Initialize(new Random(1));
        var options = new FineTuneOptions { Epochs = 3, BatchSize = 16, LearningRate = 0.05, Augment = true, Seed = 2, Optimizer = optimizer };
        ParameterSet Tune(IProgress<TrainingProgress>? progress, CancellationToken cancel, EpochCheckpoint? checkpoint) =>
            FineTuner.Run(arch, start, data, CurveProblems.Norm, options, new SupervisedObjective(), progress, cancel, checkpoint);

        var whole = Tune(null, CancellationToken.None, null);
        var resumed = StopAfterTwoEpochsThenResume((progress, cancel, checkpoint) => Tune(progress, cancel, checkpoint));
        // Parameters and BN running statistics alike.
        CurveProblems.AssertSetsBitIdentical(whole, resumed);
    }

    /// <summary>
    /// Runs a 3-epoch run with a checkpoint, stops it at the end of epoch 2 (the next batch sees the
    /// cancellation after epoch 2 was saved), then reruns it and checks that only epoch 3 ran.
    /// </summary>
    internal static T StopAfterTwoEpochsThenResume<T>(Func<IProgress<TrainingProgress>?, CancellationToken, EpochCheckpoint, T> run)
    {
        string folder = Scratch.NewFolder("epoch-state-");
        try
        {
            var checkpoint = new EpochCheckpoint(Path.Combine(folder, "run.state"), "run");
            using (var stop = new CancellationTokenSource())
            {
                var stopAfterTwo = new CallbackProgress(p => { if (p.IsEpochEnd && p.Epoch == 2) stop.Cancel(); });
                Assert.Throws<OperationCanceledException>(() => run(stopAfterTwo, stop.Token, checkpoint));
            }
            Assert.True(File.Exists(checkpoint.Path));
            var seen = new CollectProgress<TrainingProgress>();
            var resumed = run(seen, CancellationToken.None, checkpoint);
            Assert.All(seen.Items, p => Assert.Equal(3, p.Epoch)); // it continued, it did not start over
            return resumed;
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void AStateOfAnotherRunIsRefused()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(32, 1);
        var (start, end) = (arch.Initialize(new Random(1)), arch.Initialize(new Random(2)));
        string folder = Scratch.NewFolder("curve-state-");
        try
        {
            string path = Path.Combine(folder, "curve.state");
            var options = Options(trainEndpoints: true) with { Epochs = 1 };
            CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, options, new SupervisedObjective(), checkpoint: new EpochCheckpoint(path, "one"));
            var ex = Assert.Throws<CheckpointException>(() => CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, options,
                new SupervisedObjective(), checkpoint: new EpochCheckpoint(path, "another")));
            Assert.Contains("curve.state", ex.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void AdaptiveAttackResumesFromItsCheckpoint()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(48, 2);
        var backdoored = arch.Initialize(new Random(5));
        var options = new AdaptiveTscOptions { Epochs = 2, BatchSize = 16, LearningRate = 0.05, Augment = false, Seed = 4 };
        var whole = AdaptiveTscAttack.Run(arch, backdoored, data, CurveProblems.Norm, options);
        string folder = Scratch.NewFolder("adaptive-state-");
        try
        {
            var checkpoint = new EpochCheckpoint(Path.Combine(folder, "m.adaptive-state"), "run");
            using (var stop = new CancellationTokenSource())
            {
                var stopAfterOne = new CallbackProgress(p => { if (p.IsEpochEnd && p.Epoch == 1) stop.Cancel(); });
                Assert.Throws<OperationCanceledException>(() => AdaptiveTscAttack.Run(arch, backdoored, data, CurveProblems.Norm, options, stopAfterOne, stop.Token, checkpoint));
            }
            var resumed = AdaptiveTscAttack.Run(arch, backdoored, data, CurveProblems.Norm, options, checkpoint: checkpoint);
            CurveProblems.AssertSetsBitIdentical(whole, resumed);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    private sealed class CallbackProgress(Action<TrainingProgress> callback) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => callback(value);
    }
}
