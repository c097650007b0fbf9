using Circumvent.Data.Loading;
using System.Diagnostics;
using Circumvent.Engine;
using Circumvent.Engine.Memory;
using Circumvent.Engine.Optim;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// Mini-batch training of an <see cref="IArchitecture"/> on a <see cref="ParameterSet"/> in place:
/// forward in training mode, cross-entropy (optionally label-smoothed), backward, one optimiser
/// step whose learning rate the schedule sets per step. Each step runs inside a
/// <see cref="TensorScope"/> so activations and their gradients go back to the pool.
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
    }

    public IBatchNormObserver? BatchNormObserver { get; }

    /// <summary>Called after every step (on the training thread).</summary>
    public event Action<TrainingProgress>? Progress;

    /// <summary>Lets a caller stop between steps (e.g. Ctrl+C); the run then throws OperationCanceledException.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Replaces the plain cross-entropy on each batch (null = plain training).</summary>
    public IBatchObjective? Objective { get; init; }

    /// <summary>
    /// Saves progress after every epoch and continues from it (null = a run that starts over when
    /// stopped). With an <see cref="Objective"/>, only one that offers its networks
    /// (<see cref="IBatchObjective.StatePart"/>), which the state must then hold too.
    /// </summary>
    public ITrainingState? State { get; init; }

    public TrainingResult Train(IBatchSource data)
    {
        if (data.Count == 0) throw new ArgumentException("The training set is empty.");
        if (State is not null && Objective is not null && Objective.StatePart is null)
            throw new InvalidOperationException("This training objective's own networks cannot be saved with the training state; run it without one.");
        var trainable = _parameters.Parameters.Select(p => p.Tensor).ToList();
        foreach (var p in trainable) p.RequiresGrad = true;
        var optimizer = Factories.CreateOptimizer(_config, trainable);
        int stepsPerEpoch = data.BatchesPerEpoch;
        var schedule = Factories.CreateSchedule(_config, stepsPerEpoch);
        int firstEpoch = Math.Min(State?.Restore(optimizer) ?? 0, _config.Epochs);

        var total = Stopwatch.StartNew();
        int step = firstEpoch * stepsPerEpoch, firstStep = step, totalSteps = _config.Epochs * stepsPerEpoch;
        double lossSum = 0, lastLoss = double.NaN, lastAccuracy = 0;
        try
        {
            for (int epoch = firstEpoch; epoch < _config.Epochs; epoch++)
            {
                // Dropout's draws derive from (seed, epoch), like the data order, so a resumed run repeats them.
                var context = ForwardContext.Train(BatchNormObserver, new Random(BatchLoader.MixSeed(_config.SeedFor(RandomStream.Dropout), epoch, 0)));
                Objective?.BeginEpoch(epoch);
                var epochClock = Stopwatch.StartNew();
                long seen = 0, correct = 0;
                lossSum = 0;
                int batchIndex = 0;
                foreach (var batch in data.Batches(epoch))
                {
                    Cancellation.ThrowIfCancellationRequested();
                    using (batch)
                    {
                        optimizer.LearningRate = schedule.At(step);
                        var (loss, hits) = Step(batch, optimizer, context);
                        if (!double.IsFinite(loss))
                            throw new TrainingDivergedException($"Training diverged: loss is {loss} at epoch {epoch + 1}, batch {batchIndex + 1} (learning rate {optimizer.LearningRate:g4}); try a smaller --lr.");
                        lossSum += loss * batch.Count;
                        seen += batch.Count;
                        correct += hits;
                    }
                    step++;
                    batchIndex++;
                    lastLoss = lossSum / seen;
                    lastAccuracy = (double)correct / seen;
                    double ips = seen / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9);
                    var perStep = total.Elapsed / (step - firstStep);
                    Progress?.Invoke(new TrainingProgress(epoch + 1, _config.Epochs, batchIndex, stepsPerEpoch,
                        lastLoss, lastAccuracy, optimizer.LearningRate, ips, total.Elapsed, perStep * (totalSteps - step)));
                }
                State?.Save(epoch + 1, optimizer);
            }
        }
        finally
        {
            // Epochs kept in memory by the save interval are written however the loop ends (finished, Ctrl+C, an error).
            State?.Flush();
        }
        return new TrainingResult(lastLoss, lastAccuracy, step, total.Elapsed);
    }

    private (double Loss, int Correct) Step(Batch batch, IOptimizer optimizer, ForwardContext context)
    {
        using var scope = TensorScope.Open();
        optimizer.ZeroGrad();
        Tensor Classify(Tensor x) => _architecture.Forward(_parameters, x, context);
        var (loss, logits, labels) = Objective is { } objective
            ? objective.Loss(batch, Classify)
            : PlainLoss(Classify(batch.Images), batch.Labels);
        float lossValue = loss.Item();
        int correct = CountCorrect(logits, labels);
        loss.Backward(releaseIntermediates: true);
        optimizer.Step();
        Objective?.AfterStep(optimizer.LearningRate);
        return (lossValue, correct);
    }

    private BatchLoss PlainLoss(Tensor logits, int[] labels) =>
        new(Op.CrossEntropy(logits, labels, (float)_config.LabelSmoothing), logits, labels);

    internal static int CountCorrect(Tensor logits, int[] labels)
    {
        var predicted = Op.ArgMax(logits);
        int correct = 0;
        for (int i = 0; i < labels.Length; i++) if (predicted[i] == labels[i]) correct++;
        return correct;
    }
}

/// <summary>The loss became NaN or infinite; the run cannot continue.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
