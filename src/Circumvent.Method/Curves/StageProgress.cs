namespace Circumvent.Method.Curves;

/// <summary>
/// Progress after one optimiser step of a curve fit or fine-tuning run. Loss is the running mean over
/// the current epoch (including the curve's L2 term); throughput counts images per second since the
/// epoch started.
/// </summary>
/// <param name="Stage">"curve" or "fine-tune".</param>
public sealed record StageProgress(
    string Stage, int Epoch, int Epochs, int Batch, int Batches,
    double Loss, double LearningRate, double ImagesPerSecond, TimeSpan Elapsed, TimeSpan EstimatedRemaining)
{
    public bool IsEpochEnd => Batch == Batches;
}
