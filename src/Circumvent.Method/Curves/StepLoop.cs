using System.Diagnostics;
using Circumvent.Data.Loading;
using Circumvent.Engine.Memory;
using Circumvent.Engine.Optim;
using Circumvent.Training;

namespace Circumvent.Method.Curves;

/// <summary>
/// The epoch/batch loop shared by curve fitting and fine-tuning: set the step's learning rate, run the
/// step inside a <see cref="TensorScope"/>, stop on a non-finite loss, report progress.
/// </summary>
internal static class StepLoop
{
    /// <param name="step">Runs forward, backward and the optimiser step on a batch; returns the batch's loss.</param>
    /// <param name="firstEpoch">Epochs already done by an earlier, resumed run (the schedule continues from there).</param>
    /// <param name="epochFinished">Hears the number of epochs done after each one (to save progress).</param>
    /// <param name="ended">Hears that the loop ended, finished or stopped by an exception (to write progress kept in memory, <see cref="ITrainingState.Flush"/>).</param>
    /// <returns>The mean loss of the last epoch (NaN when no epoch was left to run).</returns>
    public static double Run(string stage, BatchLoader loader, int epochs, IOptimizer optimizer, ILearningRateSchedule schedule,
        Func<Batch, double> step, IProgress<StageProgress>? progress, CancellationToken cancellation,
        int firstEpoch = 0, Action<int>? epochFinished = null, Action? ended = null)
    {
        try
        {
            return RunEpochs(stage, loader, epochs, optimizer, schedule, step, progress, cancellation, firstEpoch, epochFinished);
        }
        finally
        {
            ended?.Invoke();
        }
    }

    private static double RunEpochs(string stage, BatchLoader loader, int epochs, IOptimizer optimizer, ILearningRateSchedule schedule,
        Func<Batch, double> step, IProgress<StageProgress>? progress, CancellationToken cancellation, int firstEpoch, Action<int>? epochFinished)
    {
        int batches = loader.BatchesPerEpoch;
        if (batches == 0) throw new ArgumentException($"{stage}: the data ({loader.Dataset.Count} images) gives no batch.");
        int totalSteps = epochs * batches, stepIndex = firstEpoch * batches, firstStep = stepIndex;
        var total = Stopwatch.StartNew();
        double epochLoss = double.NaN;
        for (int epoch = firstEpoch; epoch < epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            long seen = 0;
            int batchIndex = 0;
            foreach (var batch in loader.Epoch(epoch))
            {
                using (batch)
                {
                    cancellation.ThrowIfCancellationRequested();
                    optimizer.LearningRate = schedule.At(stepIndex);
                    double loss;
                    using (TensorScope.Open()) loss = step(batch);
                    if (!double.IsFinite(loss))
                        throw new TrainingDivergedException(
                            $"{stage} diverged: loss is {loss} at epoch {epoch + 1}, batch {batchIndex + 1} (learning rate {optimizer.LearningRate:g4}); try a smaller learning rate.");
                    lossSum += loss * batch.Count;
                    seen += batch.Count;
                }
                stepIndex++;
                batchIndex++;
                epochLoss = lossSum / seen;
                if (progress is null) continue;
                double imagesPerSecond = seen / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                var remaining = total.Elapsed / (stepIndex - firstStep) * (totalSteps - stepIndex);
                progress.Report(new StageProgress(stage, epoch + 1, epochs, batchIndex, batches, epochLoss,
                    optimizer.LearningRate, imagesPerSecond, total.Elapsed, remaining));
            }
            epochFinished?.Invoke(epoch + 1);
        }
        return epochLoss;
    }
}
