using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Method.Curves;
using Circumvent.Method.Permutations;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Defenses;

/// <summary>
/// The method's building blocks (permutation matching, curve fitting, curve points, fine-tuning)
/// bound to one defence input, so the defences read like the paper's algorithms. This is the only
/// place that knows the signatures of the Permutations/ and Curves/ code.
/// </summary>
internal sealed class PurificationSteps : IDisposable
{
    private readonly DefenseInput _input;
    private List<Tensor>? _probeBatches;

    public PurificationSteps(DefenseInput input) => _input = input;

    private IArchitecture Arch => _input.Architecture;

    /// <summary>θ with every permutation group shuffled at random: the same function, another basin.</summary>
    public ParameterSet RandomlyPermuted(ParameterSet parameters, int seed) =>
        PermutationSpecs.ApplyRandom(Arch, parameters, new Random(seed));

    /// <summary>A copy of <paramref name="toPermute"/> whose units are matched (or anti-matched) to <paramref name="reference"/> on D.</summary>
    public ParameterSet PermuteLayers(ParameterSet reference, ParameterSet toPermute, MatchMode mode) =>
        ActivationMatcher.PermuteLayers(Arch, reference, toPermute, ProbeBatches(), mode);

    public BezierCurve FitCurve(ParameterSet start, ParameterSet end, CurveOptions settings, int seed, DefenseUnit unit, IDefenseObserver? observer,
        EpochCheckpoint? checkpoint) =>
        CurveTrainer.Fit(Arch, start, end, _input.Clean, _input.Normalization, settings with { Seed = seed, DatasetAugmentation = _input.Augmentation }, _input.Objective,
            Progress(unit, observer), _input.Cancellation, checkpoint);

    /// <summary>The curve's weights at t with BN statistics re-estimated on D, augmented as the curve was trained.</summary>
    public ParameterSet PointAt(BezierCurve curve, double t, CurveOptions settings, int seed) =>
        CurvePoint.At(Arch, curve, t, _input.Clean, _input.Normalization, settings.BatchSize,
            (settings with { DatasetAugmentation = _input.Augmentation }).AugmentationFor(_input.Clean.Height), seed);

    public ParameterSet FineTune(ParameterSet parameters, FineTuneOptions settings, int seed, DefenseUnit unit, IDefenseObserver? observer,
        EpochCheckpoint? checkpoint) =>
        FineTuner.Run(Arch, parameters, _input.Clean, _input.Normalization, settings with { Seed = seed, DatasetAugmentation = _input.Augmentation }, _input.Objective,
            Progress(unit, observer), _input.Cancellation, checkpoint);

    /// <summary>Step reports forwarded to the observer as one line each ("epoch 3/200 batch 5/10 loss …").</summary>
    private static IProgress<TrainingProgress>? Progress(DefenseUnit unit, IDefenseObserver? observer) =>
        observer is null ? null : new ProgressRelay(p => observer.Progress(unit,
            $"{p.Stage} epoch {p.Epoch}/{p.Epochs} batch {p.Batch}/{p.Batches} loss {p.Loss:F4} lr {p.LearningRate:g3} " +
            $"{p.ImagesPerSecond:F0} img/s, {FormatTime(p.EstimatedRemaining)} left"));

    private static string FormatTime(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : $"{t.Minutes}m{t.Seconds:D2}s";

    /// <summary>D in order, normalised, without augmentation: the batches activations are matched on.</summary>
    private List<Tensor> ProbeBatches()
    {
        if (_probeBatches is not null) return _probeBatches;
        var loader = new BatchLoader(_input.Clean, _input.Normalization, BatchLoaderOptions.Evaluation(256) with { Prefetch = false });
        _probeBatches = [.. loader.Epoch(0).Select(b => b.Images)];
        return _probeBatches;
    }

    public void Dispose()
    {
        if (_probeBatches is null) return;
        foreach (var t in _probeBatches) t.Dispose();
        _probeBatches = null;
    }
}
