namespace Circumvent.Engine;

// STUB: signatures fixed for the other layers; implementation owned by the convolution work.
public static partial class Op
{
    /// <summary>
    /// Batch norm over channel axis 1 of (N, C) or (N, C, H, W). Training: normalise with the batch
    /// mean and biased variance and return the batch mean / unbiased variance in
    /// <paramref name="batchStats"/>; running buffers are only read, never written. Eval: normalise
    /// with runningMean / runningVar.
    /// </summary>
    public static Tensor BatchNorm(Tensor x, Tensor weight, Tensor bias, Tensor runningMean, Tensor runningVar,
        bool training, float eps, out BatchStatistics? batchStats) => throw new NotImplementedException();
}
