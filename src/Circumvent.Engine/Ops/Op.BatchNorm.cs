using Circumvent.Engine.Kernels;

namespace Circumvent.Engine;

public static partial class Op
{
    /// <summary>
    /// Batch norm over channel axis 1 of (N, C) or (N, C, H, W). Training: normalise with the batch
    /// mean and biased variance and return the batch mean / unbiased variance in
    /// <paramref name="batchStats"/>; running buffers are only read, never written. Eval: normalise
    /// with runningMean / runningVar.
    /// </summary>
    public static Tensor BatchNorm(Tensor x, Tensor weight, Tensor bias, Tensor runningMean, Tensor runningVar,
        bool training, float eps, out BatchStatistics? batchStats) =>
        BatchNormCore(x, weight, bias, runningMean, runningVar, training, eps, relu: false, out batchStats);

    /// <summary>
    /// relu(BatchNorm(...)) as one op. Same result as the two ops, but the normalised values before
    /// the ReLU are never kept: the backward rebuilds the ReLU mask from the output (y &gt; 0 ⇔ the
    /// pre-activation &gt; 0), so a training step holds one activation tensor here instead of two.
    /// </summary>
    public static Tensor BatchNormRelu(Tensor x, Tensor weight, Tensor bias, Tensor runningMean, Tensor runningVar,
        bool training, float eps, out BatchStatistics? batchStats) =>
        BatchNormCore(x, weight, bias, runningMean, runningVar, training, eps, relu: true, out batchStats);

    private static Tensor BatchNormCore(Tensor x, Tensor weight, Tensor bias, Tensor runningMean, Tensor runningVar,
        bool training, float eps, bool relu, out BatchStatistics? batchStats)
    {
        CheckBatchNorm(x, weight, bias, runningMean, runningVar, training);
        int batch = x.Shape[0], channels = x.Shape[1], spatial = x.Rank == 4 ? x.Shape[2] * x.Shape[3] : 1;
        int count = batch * spatial;
        var mean = new float[channels];
        var invStd = new float[channels];
        float[] xd = x.Data, w = weight.Data, b = bias.Data;
        var y = Tensor.Empty(x.Shape.ToArray());
        float[] yd = y.Data;

        if (training)
        {
            var unbiased = new float[channels];
            Parallelism.For(channels, 4L * count, c =>
            {
                var (m, squares) = BatchNormKernels.Moments(xd, batch, channels, spatial, c);
                mean[c] = (float)m;
                invStd[c] = (float)(1.0 / Math.Sqrt(squares / count + eps));
                unbiased[c] = (float)(squares / (count - 1));
                BatchNormKernels.Normalize(xd, yd, batch, channels, spatial, c, mean[c], invStd[c], w[c], b[c], relu);
            });
            // A copy: observers may keep or edit the statistics, the backward still needs the mean.
            batchStats = new BatchStatistics((float[])mean.Clone(), unbiased, count);
        }
        else
        {
            float[] rm = runningMean.Data, rv = runningVar.Data;
            Parallelism.For(channels, 2L * count, c =>
            {
                mean[c] = rm[c];
                invStd[c] = (float)(1.0 / Math.Sqrt(rv[c] + (double)eps));
                BatchNormKernels.Normalize(xd, yd, batch, channels, spatial, c, mean[c], invStd[c], w[c], b[c], relu);
            });
            batchStats = null;
        }

        string name = (relu ? "batch_norm_relu" : "batch_norm") + (training ? "_train" : "_eval");
        return y.WithBackward(name, [x, weight, bias], gy =>
        {
            float[]? dx = x.RequiresGrad ? GradArray(x) : null;
            float[]? dw = weight.RequiresGrad ? GradArray(weight) : null;
            float[]? db = bias.RequiresGrad ? GradArray(bias) : null;
            float[] g = gy.Data;
            // Fused ReLU: d/d(pre-activation) = gy where the output is positive, else 0 (per channel, in cache).
            float[]? masked = relu ? Memory.BufferPool.Rent(g.Length) : null;
            Parallelism.For(channels, 6L * count, c =>
            {
                var gc = g;
                if (masked is not null)
                {
                    BatchNormKernels.MaskByPositive(yd, g, masked, batch, channels, spatial, c);
                    gc = masked;
                }
                var (sumGrad, sumGradXhat) = BatchNormKernels.GradSums(xd, gc, batch, channels, spatial, c, mean[c], invStd[c]);
                if (dw is not null) dw[c] += (float)sumGradXhat;
                if (db is not null) db[c] += (float)sumGrad;
                if (dx is null) return;
                // Training: mean and variance are functions of x, which adds the two mean terms.
                float meanGrad = training ? (float)(sumGrad / count) : 0f;
                float meanGradXhat = training ? (float)(sumGradXhat / count) : 0f;
                BatchNormKernels.InputGrad(xd, gc, dx, batch, channels, spatial, c, mean[c], invStd[c], w[c], meanGrad, meanGradXhat);
            });
            if (masked is not null) Memory.BufferPool.Return(masked);
        });
    }

    private static void CheckBatchNorm(Tensor x, Tensor weight, Tensor bias, Tensor runningMean, Tensor runningVar, bool training)
    {
        if (x.Rank != 2 && x.Rank != 4)
            throw new ArgumentException($"batch_norm: input must be (N, C) or (N, C, H, W), got shape {Shape.Format(x.Shape)}.");
        int channels = x.Shape[1];
        foreach (var (t, name) in new[] { (weight, "weight"), (bias, "bias"), (runningMean, "running_mean"), (runningVar, "running_var") })
            if (t.Rank != 1 || t.Shape[0] != channels)
                throw new ArgumentException($"batch_norm: {name} must have shape ({channels}) for input {Shape.Format(x.Shape)}, got {Shape.Format(t.Shape)}.");
        int count = x.Length / Math.Max(1, channels);
        if (training && count < 2)
            throw new ArgumentException($"batch_norm: training needs more than 1 value per channel, input has shape {Shape.Format(x.Shape)}.");
    }
}
