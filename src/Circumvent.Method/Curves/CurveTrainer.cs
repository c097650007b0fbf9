using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine.Optim;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Curves;

/// <summary>
/// Trains the middle bend of a quadratic Bézier curve between two fixed models (Garipov et al.) —
/// or, with <see cref="CurveOptions.TrainEndpoints"/>, all three bends (the adaptive attack):
/// per mini-batch one t ~ U(0, 1), forward with w(t) in training mode (BN on batch statistics, no
/// running statistics kept), loss = objective + 0.5·λ·‖w(t)‖², backward into the trained bends,
/// SGD with momentum and weight decay on them (or Adam, <see cref="CurveOptions.Optimizer"/>), cosine learning rate over the actual run,
/// stepped per batch or, with <see cref="CurveOptions.SchedulePerEpoch"/>, per epoch.
/// The <see cref="TrainingLoop"/> with the curve's w(t) as the step's weights. Deterministic for a
/// given <see cref="CurveOptions.Seed"/>, resumed or not.
/// </summary>
public static class CurveTrainer
{
    /// <param name="checkpoint">Keeps the fit's progress (after an epoch, at most once per save interval, and when the fit ends or stops), and continues from it (null = none).</param>
    public static BezierCurve Fit(IArchitecture arch, ParameterSet start, ParameterSet end, ImageDataset clean,
        Normalization normalization, CurveOptions options, ITrainingObjective objective,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default, EpochCheckpoint? checkpoint = null)
    {
        options.Validate();
        if (clean.Count < 2) throw new ArgumentException($"Curve training needs at least 2 clean images, got {clean.Count}.");
        // Own copies: the caller's models stay untouched whatever happens to the curve.
        bool all = options.TrainEndpoints;
        var line = BezierCurve.Initialize(start.Clone(requiresGrad: all), end.Clone(requiresGrad: all));
        var curve = all ? new BezierCurve(line.Start, line.Middle, line.End) { TrainsEndpoints = true } : line;
        var trained = all ? curve.AllBendTensors() : curve.TrainableTensors();
        var loader = OptionChecks.TrainingLoader(clean, normalization, options.BatchSize, options.Seed, options.AugmentationFor(clean.Height), options.ViewAugmentation);
        new TrainingLoop
        {
            Stage = "curve",
            Architecture = arch,
            Weights = new CurveWeights(curve, options.Seed, objective.WeightDrawsPerStep),
            Objective = new WithWeightPenalty(objective, options.L2),
            Optimizer = OptionChecks.CreateOptimizer(options.Optimizer, trained, options.LearningRate, options.Momentum, options.WeightDecay),
            Schedule = OptionChecks.Schedule(options.SchedulePerEpoch, loader.BatchesPerEpoch,
                stepsPerEpoch => new CosineSchedule(options.LearningRate, options.Epochs * stepsPerEpoch)),
            Epochs = options.Epochs,
            ContextForEpoch = epoch => ForwardContext.Train(null, OptionChecks.DropoutStream(options.Seed, epoch)),
            State = checkpoint?.ForCurve(curve),
            Progress = progress,
            Cancellation = cancellation,
        }.Run(new BatchLoaderSource(loader));
        return curve;
    }

    /// <summary>
    /// w(t) for one t ~ U(0, 1) per draw (one per step, or one per forward call of a two-view objective), all from
    /// one stream the loader never uses (stream -1, batch -2), so t is independent of crops and order; a resumed fit
    /// skips the <paramref name="drawsPerStep"/> draws of every step of the epochs done.
    /// </summary>
    private sealed class CurveWeights(BezierCurve curve, int seed, int drawsPerStep) : IStepWeights
    {
        private readonly Random _draws = new(BatchLoader.MixSeed(seed, -1, -2));
        private long _drawn;

        public ParameterSet ForStep()
        {
            _drawn++;
            return curve.WeightsAt(_draws.NextDouble());
        }

        public void BeginEpoch(int epoch, int batchesPerEpoch)
        {
            for (long skip = (long)epoch * batchesPerEpoch * drawsPerStep; _drawn < skip; _drawn++) _draws.NextDouble();
        }
    }

    /// <summary>
    /// The objective's loss at w(t) + 0.5·λ·‖w(t)‖² (the curve's L2 term); the rest of the objective as it is. With
    /// several draws per step the term is taken at the last one (the authors' regulariser reads the last forward call's
    /// weights: the second view's t).
    /// </summary>
    internal sealed class WithWeightPenalty(ITrainingObjective inner, double l2) : ITrainingObjective
    {
        public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context) =>
            Loss(architecture, () => weights, batch, context);

        public BatchLoss Loss(IArchitecture architecture, Func<ParameterSet> draw, Batch batch, ForwardContext context)
        {
            ParameterSet? last = null;
            var result = inner.Loss(architecture, () => last = draw(), batch, context);
            if (last is null) throw new InvalidOperationException("The curve objective drew no weights.");
            return result with { Loss = WeightPenalty.AddL2(result.Loss, last.Parameters.Select(e => e.Tensor).ToList(), l2) };
        }

        public int WeightDrawsPerStep => inner.WeightDrawsPerStep;
        public bool ResumesWithinEpoch => inner.ResumesWithinEpoch;

        public void BeginEpoch(int epoch) => inner.BeginEpoch(epoch);
        public void AfterStep(double learningRate) => inner.AfterStep(learningRate);
        public TrainingStatePart? StatePart => inner.StatePart;
    }
}
