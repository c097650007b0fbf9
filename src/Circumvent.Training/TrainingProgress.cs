namespace Circumvent.Training;

/// <summary>
/// A progress report after one optimiser step of a <see cref="TrainingLoop"/>. Loss and accuracy are
/// running means over the current epoch (accuracy NaN when the objective gives no logits; a curve's loss
/// includes its L2 term); throughput counts images per wall-clock second since the epoch started.
/// </summary>
/// <param name="Stage">What trains: "training", "curve", "fine-tune", "mask".</param>
public sealed record TrainingProgress(
    int Epoch, int Epochs, int Batch, int Batches,
    double Loss, double Accuracy, double LearningRate,
    double ImagesPerSecond, TimeSpan Elapsed, TimeSpan EstimatedRemaining, string Stage = TrainingLoop.DefaultStage)
{
    public bool IsEpochEnd => Batch == Batches;
}

/// <summary>Summary of a finished run (loss and accuracy of its last epoch; NaN when a resumed run had no epoch left).</summary>
public sealed record TrainingResult(double FinalLoss, double FinalTrainAccuracy, int Steps, TimeSpan Elapsed);
