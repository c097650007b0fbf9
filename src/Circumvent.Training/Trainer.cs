using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// Training of a classifier from a <see cref="TrainingConfig"/>: the <see cref="TrainingLoop"/> over the
/// model's own parameters (in place) with the config's optimiser and schedule, cross-entropy (optionally
/// label-smoothed) unless another <see cref="Objective"/> is given, and a dropout stream per (seed, epoch).
/// </summary>
public sealed class Trainer
{
    private readonly IArchitecture _architecture;
    private readonly ParameterSet _parameters;
    private readonly TrainingConfig _config;

    /// <param name="batchNormObserver">Receives BN batch statistics (e.g. a running-stats updater); null for BN-free models.</param>
    public Trainer(IArchitecture architecture, ParameterSet parameters, TrainingConfig config, IBatchNormObserver? batchNormObserver = null)
    {
        config.Validate();
        _architecture = architecture;
        _parameters = parameters;
        _config = config;
        BatchNormObserver = batchNormObserver;
        // Made now, not per run: the lookahead's average starts from the weights as they are here.
        Hooks = Factories.CreateHooks(config, parameters);
    }

    /// <summary>The config's hooks (freezing, lookahead), run by every call of <see cref="Train"/>.</summary>
    public IReadOnlyList<ITrainingHook> Hooks { get; }

    /// <summary>What a <see cref="State"/> must hold besides the model: the objective's networks and the hooks' tensors.</summary>
    public IReadOnlyList<TrainingStatePart> StateParts =>
        [.. new[] { Objective?.StatePart }.Concat(Hooks.Select(h => h.StatePart)).OfType<TrainingStatePart>()];

    public IBatchNormObserver? BatchNormObserver { get; }

    /// <summary>Called after every step (on the training thread).</summary>
    public event Action<TrainingProgress>? Progress;

    /// <summary>Lets a caller stop between steps (e.g. Ctrl+C); the run then throws OperationCanceledException.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Replaces the plain cross-entropy on each batch (null = plain training).</summary>
    public ITrainingObjective? Objective { get; init; }

    /// <summary>
    /// Saves progress after every epoch, and inside one when it can resume there exactly (see
    /// <see cref="TrainingLoop"/>), and continues from it (null = a run that starts over when stopped). An <see cref="Objective"/> with networks of its own must offer them
    /// (<see cref="ITrainingObjective.StatePart"/>), which the state must then hold too.
    /// </summary>
    public ITrainingState? State { get; set; }

    public TrainingResult Train(IBatchSource data)
    {
        if (data.Count == 0) throw new ArgumentException("The training set is empty.");
        if (State is not null && Objective is { IsStateless: false, StatePart: null })
            throw new InvalidOperationException("This training objective's own networks cannot be saved with the training state; run it without one.");
        var trainable = _parameters.Parameters.ToList();
        foreach (var p in trainable) p.Tensor.RequiresGrad = true;
        int dropoutSeed = _config.SeedFor(RandomStream.Dropout);
        var loop = new TrainingLoop
        {
            Architecture = _architecture,
            Weights = new ModelWeights(_parameters),
            Objective = Objective ?? new SupervisedObjective(_config.LabelSmoothing),
            Optimizer = Factories.CreateOptimizer(_config, trainable),
            Schedule = Factories.CreateSchedule(_config, data.BatchesPerEpoch),
            Epochs = _config.EpochsEntered,
            TotalSteps = _config.TotalSteps(data.BatchesPerEpoch),
            Hooks = Hooks,
            // Dropout's draws derive from (seed, epoch), like the data order, so a resumed run repeats them.
            ContextForEpoch = epoch => ForwardContext.Train(BatchNormObserver, new Random(BatchLoader.MixSeed(dropoutSeed, epoch, 0))),
            State = State,
            Progress = new ProgressRelay(p => Progress?.Invoke(p)),
            Cancellation = Cancellation,
            LearningRateName = "--lr",
        };
        return loop.Run(data);
    }
}

/// <summary>A synchronous IProgress (System.Progress posts to a context; a run must see its reports in order, on its thread).</summary>
public sealed class ProgressRelay(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
