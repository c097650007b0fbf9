using Circumvent.Engine;
using Circumvent.Engine.Optim;

namespace Circumvent.Training;

/// <summary>Builds the optimiser and learning-rate schedule a <see cref="TrainingConfig"/> describes.</summary>
public static class Factories
{
    public static IOptimizer CreateOptimizer(TrainingConfig config, IReadOnlyList<Tensor> parameters) =>
        CreateOptimizer(config.Optimizer, parameters, config.LearningRate, config.Momentum, config.WeightDecay, config.Nesterov);

    /// <param name="name">sgd, adam or adamw (<see cref="TrainingConfig.Optimizers"/>); momentum and Nesterov apply to SGD only.</param>
    public static IOptimizer CreateOptimizer(string name, IReadOnlyList<Tensor> parameters, double learningRate, double momentum,
        double weightDecay, bool nesterov) => name switch
    {
        "sgd" => new Sgd(parameters, learningRate, momentum, weightDecay, nesterov && momentum > 0),
        "adam" => new Adam(parameters, learningRate, weightDecay: weightDecay),
        "adamw" => new AdamW(parameters, learningRate, weightDecay: weightDecay),
        _ => throw new ArgumentException($"--optimizer must be one of {string.Join(", ", TrainingConfig.Optimizers)}, got '{name}'."),
    };

    /// <summary>
    /// Per-step schedule over the run's real length (epochs × batches per epoch). Warm-up takes
    /// the first warmup-epochs; cosine then anneals over the remaining steps to zero.
    /// </summary>
    public static ILearningRateSchedule CreateSchedule(TrainingConfig config, int stepsPerEpoch)
    {
        if (stepsPerEpoch <= 0) throw new ArgumentException($"An epoch must have at least one step, got {stepsPerEpoch}.");
        int total = config.Epochs * stepsPerEpoch;
        int warmup = Math.Min(total - 1, (int)Math.Round(config.WarmupEpochs * stepsPerEpoch));
        ILearningRateSchedule main = config.Schedule switch
        {
            "cosine" => new CosineSchedule(config.LearningRate, total - warmup),
            "step" => new StepDecaySchedule(config.LearningRate, config.StepEpochs * stepsPerEpoch, config.StepGamma),
            "none" => new ConstantSchedule(config.LearningRate),
            _ => throw new ArgumentException($"--schedule must be one of {string.Join(", ", TrainingConfig.Schedules)}, got '{config.Schedule}'."),
        };
        return warmup > 0 ? new WarmupSchedule(main, warmup) : main;
    }
}
