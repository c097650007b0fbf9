using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Curves;

/// <summary>
/// Short SGD fine-tuning of a copy of a model on the clean data, with any <see cref="ITrainingObjective"/>
/// (the Training layer's <see cref="Trainer"/> is fixed to cross-entropy, so this reuses its optimiser
/// and schedule factories around the shared step loop instead). BN running statistics follow
/// PyTorch's momentum update (<see cref="RunningStatsUpdater"/>, momentum 0.1).
/// </summary>
public static class FineTuner
{
    /// <param name="checkpoint">Keeps the progress (after an epoch, at most once per save interval, and when the run ends or stops), and continues from it (null = none).</param>
    /// <returns>A new parameter set; <paramref name="parameters"/> is not modified.</returns>
    public static ParameterSet Run(IArchitecture arch, ParameterSet parameters, ImageDataset clean, Normalization normalization,
        FineTuneOptions options, ITrainingObjective objective,
        IProgress<StageProgress>? progress = null, CancellationToken cancellation = default, EpochCheckpoint? checkpoint = null)
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
            Optimizer = "sgd",
            Schedule = options.Schedule,
            Seed = options.Seed,
        };
        config.Validate();
        var optimizer = Factories.CreateOptimizer(config, tuned.Parameters.Select(e => e.Tensor).ToList());
        var loader = OptionChecks.TrainingLoader(clean, normalization, options.BatchSize, options.Seed, options.AugmentationFor(clean.Height));
        var schedule = Factories.CreateSchedule(config, loader.BatchesPerEpoch);
        var statsUpdater = new RunningStatsUpdater(tuned);
        var epochs = new ResumableEpochs(checkpoint?.ForModel(tuned, statsUpdater), optimizer, options.Epochs, options.Seed,
            dropout => ForwardContext.Train(statsUpdater, dropout));

        double Step(Batch batch)
        {
            optimizer.ZeroGrad();
            var loss = objective.Loss(arch, tuned, batch, epochs.Context);
            double value = loss.Item();
            loss.Backward(releaseIntermediates: true);
            optimizer.Step();
            return value;
        }

        StepLoop.Run("fine-tune", loader, options.Epochs, optimizer, schedule, Step, progress, cancellation, firstEpoch: epochs.Done,
            epochFinished: epochs.Finished, ended: epochs.Ended);
        // A clean copy without gradient buffers or the requires-grad flag, like a loaded checkpoint.
        return tuned.Clone();
    }
}
