using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Tests.Method;
using Circumvent.Tests.Support;
using Circumvent.Training;

namespace Circumvent.Tests.Training;

/// <summary>
/// Progress is written at most once per save interval (a fake clock stands in for time), always when the
/// work ends or is stopped, and a run resumed from such a write still equals the uninterrupted one.
/// </summary>
public sealed class ProgressSavingTests : IDisposable
{
    private static readonly TimeSpan Minute = TimeSpan.FromSeconds(60);
    private readonly string _folder = Scratch.NewFolder("saving-");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    // The resume tests' small cnn and data (5 batches per epoch), for 4 epochs.
    private static IArchitecture Network => TrainingStateTests.Network;
    private static readonly TrainingConfig Config = TrainingStateTests.Config with { Epochs = 4 };

    /// <summary>Trains <see cref="Config"/> with a state file at <paramref name="path"/>; <paramref name="atEpochEnd"/> hears each finished epoch.</summary>
    private static ParameterSet Train(string path, ProgressSaving saving, CancellationToken cancel = default, Action<int>? atEpochEnd = null)
    {
        var parameters = Network.Initialize(new Random(7));
        var stats = new RunningStatsUpdater(parameters);
        var trainer = new Trainer(Network, parameters, Config, stats)
        {
            Cancellation = cancel,
            State = new TrainingStateFile(path, parameters, stats, Config.ToJson(), saving: saving),
        };
        trainer.Progress += p => { if (p.IsEpochEnd) atEpochEnd?.Invoke(p.Epoch); };
        trainer.Train(TrainingStateTests.Data());
        return parameters;
    }

    private static int EpochsSavedIn(string path) =>
        new TrainingStateFile(path, Network.Initialize(new Random(0)), null, Config.ToJson(), saving: new ProgressSaving(Minute, new FakeClock()))
            .Restore(new Circumvent.Engine.Optim.Sgd([.. Network.Initialize(new Random(0)).Parameters.Select(p => p.Tensor)], 0.1, 0.9, 0)).EpochsDone;

    [Fact]
    public void EpochsWithinTheIntervalWriteTheStateOnceAtTheEndAndItsBytesAreCounted()
    {
        string path = Path.Combine(_folder, "run.train-state");
        var saving = new ProgressSaving(Minute, new FakeClock());
        Train(path, saving);
        Assert.Equal(1, saving.FilesWritten); // 4 epochs, one write
        Assert.Equal(4, EpochsSavedIn(path));
        Assert.Equal(new FileInfo(path).Length, saving.BytesWritten);
    }

    [Fact]
    public void AnEpochThatEndsAfterTheIntervalIsWrittenAtOnce()
    {
        string path = Path.Combine(_folder, "run.train-state");
        var clock = new FakeClock();
        var saving = new ProgressSaving(Minute, clock);
        var seenOnDisk = new List<int>();
        // Epoch 2 ends 61 s in: written then. The progress report comes before the save, so the next report sees it.
        Train(path, saving, atEpochEnd: epoch =>
        {
            seenOnDisk.Add(File.Exists(path) ? EpochsSavedIn(path) : 0);
            if (epoch == 2) clock.Advance(TimeSpan.FromSeconds(61));
        });
        Assert.Equal([0, 0, 2, 2], seenOnDisk);
        Assert.Equal(2, saving.FilesWritten); // after epoch 2, and at the end
        Assert.Equal(4, EpochsSavedIn(path));
    }

    [Fact]
    public void AZeroIntervalWritesAfterEveryStep()
    {
        var saving = new ProgressSaving(TimeSpan.Zero, new FakeClock());
        Train(Path.Combine(_folder, "run.train-state"), saving);
        Assert.Equal(20, saving.FilesWritten); // 4 epochs of 5 steps; the network has no dropout, so every step can resume
    }

    [Fact]
    public void AStopWritesTheLastFinishedEpochAndTheResumedRunIsBitIdentical()
    {
        var whole = Train(Path.Combine(_folder, "whole.train-state"), new ProgressSaving(Minute, new FakeClock()));
        string path = Path.Combine(_folder, "stopped.train-state");
        var saving = new ProgressSaving(Minute, new FakeClock());
        using (var stop = new CancellationTokenSource())
            Assert.Throws<OperationCanceledException>(() => Train(path, saving, stop.Token, epoch => { if (epoch == 2) stop.Cancel(); }));
        Assert.Equal(1, saving.FilesWritten); // not at epoch 1 or 2: at the stop, in epoch 3
        Assert.Equal(2, EpochsSavedIn(path));
        var resumed = Train(path, new ProgressSaving(Minute, new FakeClock()));
        CurveProblems.AssertSetsBitIdentical(whole, resumed);
    }

    [Fact]
    public void AStoppedCurveFitWritesItsStateOnceAndResumesBitIdentically()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(48, 1); // 3 batches per epoch
        var (start, end) = (arch.Initialize(new Random(1)), arch.Initialize(new Random(2)));
        var options = new CurveOptions { Epochs = 4, BatchSize = 16, LearningRate = 0.05, Augment = true, Seed = 3 };
        BezierCurve Fit(EpochCheckpoint? checkpoint, CancellationToken cancel = default, IProgress<TrainingProgress>? progress = null) =>
            CurveTrainer.Fit(arch, start, end, data, CurveProblems.Norm, options, new SupervisedObjective(), progress, cancel, checkpoint);

        var whole = Fit(null);
        var saving = new ProgressSaving(Minute, new FakeClock());
        var checkpoint = new EpochCheckpoint(Path.Combine(_folder, "curve.state"), "run", saving);
        using (var stop = new CancellationTokenSource())
            Assert.Throws<OperationCanceledException>(() => Fit(checkpoint, stop.Token, new Progress(p => { if (p.IsEpochEnd && p.Epoch == 3) stop.Cancel(); })));
        Assert.Equal(1, saving.FilesWritten);
        Assert.Equal(new FileInfo(checkpoint.Path).Length, saving.BytesWritten);
        var resumed = Fit(checkpoint with { Saving = new ProgressSaving(Minute, new FakeClock()) });
        CurveProblems.AssertSetsBitIdentical(whole.Middle, resumed.Middle);
    }

    [Theory]
    [InlineData(null, 60.0)]
    [InlineData(" ", 60.0)]
    [InlineData("0", 0.0)]
    [InlineData("2.5", 2.5)]
    public void TheIntervalIsReadInSeconds(string? text, double seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), ProgressSaving.ParseInterval(text));

    [Theory]
    [InlineData("soon")]
    [InlineData("-1")]
    [InlineData("NaN")]
    public void ABadIntervalIsRefusedNamingTheVariable(string text)
    {
        var error = Assert.Throws<ArgumentException>(() => ProgressSaving.ParseInterval(text));
        Assert.Contains(ProgressSaving.IntervalVariable, error.Message);
        Assert.Contains($"'{text}'", error.Message);
    }

    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
