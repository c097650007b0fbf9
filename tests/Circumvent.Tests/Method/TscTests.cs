using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Method.Curves;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Runs;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Tests.Method;

public class TscTests
{
    internal static readonly TscOptions Quick = new()
    {
        Rounds = 2,
        T = 0.4,
        Curve = new CurveOptions { Epochs = 2, BatchSize = 16, LearningRate = 0.02 },
        FineTune = new FineTuneOptions { Epochs = 1, BatchSize = 16, LearningRate = 1e-3 },
    };

    [Fact]
    public void EveryStageOfEveryRoundRunsAndIsObserved()
    {
        var problem = TinyDefenseProblem.Create();
        var original = problem.Parameters.Select(e => e.Tensor.ToArray()).ToList();
        var observer = new RecordingObserver();

        var result = new Tsc(Quick).Run(problem.Input(), observer);

        string[] expectedUnits =
        [
            "round1.stage1-curve", "round1.stage1-point", "round1.stage2-curve", "round1.stage2-point", "round1.finetune",
            "round2.stage1-curve", "round2.stage1-point", "round2.stage2-curve", "round2.stage2-point",
        ];
        Assert.Equal(expectedUnits, observer.Started);
        Assert.Equal(expectedUnits, observer.Finished.Select(f => f.Id));
        Assert.All(observer.Finished, f => Assert.False(f.Resumed));
        Assert.Equal(
            ["round 1 · stage 1", "round 1 · stage 2", "round 1 · fine-tune", "round 2 · stage 1", "round 2 · stage 2"],
            observer.Evaluations.Select(e => e.Label));
        Assert.Equal(1, observer.BeforeCount);
        Assert.Equal(result.Stages.Select(s => s.Label), observer.Evaluations.Select(e => e.Label));
        Assert.Equal(result.Stages[^1].Scores, result.After);
        Assert.NotNull(result.Before);
        Assert.Equal(9, result.UnitsRun);
        Assert.Equal(0, result.UnitsResumed);

        // A new model of the same shapes, different from θ; θ itself untouched.
        Assert.Equal(problem.Parameters.Names, result.Purified.Names);
        Assert.Contains(result.Purified, e => !e.Tensor.ToArray().SequenceEqual(problem.Parameters[e.Name].ToArray()));
        Assert.Equal(original, problem.Parameters.Select(e => e.Tensor.ToArray()).ToList());
        Assert.All(result.Purified, e => Assert.All(e.Tensor.ToArray(), v => Assert.True(float.IsFinite(v))));
    }

    [Fact]
    public void ResumingAfterAnInterruptionRedoesNoFinishedUnitAndEndsWithTheSameWeights()
    {
        var problem = TinyDefenseProblem.Create();
        using var straight = new Circumvent.Tests.Data.TempFolder();
        using var interrupted = new Circumvent.Tests.Data.TempFolder();
        string straightRun = Path.Combine(straight.Path, "run"), interruptedRun = Path.Combine(interrupted.Path, "run");

        var reference = new Tsc(Quick).Run(problem.Input() with { RunFolder = straightRun });

        // Stop right after the first curve is saved (as Ctrl-C between units would).
        var stopper = new RecordingObserver { StopAfter = "round1.stage1-curve" };
        Assert.Throws<InterruptedForTest>(() => new Tsc(Quick).Run(problem.Input() with { RunFolder = interruptedRun }, stopper));
        Assert.Equal(["round1.stage1-curve"], stopper.Started);

        var resumedObserver = new RecordingObserver();
        var resumed = new Tsc(Quick).Run(problem.Input() with { RunFolder = interruptedRun }, resumedObserver);
        Assert.DoesNotContain("round1.stage1-curve", resumedObserver.Started);
        Assert.Equal(3, resumedObserver.Started.Count(id => id.EndsWith("curve", StringComparison.Ordinal)));
        Assert.Contains(("round1.stage1-curve", true), resumedObserver.Finished.Select(f => (f.Id, f.Resumed)));
        Assert.Equal(1, resumed.UnitsResumed);
        Assert.Equal(8, resumed.UnitsRun);
        AssertSameWeights(reference.Purified, resumed.Purified);
        Assert.Equal(reference.After, resumed.After);
        Assert.Equal(reference.Stages, resumed.Stages);

        // A finished run resumes entirely from disk.
        var again = new RecordingObserver();
        var replay = new Tsc(Quick).Run(problem.Input() with { RunFolder = interruptedRun }, again);
        Assert.Empty(again.Started);
        Assert.Equal(9, replay.UnitsResumed);
        AssertSameWeights(reference.Purified, replay.Purified);

        // The curves are stored for `curve`.
        Assert.Equal(4, replay.Curves.Count);
        Assert.All(replay.Curves, c => Assert.True(File.Exists(c.Path)));
        var loaded = CurveFile.Load(replay.Curves[0].Path);
        Assert.Equal(1, loaded.Round);
        Assert.Equal("stage 1", loaded.Stage);
        AssertSameWeights(problem.Parameters, loaded.Curve.Start);
    }

    [Fact]
    public void AnInterruptionMidCurveResumesFromTheCurvesLastFinishedEpoch()
    {
        var problem = TinyDefenseProblem.Create();
        using var straight = new Circumvent.Tests.Data.TempFolder();
        using var interrupted = new Circumvent.Tests.Data.TempFolder();
        string straightRun = Path.Combine(straight.Path, "run"), interruptedRun = Path.Combine(interrupted.Path, "run");
        var reference = new Tsc(Quick).Run(problem.Input() with { RunFolder = straightRun });

        // Stop in the second (last) epoch of round 1's stage-2 curve: its first epoch is kept.
        var stopper = new RecordingObserver { StopDuring = (unit, line) => unit.Id == "round1.stage2-curve" && line.StartsWith("curve epoch 2/2", StringComparison.Ordinal) };
        Assert.Throws<InterruptedForTest>(() => new Tsc(Quick).Run(problem.Input() with { RunFolder = interruptedRun }, stopper));
        Assert.True(File.Exists(Path.Combine(interruptedRun, "round1.stage2-curve.state")));
        // The stopped call's seconds on that curve are kept; pretend they were many, to see them counted.
        string seconds = Path.Combine(interruptedRun, "round1.stage2-curve.seconds");
        Assert.True(double.Parse(File.ReadAllText(seconds), System.Globalization.CultureInfo.InvariantCulture) > 0);
        File.WriteAllText(seconds, "1000");

        var resumedObserver = new RecordingObserver();
        var resumed = new Tsc(Quick).Run(problem.Input() with { RunFolder = interruptedRun }, resumedObserver);
        var resumedCurveLines = resumedObserver.ProgressLines.Where(l => l.Id == "round1.stage2-curve").Select(l => l.Detail).ToList();
        Assert.NotEmpty(resumedCurveLines);
        Assert.All(resumedCurveLines, line => Assert.StartsWith("curve epoch 2/2", line)); // epoch 1 was not redone
        AssertSameWeights(reference.Purified, resumed.Purified);
        Assert.Equal(reference.Stages, resumed.Stages);
        Assert.Empty(Directory.GetFiles(interruptedRun, "*.state")); // a saved curve needs no state
        Assert.Empty(Directory.GetFiles(interruptedRun, "*.seconds")); // nor a count of its own
        Assert.InRange(resumed.ComputeSeconds, 1000, 1000 + 10 * reference.ComputeSeconds + 60);
    }

    [Fact]
    public void InMemoryRunEqualsTheCheckpointedOneForTheSameSeed()
    {
        var problem = TinyDefenseProblem.Create();
        using var folder = new Circumvent.Tests.Data.TempFolder();
        var options = Quick with { Rounds = 1 };
        var onDisk = new Tsc(options).Run(problem.Input() with { RunFolder = Path.Combine(folder.Path, "run") });
        var inMemory = new Tsc(options).Run(problem.Input());
        AssertSameWeights(onDisk.Purified, inMemory.Purified);
        var otherSeed = new Tsc(options).Run(problem.Input() with { Seed = 99 });
        Assert.Contains(otherSeed.Purified, e => !e.Tensor.ToArray().SequenceEqual(inMemory.Purified[e.Name].ToArray()));
    }

    [Fact]
    public void ResumingWithDifferentSettingsIsRefusedWithTheDifference()
    {
        var problem = TinyDefenseProblem.Create();
        using var folder = new Circumvent.Tests.Data.TempFolder();
        string run = Path.Combine(folder.Path, "run");
        var stopper = new RecordingObserver { StopAfter = "round1.stage1-curve" };
        Assert.Throws<InterruptedForTest>(() => new Tsc(Quick).Run(problem.Input() with { RunFolder = run }, stopper));

        var error = Assert.Throws<ArgumentException>(() => new Tsc(Quick with { T = 0.3 }).Run(problem.Input() with { RunFolder = run }));
        Assert.Contains("options.t", error.Message);
        var seedError = Assert.Throws<ArgumentException>(() => new Tsc(Quick).Run(problem.Input() with { RunFolder = run, Seed = 5 }));
        Assert.Contains("seed", seedError.Message);
    }

    [Fact]
    public void OptionsOutsideTheirRangeAreRejectedBeforeAnyWork()
    {
        var problem = TinyDefenseProblem.Create();
        using var folder = new Circumvent.Tests.Data.TempFolder();
        string run = Path.Combine(folder.Path, "run");
        Assert.Contains("--t", Assert.Throws<ArgumentException>(() => new Tsc(Quick with { T = 1 }).Run(problem.Input() with { RunFolder = run })).Message);
        Assert.Contains("--rounds", Assert.Throws<ArgumentException>(() => new Tsc(Quick with { Rounds = 0 }).Run(problem.Input())).Message);
        Assert.Contains("--curve-epochs", Assert.Throws<ArgumentException>(() =>
            new Tsc(Quick with { Curve = Quick.Curve with { Epochs = 0 } }).Run(problem.Input())).Message);
        Assert.False(Directory.Exists(run));
    }

    internal static void AssertSameWeights(ParameterSet expected, ParameterSet actual)
    {
        Assert.Equal(expected.Names, actual.Names);
        foreach (var e in expected) Assert.Equal(e.Tensor.ToArray(), actual[e.Name].ToArray());
    }
}

/// <summary>Thrown by <see cref="RecordingObserver"/> to simulate an interruption.</summary>
internal sealed class InterruptedForTest : Exception;

/// <summary>Records what a defence reports; can stop the run after a given unit is saved.</summary>
internal sealed class RecordingObserver : IDefenseObserver
{
    public string? StopAfter { get; init; }
    /// <summary>Stops the run from inside a unit when a progress line satisfies it (as Ctrl-C mid-curve would).</summary>
    public Func<DefenseUnit, string, bool>? StopDuring { get; init; }
    public List<string> Started { get; } = [];
    public List<(string Id, string Detail)> ProgressLines { get; } = [];

    public void Progress(DefenseUnit unit, string detail)
    {
        ProgressLines.Add((unit.Id, detail));
        if (StopDuring?.Invoke(unit, detail) == true) throw new InterruptedForTest();
    }

    public List<(string Id, bool Resumed)> Finished { get; } = [];
    public List<StageEvaluation> Evaluations { get; } = [];
    public int BeforeCount { get; private set; }

    public void UnitStarted(DefenseUnit unit) => Started.Add(unit.Id);

    public void UnitFinished(DefenseUnit unit, bool resumed)
    {
        Finished.Add((unit.Id, resumed));
        if (unit.Id == StopAfter && !resumed) throw new InterruptedForTest();
    }

    public void EvaluatedBefore(BackdoorScores scores) => BeforeCount++;

    public void Evaluated(StageEvaluation evaluation) => Evaluations.Add(evaluation);
}

/// <summary>
/// A four-class 1×6×6 problem (class k = a bright quadrant on noise) and a small MLP trained on it,
/// so every defence stage has something real to work on in well under a second.
/// </summary>
internal sealed class TinyDefenseProblem
{
    public required IArchitecture Architecture { get; init; }
    public required ParameterSet Parameters { get; init; }
    public required ImageDataset Clean { get; init; }
    public required ImageDataset Test { get; init; }
    public Normalization Normalization { get; } = Normalization.Identity(1);

    public static TinyDefenseProblem Create(string arch = "mlp", double width = 1.0 / 32, int size = 6)
    {
        var train = Images(160, size, seed: 1);
        var architecture = Architectures.Create(new ArchitectureConfig(arch, 1, size, size, 4, width));
        var parameters = architecture.Initialize(new Random(3));
        var config = new TrainingConfig { Architecture = arch, Epochs = 4, BatchSize = 16, LearningRate = 0.05, Augment = false };
        var source = new BatchLoaderSource(new BatchLoader(train, Normalization.Identity(1), BatchLoaderOptions.Training(16, 7)));
        new Trainer(architecture, parameters, config, new RunningStatsUpdater(parameters)).Train(source);
        return new TinyDefenseProblem
        {
            Architecture = architecture,
            Parameters = parameters,
            Clean = Images(48, size, seed: 2),
            Test = Images(80, size, seed: 4),
        };
    }

    public DefenseInput Input() => new()
    {
        Architecture = Architecture,
        Parameters = Parameters,
        Clean = Clean,
        Normalization = Normalization,
        Objective = new SupervisedObjective(0),
        Seed = 11,
        Evaluate = p => BackdoorMetrics.Evaluate(Architecture, p, Test, Normalization, null),
    };

    private static ImageDataset Images(int count, int size, int seed)
    {
        var rng = new Random(seed);
        var pixels = new byte[count * size * size];
        var labels = new int[count];
        int half = size / 2;
        for (int i = 0; i < count; i++)
        {
            int label = i % 4;
            labels[i] = label;
            var image = pixels.AsSpan(i * size * size, size * size);
            for (int p = 0; p < image.Length; p++) image[p] = (byte)rng.Next(0, 80);
            int top = label / 2 * half, left = label % 2 * half;
            for (int y = top; y < top + half; y++)
                for (int x = left; x < left + half; x++) image[y * size + x] = (byte)rng.Next(170, 256);
        }
        return new ImageDataset(pixels, labels, 1, size, size, ["a", "b", "c", "d"]);
    }
}
