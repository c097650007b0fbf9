using System.Diagnostics;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Memory;
using Circumvent.Engine.Optim;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// The one mini-batch training loop: data → objective at the step's weights → backward → optimiser step
/// at the schedule's rate, for every kind of training (a classifier, a fine-tuning, a curve, InputAware's
/// mask network). Per step: set the rate, clear gradients, loss and backward inside a
/// <see cref="TensorScope"/>, step, let the objective update its own networks, stop on a non-finite
/// loss, report progress. After every epoch the <see cref="State"/> saves the run, and inside an epoch too (when a
/// write is due, and when the run is stopped) if it can resume there exactly: the weights and the objective draw nothing
/// that runs on from batch to batch (<see cref="ITrainingObjective.ResumesWithinEpoch"/>) and dropout has not drawn in
/// the epoch. A run that finds a saved state continues at the saved step and, since data order, augmentation, dropout
/// and every per-step draw derive from (seed, epoch) and the batches from (seed, epoch, batch), computes what the
/// uninterrupted run would have, bit for bit. Otherwise a stop inside an epoch resumes at its start.
/// </summary>
public sealed class TrainingLoop
{
    public const string DefaultStage = "training";

    /// <summary>Names the run in progress reports and errors ("training", "curve", "fine-tune", "mask").</summary>
    public string Stage { get; init; } = DefaultStage;

    public required IArchitecture Architecture { get; init; }

    /// <summary>The weights each step evaluates the objective at (a model's parameters, a curve's w(t)).</summary>
    public required IStepWeights Weights { get; init; }

    public required ITrainingObjective Objective { get; init; }

    /// <summary>Updates the trained tensors (the model's parameters, a curve's bends).</summary>
    public required IOptimizer Optimizer { get; init; }

    /// <summary>The learning rate per step, counted over the whole run (resumed runs continue the count).</summary>
    public required ILearningRateSchedule Schedule { get; init; }

    /// <summary>The epochs the loop enters; the last one stops early when <see cref="TotalSteps"/> is reached.</summary>
    public required int Epochs { get; init; }

    /// <summary>The run's step budget (null: every batch of every epoch); schedules and hooks count over it.</summary>
    public int? TotalSteps { get; init; }

    /// <summary>Run beside the optimiser, in order: before each epoch and after each step (freezing, lookahead).</summary>
    public IReadOnlyList<ITrainingHook> Hooks { get; init; } = [];

    /// <summary>
    /// The training-mode context of an epoch: its BN observer and a dropout stream that depends on
    /// (seed, epoch) only — dropout draws a varying count per batch, so a stream that ran on from an
    /// earlier epoch could not be replayed by a resumed run.
    /// </summary>
    public required Func<int, ForwardContext> ContextForEpoch { get; init; }

    /// <summary>Where progress is restored from and saved to (null: a run that starts over when stopped).</summary>
    public ITrainingState? State { get; init; }

    public IProgress<TrainingProgress>? Progress { get; init; }

    /// <summary>Checked before every step; a stop throws <see cref="OperationCanceledException"/> after the last finished step.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>What the divergence error suggests lowering (a command names its option, e.g. "--lr").</summary>
    public string LearningRateName { get; init; } = "learning rate";

    public TrainingResult Run(IBatchSource data)
    {
        int batches = data.BatchesPerEpoch;
        if (data.Count == 0 || batches == 0) throw new ArgumentException($"{Stage}: the data ({data.Count} images) gives no batch.");
        var saved = State?.Restore(Optimizer) ?? TrainingPosition.Start;
        if (saved.BatchesDone >= batches)
            throw new InvalidOperationException($"{Stage}: the saved progress is at batch {saved.BatchesDone} of an epoch of {batches} batches.");
        int firstEpoch = Math.Min(saved.EpochsDone, Epochs);
        int totalSteps = TotalSteps ?? Epochs * batches;
        if (totalSteps < 1 || totalSteps > Epochs * batches)
            throw new ArgumentException($"{Stage}: a budget of {totalSteps} steps does not fit {Epochs} epochs of {batches} batches.");
        var run = new RunClock(Math.Min(firstEpoch * batches + saved.BatchesDone, totalSteps), totalSteps);
        (double Loss, double Accuracy) last = (double.NaN, 0);
        EpochTally? open = null;
        try
        {
            for (int epoch = firstEpoch; epoch < Epochs && run.Step < totalSteps && !Objective.Converged; epoch++)
            {
                open = epoch == saved.EpochsDone && saved.InsideEpoch ? new EpochTally(saved) : new EpochTally(TrainingPosition.AfterEpochs(epoch));
                last = RunEpoch(data, open, run);
                open = null;
                State?.Save(TrainingPosition.AfterEpochs(epoch + 1), Optimizer);
            }
        }
        catch (OperationCanceledException) when (open is { } stopped && (stopped.ResumableHere || stopped.BatchesDone == batches))
        {
            // Stopped inside an epoch that can continue at its next batch, or after its last step (a stop raised by a
            // progress report): keep the steps done (written just below).
            State?.Save(stopped.BatchesDone == batches ? TrainingPosition.AfterEpochs(stopped.Epoch + 1) : stopped.Position, Optimizer);
            throw;
        }
        finally
        {
            // Progress kept in memory by the save interval is written however the loop ends (finished, Ctrl+C, an error).
            State?.Flush();
        }
        return new TrainingResult(last.Loss, last.Accuracy, run.Step, run.Elapsed);
    }

    // One epoch's steps from the tally's position (fewer when the step budget ends inside it); returns its mean loss and
    // accuracy (NaN when the objective gives no logits). Inside the epoch the state is saved when a write is due and the
    // run can resume at the next batch exactly.
    private (double Loss, double Accuracy) RunEpoch(IBatchSource data, EpochTally tally, RunClock run)
    {
        int epoch = tally.Epoch, batches = data.BatchesPerEpoch;
        var epochContext = ContextForEpoch(epoch);
        var dropout = new DrawRecordingRandom(epochContext.Rng);
        var context = epochContext.WithRng(dropout);
        Weights.BeginEpoch(epoch, batches);
        Objective.BeginEpoch(epoch);
        foreach (var hook in Hooks) hook.BeginEpoch(epoch);
        bool exactInside = Weights.ResumesWithinEpoch && Objective.ResumesWithinEpoch;
        // The cut last epoch reports its own length, so it still ends (IsEpochEnd) at its last step.
        int epochBatches = Math.Min(batches, run.TotalSteps - epoch * batches);
        var clock = Stopwatch.StartNew();
        long seenHere = 0;
        foreach (var batch in data.Batches(epoch, tally.BatchesDone))
        {
            using (batch)
            {
                Cancellation.ThrowIfCancellationRequested();
                Optimizer.LearningRate = Schedule.At(run.Step);
                var (loss, scored, hits) = Step(batch, context);
                if (!double.IsFinite(loss))
                    throw new TrainingDivergedException(
                        $"{Capitalised(Stage)} diverged: loss is {loss} at epoch {epoch + 1}, batch {tally.BatchesDone + 1} (learning rate {Optimizer.LearningRate:g4}); try a smaller {LearningRateName}.");
                tally.Add(loss, batch.Count, scored, hits);
                seenHere += batch.Count;
            }
            run.Step++;
            foreach (var hook in Hooks) hook.AfterStep(run.Step, run.TotalSteps);
            // A dropout stream drawn from in this epoch cannot be replayed from a later batch.
            tally.ResumableHere = exactInside && !dropout.Drew;
            Progress?.Report(new TrainingProgress(epoch + 1, Epochs, tally.BatchesDone, epochBatches, tally.MeanLoss, tally.Accuracy,
                Optimizer.LearningRate, seenHere / Math.Max(clock.Elapsed.TotalSeconds, 1e-9), run.Elapsed, run.Remaining, Stage));
            if (run.Step >= run.TotalSteps) break; // the budget ends inside this epoch
            if (tally.ResumableHere && tally.BatchesDone < batches && State is { IsDue: true }) State.Save(tally.Position, Optimizer);
        }
        return (tally.MeanLoss, tally.Accuracy);
    }

    /// <summary>The epoch in progress: where it stands and its running sums (restored from a save inside it, or zero).</summary>
    private sealed class EpochTally(TrainingPosition start)
    {
        public TrainingPosition Position { get; private set; } = start;
        public int Epoch => Position.EpochsDone;
        public int BatchesDone => Position.BatchesDone;

        /// <summary>True when the run can resume at the next batch of this epoch and compute what it would have.</summary>
        public bool ResumableHere { get; set; }

        public double MeanLoss => Position.Seen > 0 ? Position.LossSum / Position.Seen : double.NaN;
        public double Accuracy => Position.Scored > 0 ? (double)Position.Correct / Position.Scored : double.NaN;

        public void Add(double loss, int count, int scored, int correct) => Position = Position with
        {
            BatchesDone = Position.BatchesDone + 1, LossSum = Position.LossSum + loss * count, Seen = Position.Seen + count,
            Scored = Position.Scored + scored, Correct = Position.Correct + correct,
        };
    }

    /// <summary>The run's step count (continued by a resumed run) and its wall clock, for the ETA.</summary>
    private sealed class RunClock(int firstStep, int totalSteps)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly int _firstStep = firstStep;
        public int Step { get; set; } = firstStep;
        public int TotalSteps { get; } = totalSteps;
        public TimeSpan Elapsed => _clock.Elapsed;
        public TimeSpan Remaining => Step == _firstStep ? TimeSpan.Zero : Elapsed / (Step - _firstStep) * (TotalSteps - Step);
    }

    // One optimiser step; returns the loss and, when the objective gives logits, how many were scored and right.
    private (double Loss, int Scored, int Correct) Step(Batch batch, ForwardContext context)
    {
        using var scope = TensorScope.Open();
        Optimizer.ZeroGrad();
        var (loss, logits, labels) = Objective.Loss(Architecture, Weights.ForStep, batch, context);
        double value = loss.Item();
        int correct = logits is not null && labels is not null ? CountCorrect(logits, labels) : 0;
        loss.Backward(releaseIntermediates: true);
        Optimizer.Step();
        Objective.AfterStep(Optimizer.LearningRate);
        return (value, labels?.Length ?? 0, correct);
    }

    internal static int CountCorrect(Tensor logits, int[] labels)
    {
        var predicted = Op.ArgMax(logits);
        int correct = 0;
        for (int i = 0; i < labels.Length; i++) if (predicted[i] == labels[i]) correct++;
        return correct;
    }

    private static string Capitalised(string stage) => stage.Length == 0 ? stage : char.ToUpperInvariant(stage[0]) + stage[1..];
}

/// <summary>The loss became NaN or infinite; the run cannot continue.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
