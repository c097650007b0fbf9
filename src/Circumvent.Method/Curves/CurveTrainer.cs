using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine.Optim;
using Circumvent.Models;

namespace Circumvent.Method.Curves;

/// <summary>
/// Trains the middle bend of a quadratic Bézier curve between two fixed models (Garipov et al.) —
/// or, with <see cref="CurveOptions.TrainEndpoints"/>, all three bends (the adaptive attack):
/// per mini-batch one t ~ U(0, 1), forward with w(t) in training mode (BN on batch statistics, no
/// running statistics kept), loss = objective + 0.5·λ·‖w(t)‖², backward into the trained bends,
/// SGD with momentum and weight decay on them, cosine learning rate per step over the actual run.
/// Deterministic for a given <see cref="CurveOptions.Seed"/>, resumed or not.
/// </summary>
public static class CurveTrainer
{
    /// <param name="checkpoint">Keeps the fit's progress (after an epoch, at most once per save interval, and when the fit ends or stops), and continues from it (null = none).</param>
    public static BezierCurve Fit(IArchitecture arch, ParameterSet start, ParameterSet end, ImageDataset clean,
        Normalization normalization, CurveOptions options, ITrainingObjective objective,
        IProgress<StageProgress>? progress = null, CancellationToken cancellation = default, EpochCheckpoint? checkpoint = null)
    {
        options.Validate();
        if (clean.Count < 2) throw new ArgumentException($"Curve training needs at least 2 clean images, got {clean.Count}.");
        // Own copies: the caller's models stay untouched whatever happens to the curve.
        bool all = options.TrainEndpoints;
        var line = BezierCurve.Initialize(start.Clone(requiresGrad: all), end.Clone(requiresGrad: all));
        var curve = all ? new BezierCurve(line.Start, line.Middle, line.End) { TrainsEndpoints = true } : line;
        var trained = all ? curve.AllBendTensors() : curve.TrainableTensors();
        var optimizer = new Sgd(trained, options.LearningRate, options.Momentum, options.WeightDecay);
        var loader = OptionChecks.TrainingLoader(clean, normalization, options.BatchSize, options.Seed, options.AugmentationFor(clean.Height));
        var schedule = new CosineSchedule(options.LearningRate, options.Epochs * loader.BatchesPerEpoch);
        var epochs = new ResumableEpochs(checkpoint?.ForCurve(curve), optimizer, options.Epochs, options.Seed, dropout => ForwardContext.Train(null, dropout));
        // A stream the loader never uses (stream -1, batch -2), so t is independent of crops and order.
        // One t per batch from one stream: a resumed fit skips the draws of the epochs done.
        var tDraws = new Random(BatchLoader.MixSeed(options.Seed, -1, -2));
        for (long i = 0; i < (long)epochs.Done * loader.BatchesPerEpoch; i++) tDraws.NextDouble();

        double Step(Batch batch)
        {
            optimizer.ZeroGrad();
            var weights = curve.WeightsAt(tDraws.NextDouble());
            var objectiveLoss = objective.Loss(arch, weights, batch, epochs.Context);
            var loss = WeightPenalty.AddL2(objectiveLoss, weights.Parameters.Select(e => e.Tensor).ToList(), options.L2);
            double value = loss.Item();
            loss.Backward(releaseIntermediates: true);
            optimizer.Step();
            return value;
        }

        StepLoop.Run("curve", loader, options.Epochs, optimizer, schedule, Step, progress, cancellation, firstEpoch: epochs.Done,
            epochFinished: epochs.Finished, ended: epochs.Ended);
        return curve;
    }
}
