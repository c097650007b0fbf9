using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>Builds the optimiser and learning-rate schedule a <see cref="TrainingConfig"/> describes.</summary>
public static class Factories
{
    public static IOptimizer CreateOptimizer(TrainingConfig config, IReadOnlyList<Tensor> parameters) =>
        CreateOptimizer(config.Optimizer, parameters, config.LearningRate, config.Momentum, config.WeightDecay, config.Nesterov);

    /// <summary>The config's optimiser over named tensors, with its SGD parameter groups (<see cref="TrainingConfig.LearningRateScales"/>).</summary>
    public static IOptimizer CreateOptimizer(TrainingConfig config, IReadOnlyList<NamedTensor> parameters)
    {
        var tensors = parameters.Select(p => p.Tensor).ToList();
        if (config.LearningRateScales is not { Length: > 0 } rules) return CreateOptimizer(config, tensors);
        var names = parameters.Select(p => p.Name).ToArray();
        foreach (var rule in rules.Select(LearningRateScale.Parse)) rule.Pattern.RequireMatch("--lr-scale", names);
        return new Sgd(tensors, config.LearningRate, config.Momentum, config.WeightDecay, config.Nesterov && config.Momentum > 0,
            LearningRateScale.For(parameters.Select(p => p.Name), rules));
    }

    /// <summary>
    /// The training augmentation: none, or the dataset's (<paramref name="dataset"/>: a crop with zero padding, a flip
    /// where mirroring keeps the class), with the config's overrides: ±<see cref="TrainingConfig.Translate"/> with
    /// reflect padding instead of the crop, and airbench's alternating flip instead of a random one.
    /// </summary>
    public static Augmentation CreateAugmentation(TrainingConfig config, Augmentation dataset)
    {
        if (!config.Augment) return Augmentation.None;
        bool alternate = config.Flip == "alternate";
        return dataset with
        {
            CropPadding = config.Translate ?? dataset.CropPadding,
            Reflect = config.Translate is not null || dataset.Reflect,
            HorizontalFlip = dataset.HorizontalFlip || alternate,
            AlternateFlip = alternate,
        };
    }

    /// <summary>The running-statistics updater of a run's BN layers, at the config's BN momentum (PyTorch's 0.1 unless set).</summary>
    public static RunningStatsUpdater CreateRunningStats(TrainingConfig config, ParameterSet parameters) =>
        new(parameters, (float)(config.BatchNormMomentum ?? 0.1));

    /// <summary>The hooks the config asks for, in the order they run: freezing before each epoch, then lookahead after each step.</summary>
    public static IReadOnlyList<ITrainingHook> CreateHooks(TrainingConfig config, ParameterSet parameters)
    {
        var hooks = new List<ITrainingHook>();
        if (config.Freeze is { Length: > 0 } rules) hooks.Add(new FreezeSchedule(parameters.Parameters, rules));
        if (config.LookaheadEvery is int every) hooks.Add(new Lookahead(parameters, every, config.LookaheadDecay ?? Lookahead.DefaultDecay));
        return hooks;
    }

    /// <param name="name">sgd, adam, adamw or amsgrad (Adam with torch's amsgrad flag) (<see cref="TrainingConfig.Optimizers"/>); momentum and Nesterov apply to SGD only.</param>
    public static IOptimizer CreateOptimizer(string name, IReadOnlyList<Tensor> parameters, double learningRate, double momentum,
        double weightDecay, bool nesterov) => name switch
    {
        "sgd" => new Sgd(parameters, learningRate, momentum, weightDecay, nesterov && momentum > 0),
        "adam" => new Adam(parameters, learningRate, weightDecay: weightDecay),
        "adamw" => new AdamW(parameters, learningRate, weightDecay: weightDecay),
        "amsgrad" => new Adam(parameters, learningRate, weightDecay: weightDecay, amsgrad: true),
        _ => throw new ArgumentException($"--optimizer must be one of {string.Join(", ", TrainingConfig.Optimizers)}, got '{name}'."),
    };

    /// <summary>
    /// Per-step schedule over the run's real length (⌈epochs × batches per epoch⌉). Warm-up takes
    /// the first warmup-epochs; cosine then anneals over the remaining steps to zero; the triangle
    /// spans the steps after warm-up.
    /// </summary>
    public static ILearningRateSchedule CreateSchedule(TrainingConfig config, int stepsPerEpoch)
    {
        if (stepsPerEpoch <= 0) throw new ArgumentException($"An epoch must have at least one step, got {stepsPerEpoch}.");
        int total = config.TotalSteps(stepsPerEpoch);
        var triangle = config.Triangle ?? TrainingConfig.DefaultTriangle;
        int warmup = Math.Min(total - 1, (int)Math.Round(config.WarmupEpochs * stepsPerEpoch));
        ILearningRateSchedule main = config.Schedule switch
        {
            "cosine" when config.CosineHalfPeriodSteps is int halfPeriod => new CosineSchedule(config.LearningRate, halfPeriod, continuePastEnd: true),
            "cosine" => new CosineSchedule(config.LearningRate, total - warmup),
            "step" => new StepDecaySchedule(config.LearningRate, config.StepEpochs * stepsPerEpoch, config.StepGamma),
            "triangle" => new TriangleSchedule(config.LearningRate, total - warmup, triangle[0], triangle[1], triangle[2]),
            "none" => new ConstantSchedule(config.LearningRate),
            _ => throw new ArgumentException($"--schedule must be one of {string.Join(", ", TrainingConfig.Schedules)}, got '{config.Schedule}'."),
        };
        return warmup > 0 ? new WarmupSchedule(main, warmup) : main;
    }
}
