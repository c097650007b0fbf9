using System.Numerics.Tensors;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// Per-channel batch-norm kernels on x viewed as (N, C, S) with S = H·W (1 for (N, C) input);
/// channel c's values are the N runs of S floats starting at (n·C + c)·S.
/// </summary>
public static class BatchNormKernels
{
    /// <summary>
    /// Batch mean and Σ(x − mean)² of channel c, both in double.
    /// NOTE: two passes on purpose. The one-pass E[x²] − E[x]² cancels catastrophically when
    /// |mean| ≫ std (e.g. un-normalised pixels), and can even go negative.
    /// </summary>
    public static (double Mean, double SquaredDeviations) Moments(ReadOnlySpan<float> x, int batch, int channels, int spatial, int c)
    {
        double sum = 0;
        for (int n = 0; n < batch; n++)
            foreach (var v in x.Slice((n * channels + c) * spatial, spatial)) sum += v;
        double mean = sum / ((double)batch * spatial);
        double squares = 0;
        for (int n = 0; n < batch; n++)
            foreach (var v in x.Slice((n * channels + c) * spatial, spatial))
            {
                double d = v - mean;
                squares += d * d;
            }
        return (mean, squares);
    }

    /// <summary>y = (x − mean)·(weight·invStd) + bias over channel c.</summary>
    public static void Normalize(ReadOnlySpan<float> x, Span<float> y, int batch, int channels, int spatial, int c,
        float mean, float invStd, float weight, float bias, bool relu = false)
    {
        // NOTE: subtract the mean before scaling; folding it into one shift (x·scale + shift)
        // loses precision when |mean| ≫ std.
        float scale = weight * invStd;
        for (int n = 0; n < batch; n++)
        {
            int offset = (n * channels + c) * spatial;
            var ys = y.Slice(offset, spatial);
            TensorPrimitives.Subtract(x.Slice(offset, spatial), mean, ys);
            TensorPrimitives.Multiply(ys, scale, ys);
            TensorPrimitives.Add(ys, bias, ys);
            if (relu) TensorPrimitives.Max(ys, 0f, ys);
        }
    }

    /// <summary>dst = gy where y &gt; 0, else 0, over channel c: the ReLU backward of a fused BN+ReLU.</summary>
    public static void MaskByPositive(ReadOnlySpan<float> y, ReadOnlySpan<float> gy, Span<float> dst,
        int batch, int channels, int spatial, int c)
    {
        int width = System.Numerics.Vector<float>.Count;
        for (int n = 0; n < batch; n++)
        {
            int offset = (n * channels + c) * spatial, i = 0;
            var ys = y.Slice(offset, spatial);
            var gs = gy.Slice(offset, spatial);
            var ds = dst.Slice(offset, spatial);
            for (; i <= spatial - width; i += width)
            {
                var keep = System.Numerics.Vector.GreaterThan(new System.Numerics.Vector<float>(ys.Slice(i)), System.Numerics.Vector<float>.Zero);
                System.Numerics.Vector.ConditionalSelect(keep, new System.Numerics.Vector<float>(gs.Slice(i)), System.Numerics.Vector<float>.Zero).CopyTo(ds.Slice(i));
            }
            for (; i < spatial; i++) ds[i] = ys[i] > 0f ? gs[i] : 0f;
        }
    }

    /// <summary>Σ dy and Σ dy·x̂ over channel c in double, with x̂ = (x − mean)·invStd.</summary>
    public static (double SumGrad, double SumGradXhat) GradSums(ReadOnlySpan<float> x, ReadOnlySpan<float> gy,
        int batch, int channels, int spatial, int c, float mean, float invStd)
    {
        double sumGrad = 0, sumGradXhat = 0;
        for (int n = 0; n < batch; n++)
        {
            int offset = (n * channels + c) * spatial;
            var xs = x.Slice(offset, spatial);
            var gs = gy.Slice(offset, spatial);
            for (int i = 0; i < xs.Length; i++)
            {
                sumGrad += gs[i];
                sumGradXhat += (double)gs[i] * ((xs[i] - mean) * invStd);
            }
        }
        return (sumGrad, sumGradXhat);
    }

    /// <summary>
    /// dx += weight·invStd·(dy − meanGrad − x̂·meanGradXhat) for channel c. Training mode passes the
    /// batch means of dy and dy·x̂ (the batch statistics depend on x); eval mode passes zeros.
    /// </summary>
    public static void InputGrad(ReadOnlySpan<float> x, ReadOnlySpan<float> gy, Span<float> dx,
        int batch, int channels, int spatial, int c, float mean, float invStd, float weight, float meanGrad, float meanGradXhat)
    {
        float scale = weight * invStd;
        for (int n = 0; n < batch; n++)
        {
            int offset = (n * channels + c) * spatial;
            var xs = x.Slice(offset, spatial);
            var gs = gy.Slice(offset, spatial);
            var ds = dx.Slice(offset, spatial);
            for (int i = 0; i < xs.Length; i++)
            {
                float xhat = (xs[i] - mean) * invStd;
                ds[i] += scale * (gs[i] - meanGrad - xhat * meanGradXhat);
            }
        }
    }
}
