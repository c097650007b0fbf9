using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Attacks;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// The parts of SBL's schedule (<see cref="SblSchedule"/>) that <see cref="BackdoorTraining"/> runs around its
/// ordinary training: the three-way split before poisoning, SAM for task 0, and task 1 (the diagonal Fisher on
/// the mixed part, then EWC training on the clean part) after it. Both tasks run on the one
/// <see cref="TrainingLoop"/> through <see cref="Trainer"/>; only the objective and the data differ.
/// </summary>
public static class SblTraining
{
    /// <summary>Indices into the training set: Mixed (task 0, poisoned), Clean (task 1), Defender (unused by the attacker); each ascending.</summary>
    public sealed record Splits(int[] Mixed, int[] Clean, int[] Defender);

    /// <summary>A seeded permutation cut into round(clean·N) clean, round(defender·N) defender, and the rest mixed.</summary>
    public static Splits Split(int count, SblSchedule schedule, int seed)
    {
        var order = Subsets.Permutation(count, new Random(seed));
        int clean = (int)Math.Round(schedule.CleanShare * count, MidpointRounding.AwayFromZero);
        int defender = (int)Math.Round(schedule.DefenderShare * count, MidpointRounding.AwayFromZero);
        if (clean < 1 || count - clean - defender < 1)
            throw new ArgumentException($"SBL's split of {count} training images leaves {clean} clean and {count - clean - defender} mixed; both need at least one.");
        int[] Sorted(int[] part) { Array.Sort(part); return part; }
        return new Splits(Sorted(order[(clean + defender)..]), Sorted(order[..clean]), Sorted(order[clean..(clean + defender)]));
    }

    /// <summary>Task 0's objective: the recipe's cross-entropy under SAM.</summary>
    public static ITrainingObjective TaskZeroObjective(TrainingConfig config, SblSchedule schedule) =>
        new SharpnessAwareObjective(new SupervisedObjective(config.LabelSmoothing), schedule.Rho);

    /// <summary>Task 1's recipe: the task-0 recipe's batch size, augmentation and seed; plain SGD at a constant rate, no extras.</summary>
    public static TrainingConfig TaskOneConfig(TrainingConfig config, SblSchedule schedule) => config with
    {
        Epochs = schedule.CleanEpochsAfter(config.Epochs),
        LearningRate = schedule.CleanLearningRate,
        Optimizer = "sgd",
        Momentum = 0,
        Nesterov = false,
        WeightDecay = 0,
        Schedule = "none",
        WarmupEpochs = 0,
        LookaheadEvery = null,
        LookaheadDecay = null,
        LearningRateScales = null,
        Freeze = null,
        WhitenInit = false,
    };

    /// <summary>
    /// Task 1, in place on <paramref name="parameters"/> (the end of task 0): the diagonal Fisher on the
    /// poisoned mixed part (in its order, unaugmented), then training on the clean part with EWC anchored at
    /// the task-0 weights. Its progress is kept at <paramref name="statePath"/>; a resumed call computes the Fisher
    /// again from the restored task-0 weights (deterministic, so the same).
    /// </summary>
    /// <param name="statePath">Where task 1 keeps its progress (refused when made with another <paramref name="runKey"/>).</param>
    /// <param name="inputsOf">What the inputs of a state of this key hold (<see cref="TrainingStateFile.InputDigest"/>).</param>
    /// <returns>Task 1's result and its state file, which the caller deletes once the model is saved.</returns>
    public static (TrainingResult Result, TrainingStateFile State) RunTaskOne(IArchitecture architecture, ParameterSet parameters, RunningStatsUpdater statsUpdater,
        TrainingConfig config, SblSchedule schedule, ImageDataset mixed, ImageDataset clean, Normalization inputs, Augmentation augmentation,
        string statePath, string runKey, ProgressSaving saving, BackdoorTraining.Display? display,
        Action<string>? log, CancellationToken cancellation, Func<string, Func<string>>? inputsOf = null)
    {
        var taskOne = TaskOneConfig(config, schedule);
        int fisherExamples = Math.Min(mixed.Count, schedule.FisherExamples ?? int.MaxValue);
        log?.Invoke($"sbl: diagonal Fisher over {fisherExamples} mixed examples, one at a time");
        var fisherData = new BatchLoaderSource(new BatchLoader(mixed, inputs, BatchLoaderOptions.Evaluation(256)));
        var fisher = DiagonalFisher.Estimate(architecture, parameters, fisherData, schedule.FisherExamples, cancellation: cancellation);
        var objective = new ElasticWeightConsolidation(new SupervisedObjective(config.LabelSmoothing), fisher, parameters, schedule.EwcLambda);

        var options = BatchLoaderOptions.Training(taskOne.BatchSize, taskOne.SeedFor(RandomStream.Shuffle), augmentation);
        if (clean.Count < taskOne.BatchSize) options = options with { DropLast = false };
        var data = new BatchLoaderSource(new BatchLoader(clean, inputs, options));
        var trainer = new Trainer(architecture, parameters, taskOne, statsUpdater) { Cancellation = cancellation, Objective = objective };
        string key = runKey + taskOne.ToJson();
        var state = new TrainingStateFile(statePath, parameters, statsUpdater, key, trainer.StateParts, saving) { InputDigest = inputsOf?.Invoke(key) };
        trainer.State = state;
        if (display is null && log is not null)
            trainer.Progress += p =>
            {
                if (p.IsEpochEnd) log($"sbl task 1 epoch {p.Epoch}/{p.Epochs} loss {p.Loss:F4} acc {100 * p.Accuracy:F2}% lr {p.LearningRate:g3}");
            };
        string header = $"sbl task 1: {clean.Count} clean images, EWC λ {schedule.EwcLambda:g3}, sgd lr {taskOne.LearningRate:g3} for {taskOne.Epochs} epochs";
        var result = display is null ? trainer.Train(data) : display(header, trainer, () => trainer.Train(data));
        return (result, state);
    }
}
