using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Method.Curves;
using Circumvent.Method.Permutations;
using Circumvent.Models;

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

    public BezierCurve FitCurve(ParameterSet start, ParameterSet end, CurveSettings settings, int seed, DefenseUnit unit, IDefenseObserver? observer)
    {
        var options = new CurveOptions
        {
            Epochs = settings.Epochs,
            LearningRate = settings.LearningRate,
            BatchSize = settings.BatchSize,
            Momentum = settings.Momentum,
            WeightDecay = settings.WeightDecay,
            L2 = settings.L2,
            Augment = settings.Augment,
            Seed = seed,
        };
        return CurveTrainer.Fit(Arch, start, end, _input.Clean, _input.Normalization, options, _input.Objective, Progress(unit, observer));
    }

    /// <summary>The curve's weights at t with BN statistics re-estimated on D.</summary>
    public ParameterSet PointAt(BezierCurve curve, double t, int batchSize) =>
        CurvePoint.At(Arch, curve, t, _input.Clean, _input.Normalization, batchSize);

    public ParameterSet FineTune(ParameterSet parameters, FineTuneSettings settings, int seed, DefenseUnit unit, IDefenseObserver? observer)
    {
        var options = new FineTuneOptions
        {
            Epochs = settings.Epochs,
            LearningRate = settings.LearningRate,
            BatchSize = settings.BatchSize,
            Momentum = settings.Momentum,
            WeightDecay = settings.WeightDecay,
            Augment = settings.Augment,
            Seed = seed,
        };
        return FineTuner.Run(Arch, parameters, _input.Clean, _input.Normalization, options, _input.Objective, Progress(unit, observer));
    }

    /// <summary>Progress reports forwarded to the observer; also where Ctrl-C interrupts a long unit.</summary>
    private IProgress<string> Progress(DefenseUnit unit, IDefenseObserver? observer) => new ProgressRelay(detail =>
    {
        _input.Cancellation.ThrowIfCancellationRequested();
        observer?.Progress(unit, detail);
    });

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

    /// <summary>Synchronous IProgress (System.Progress posts to a context; a run must see reports in order, on its thread).</summary>
    private sealed class ProgressRelay(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
