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
        Autograd.ActivationPattern.Current is null
            ? BatchNormCore(x, weight, bias, runningMean, runningVar, training, eps, relu: true, out batchStats)
            : Relu(BatchNorm(x, weight, bias, runningMean, runningVar, training, eps, out batchStats)); // the mask is the pattern's

    /// <summary>
    /// Eval-mode <see cref="BatchNormRelu"/> written over x itself and returned: for inference, where x is
    /// a temporary nothing else reads (a convolution's output), it saves a buffer and a third of the
    /// memory traffic. Records no graph, so it refuses inputs that would need one.
    /// </summary>
    public static Tensor BatchNormReluInPlace(Tensor x, Tensor weight, Tensor bias, Tensor runningMean, Tensor runningVar, float eps)
    {
        CheckBatchNorm(x, weight, bias, runningMean, runningVar, training: false);
        if (Autograd.ActivationPattern.Current is not null) return BatchNormRelu(x, weight, bias, runningMean, runningVar, false, eps, out _);
        if (Tensor.NeedsGraph(x, weight, bias))
            throw new InvalidOperationException("batch_norm_relu in place: the inputs need gradients; use BatchNormRelu.");
        var (mean, invStd) = NormalizingMoments(x, runningMean, runningVar, training: false, eps, out _);
        NormalizePlanes(new BatchNormShape(x), x.Data, x.Data, mean, invStd, weight.Data, bias.Data, relu: true);
        Diagnostics.OpProfiler.OpFinished("batch_norm_relu_eval");
        return x;
    }

    private static Tensor BatchNormCore(Tensor x, Tensor weight, Tensor bias, Tensor runningMean, Tensor runningVar,
        bool training, float eps, bool relu, out BatchStatistics? batchStats)
    {
        CheckBatchNorm(x, weight, bias, runningMean, runningVar, training);
        var shape = new BatchNormShape(x);
        float[] xd = x.Data, w = weight.Data;
        var (mean, invStd) = NormalizingMoments(x, runningMean, runningVar, training, eps, out batchStats);
        var y = Tensor.Empty(x.Shape.ToArray());
        float[] yd = y.Data;
        NormalizePlanes(shape, xd, yd, mean, invStd, w, bias.Data, relu);

        string name = (relu ? "batch_norm_relu" : "batch_norm") + (training ? "_train" : "_eval");
        return y.WithBackward(name, [x, weight, bias], gy =>
        {
            bool dxFresh = false;
            float[]? dx = x.RequiresGrad ? x.GradForWrite(out dxFresh) : null;
            BatchNormBackward(shape, xd, gy.Data, relu ? yd : null, mean, invStd, w, training,
                dx, dxFresh, weight.RequiresGrad ? GradArray(weight) : null, bias.RequiresGrad ? GradArray(bias) : null);
        });
    }

    /// <summary>Per channel, the mean and 1/sqrt(var + eps) to normalise x with: the batch's (training; its mean and unbiased variance also go to <paramref name="batchStats"/>) or the running buffers'.</summary>
    private static (float[] Mean, float[] InvStd) NormalizingMoments(Tensor x, Tensor runningMean, Tensor runningVar, bool training, float eps,
        out BatchStatistics? batchStats)
    {
        var (batch, channels, spatial) = new BatchNormShape(x);
        var mean = new float[channels];
        var invStd = new float[channels];
        if (training)
        {
            var unbiased = new float[channels];
            ChannelMoments(x.Data, batch, channels, spatial, mean, invStd, unbiased, eps);
            // A copy: observers may keep or edit the statistics, the backward still needs the mean.
            batchStats = new BatchStatistics((float[])mean.Clone(), unbiased, batch * spatial);
        }
        else
        {
            RunningMoments(runningMean, runningVar, eps, mean, invStd);
            batchStats = null;
        }
        return (mean, invStd);
    }

    // x viewed as (batch, channels, spatial) planes.
    private readonly record struct BatchNormShape(int Batch, int Channels, int Spatial)
    {
        public BatchNormShape(Tensor x) : this(x.Shape[0], x.Shape[1], x.Rank == 4 ? x.Shape[2] * x.Shape[3] : 1) { }
    }

    /// <summary>
    /// Backward of batch norm (followed by ReLU when <paramref name="reluOutput"/>, the op's output, is
    /// given: the mask is y &gt; 0) for output gradient g: adds into dw and db; writes dx when
    /// <paramref name="dxFresh"/>, else adds into it.
    /// </summary>
    private static void BatchNormBackward(BatchNormShape shape, float[] xd, float[] g, float[]? reluOutput,
        float[] mean, float[] invStd, float[] w, bool training, float[]? dx, bool dxFresh, float[]? dw, float[]? db)
    {
        var (batch, channels, spatial) = shape;
        int count = batch * spatial;
        // Fused ReLU: d/d(pre-activation) = gy where the output is positive, else 0; the kernels mask on the fly.
        ReadOnlySpan<float> ReluOutput(int p) => reluOutput is null ? default : Plane(reluOutput, p, spatial);
        // Per channel: Σ dy in sums[c], Σ dy·x̂ in sums[channels + c].
        var sums = new double[2 * channels];
        ChannelPlanes.Sum(batch, channels, 3L * spatial, (p, c) => BatchNormKernels.GradSums(
                Plane(xd, p, spatial), Plane(g, p, spatial), ReluOutput(p), mean[c], invStd[c]),
            sums.AsSpan(0, channels), sums.AsSpan(channels));
        for (int c = 0; c < channels; c++)
        {
            if (db is not null) db[c] += (float)sums[c];
            if (dw is not null) dw[c] += (float)sums[channels + c];
        }
        if (dx is null) return;
        // Training: mean and variance are functions of x, which adds the two mean terms.
        ChannelPlanes.ForEach(batch, channels, 5L * spatial, (p, c) => BatchNormKernels.InputGrad(
            Plane(xd, p, spatial), Plane(g, p, spatial), ReluOutput(p), dx.AsSpan(p * spatial, spatial),
            mean[c], invStd[c], w[c] * invStd[c],
            training ? (float)(sums[c] / count) : 0f, training ? (float)(sums[channels + c] / count) : 0f, accumulate: !dxFresh));
    }

    private static ReadOnlySpan<float> Plane(float[] data, int plane, int spatial) => data.AsSpan(plane * spatial, spatial);

    // Batch mean, 1/sqrt(biased var + eps) and unbiased variance per channel, in one pass over x.
    private static void ChannelMoments(float[] xd, int batch, int channels, int spatial, float[] mean, float[] invStd, float[] unbiased, float eps)
    {
        // Each channel's shift is its first value (see BatchNormKernels.ShiftedMoments).
        var shift = new double[channels];
        for (int c = 0; c < channels; c++) shift[c] = xd[c * spatial];
        var sums = new double[2 * channels];
        ChannelPlanes.Sum(batch, channels, 2L * spatial, (p, c) => BatchNormKernels.ShiftedMoments(Plane(xd, p, spatial), shift[c]),
            sums.AsSpan(0, channels), sums.AsSpan(channels));
        long count = (long)batch * spatial;
        for (int c = 0; c < channels; c++)
        {
            var (m, squares) = BatchNormKernels.Deviations(shift[c], sums[c], sums[channels + c], count);
            mean[c] = (float)m;
            invStd[c] = (float)(1.0 / Math.Sqrt(squares / count + eps));
            unbiased[c] = (float)(squares / (count - 1));
        }
    }

    private static void RunningMoments(Tensor runningMean, Tensor runningVar, float eps, float[] mean, float[] invStd)
    {
        float[] rm = runningMean.Data, rv = runningVar.Data;
        for (int c = 0; c < mean.Length; c++)
        {
            mean[c] = rm[c];
            invStd[c] = (float)(1.0 / Math.Sqrt(rv[c] + (double)eps));
        }
    }

    // y = (x − mean)·(weight·invStd) + bias per channel (then ReLU), plane by plane; y may be x.
    private static void NormalizePlanes(BatchNormShape shape, float[] xd, float[] yd,
        float[] mean, float[] invStd, float[] w, float[] b, bool relu)
    {
        int spatial = shape.Spatial;
        ChannelPlanes.ForEach(shape.Batch, shape.Channels, 2L * spatial, (p, c) =>
            BatchNormKernels.Normalize(Plane(xd, p, spatial), yd.AsSpan(p * spatial, spatial), mean[c], w[c] * invStd[c], b[c], relu));
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
