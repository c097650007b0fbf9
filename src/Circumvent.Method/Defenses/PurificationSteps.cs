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
internal sealed class PurificationSteps
{
    private readonly DefenseInput _input;

    public PurificationSteps(DefenseInput input) => _input = input;

    private IArchitecture Arch => _input.Architecture;

    /// <summary>θ with every permutation group shuffled at random: the same function, another basin.</summary>
    public ParameterSet RandomlyPermuted(ParameterSet parameters, int seed) =>
        PermutationSpecs.ApplyRandom(Arch, parameters, new Random(seed));

    /// <summary>A copy of <paramref name="toPermute"/> whose units are matched (or anti-matched) to <paramref name="reference"/> on D.</summary>
    /// <param name="seed">Draws the shuffle and augmentation of the batches (<see cref="MatchingBatches"/>).</param>
    public ParameterSet PermuteLayers(ParameterSet reference, ParameterSet toPermute, MatchMode mode, MatchingOptions? matching, int seed)
    {
        var batches = MatchingBatches(_input, matching, seed);
        try { return ActivationMatcher.PermuteLayers(Arch, reference, toPermute, batches, mode); }
        finally { foreach (var t in batches) t.Dispose(); }
    }

    public BezierCurve FitCurve(ParameterSet start, ParameterSet end, CurveOptions settings, int seed, DefenseUnit unit, IDefenseObserver? observer,
        EpochCheckpoint? checkpoint) =>
        CurveTrainer.Fit(Arch, start, end, _input.Clean, _input.Normalization, settings with { Seed = seed, DatasetAugmentation = _input.Augmentation, ViewAugmentation = _input.ViewAugmentation }, _input.Objective,
            Progress(unit, observer), _input.Cancellation, checkpoint);

    /// <summary>The curve's weights at t with BN statistics re-estimated on D, augmented as the curve was trained.</summary>
    public ParameterSet PointAt(BezierCurve curve, double t, CurveOptions settings, int seed) =>
        CurvePoint.At(Arch, curve, t, _input.Clean, _input.Normalization, settings.BatchSize,
            (settings with { DatasetAugmentation = _input.Augmentation }).AugmentationFor(_input.Clean.Height), seed, _input.ViewAugmentation);

    /// <param name="hook">Runs beside the optimiser on the weights being tuned (see <see cref="FineTuner.Run"/>); null = none.</param>
    public ParameterSet FineTune(ParameterSet parameters, FineTuneOptions settings, int seed, DefenseUnit unit, IDefenseObserver? observer,
        EpochCheckpoint? checkpoint, Func<ParameterSet, ITrainingHook>? hook = null) =>
        FineTuner.Run(Arch, parameters, _input.Clean, _input.Normalization, settings with { Seed = seed, DatasetAugmentation = _input.Augmentation, ViewAugmentation = _input.ViewAugmentation }, _input.Objective,
            Progress(unit, observer), _input.Cancellation, checkpoint, hook);

    /// <summary>Step reports forwarded to the observer as one line each ("epoch 3/200 batch 5/10 loss …").</summary>
    internal static IProgress<TrainingProgress>? Progress(DefenseUnit unit, IDefenseObserver? observer) =>
        observer is null ? null : new ProgressRelay(p =>
        {
            string detail = $"{p.Stage} epoch {p.Epoch}/{p.Epochs} batch {p.Batch}/{p.Batches} loss {p.Loss:F4} lr {p.LearningRate:g3} " +
                $"{p.ImagesPerSecond:F0} img/s, {FormatTime(p.EstimatedRemaining)} left";
            observer.Progress(unit, detail);
            if (p.IsEpochEnd) observer.EpochFinished(unit, p.Epoch, p.Epochs, detail);
        });

    private static string FormatTime(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : $"{t.Minutes}m{t.Seconds:D2}s";

    /// <summary>
    /// The normalised image batches (B, C, H, W) of D that activation matching runs both networks on, as
    /// <paramref name="matching"/> says (null: <see cref="MatchingOptions.InOrder"/>); shuffle and crops drawn by
    /// <paramref name="seed"/>. A trailing batch of one image is kept (eval mode needs no batch statistics). A contrastive
    /// defence's batches, when augmented, are one view of its view augmentation (the authors: view 1 of the pair loader).
    /// </summary>
    internal static List<Tensor> MatchingBatches(DefenseInput input, MatchingOptions? matching, int seed)
    {
        var m = matching ?? MatchingOptions.InOrder;
        var loader = new BatchLoader(input.Clean, input.Normalization, new BatchLoaderOptions
        {
            BatchSize = m.BatchSize,
            Shuffle = m.Shuffle,
            Seed = seed,
            Augmentation = m.Augment && input.ViewAugmentation is not null ? Augmentation.None
                : OptionChecks.AugmentationFor(m.Augment, input.Augmentation, input.Clean.Height),
            ViewAugmentation = m.Augment ? input.ViewAugmentation : null,
            Prefetch = false,
        });
        return [.. loader.Epoch(0).Select(b => b.Images)];
    }
}
