using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Curves;

/// <summary>
/// Short fine-tuning (SGD, or Adam: <see cref="FineTuneOptions.Optimizer"/>) of a copy of a model on the clean data, with any <see cref="ITrainingObjective"/>:
/// the <see cref="TrainingLoop"/> over the copy's parameters. BN running statistics follow PyTorch's
/// momentum update (<see cref="RunningStatsUpdater"/>, momentum 0.1).
/// </summary>
public static class FineTuner
{
    /// <param name="checkpoint">Keeps the progress (after an epoch, at most once per save interval, and when the run ends or stops), and continues from it (null = none).</param>
    /// <param name="hook">Runs beside the optimiser on the copy being tuned (e.g. keeping pruned weights at zero); null = none.</param>
    /// <returns>A new parameter set; <paramref name="parameters"/> is not modified.</returns>
    public static ParameterSet Run(IArchitecture arch, ParameterSet parameters, ImageDataset clean, Normalization normalization,
        FineTuneOptions options, ITrainingObjective objective,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default, EpochCheckpoint? checkpoint = null,
        Func<ParameterSet, ITrainingHook>? hook = null)
    {
        options.Validate();
        if (clean.Count < 2) throw new ArgumentException($"Fine-tuning needs at least 2 clean images, got {clean.Count}.");
        var tuned = parameters.Clone(requiresGrad: true);
        var config = new TrainingConfig
        {
            Epochs = options.Epochs,
            BatchSize = options.BatchSize,
            LearningRate = options.LearningRate,
            Momentum = options.Momentum,
            // torch.optim.SGD's default, as the authors' fine-tuning uses.
            Nesterov = false,
            WeightDecay = options.WeightDecay,
            Optimizer = options.Optimizer ?? "sgd",
            Schedule = options.Schedule,
            CosineHalfPeriodSteps = options.CosineHalfPeriodSteps,
            Seed = options.Seed,
        };
        config.Validate();
        var loader = OptionChecks.TrainingLoader(clean, normalization, options.BatchSize, options.Seed, options.AugmentationFor(clean.Height), options.ViewAugmentation);
        var statsUpdater = new RunningStatsUpdater(tuned);
        new TrainingLoop
        {
            Stage = "fine-tune",
            Architecture = arch,
            Weights = new ModelWeights(tuned),
            Objective = objective,
            Optimizer = Factories.CreateOptimizer(config, tuned.Parameters.Select(e => e.Tensor).ToList()),
            Schedule = OptionChecks.Schedule(options.SchedulePerEpoch, loader.BatchesPerEpoch, stepsPerEpoch => Factories.CreateSchedule(config, stepsPerEpoch)),
            Epochs = options.Epochs,
            Hooks = hook is null ? [] : [hook(tuned)],
            ContextForEpoch = epoch => ForwardContext.Train(statsUpdater, OptionChecks.DropoutStream(options.Seed, epoch)),
            State = checkpoint?.ForModel(tuned, statsUpdater),
            Progress = progress,
            Cancellation = cancellation,
        }.Run(new BatchLoaderSource(loader));
        // A clean copy without gradient buffers or the requires-grad flag, like a loaded checkpoint.
        return tuned.Clone();
    }
}
