namespace Circumvent.Training;

/// <summary>
/// A progress report after one optimiser step. Loss and accuracy are running means over the
/// current epoch; throughput counts images per wall-clock second since the epoch started.
/// </summary>
public sealed record TrainingProgress(
    int Epoch, int Epochs, int Batch, int Batches,
    double Loss, double Accuracy, double LearningRate,
    double ImagesPerSecond, TimeSpan Elapsed, TimeSpan EstimatedRemaining)
{
    public bool IsEpochEnd => Batch == Batches;
}

/// <summary>Summary of a finished run.</summary>
public sealed record TrainingResult(double FinalLoss, double FinalTrainAccuracy, int Steps, TimeSpan Elapsed);
