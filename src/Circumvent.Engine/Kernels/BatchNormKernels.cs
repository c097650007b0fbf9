using System.Numerics;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// Batch-norm kernels over one run of a channel's values (one (H, W) plane of x viewed as (N, C, S),
/// see <see cref="ChannelPlanes"/>), each a single SIMD pass: statistics in one, normalise + affine
/// (+ ReLU) in one, and the backward in two (gradient sums, then the input gradient), with a fused
/// ReLU's mask applied on the fly. Elementwise results round exactly as the scalar formulas written
/// in each summary; sums are in double.
/// </summary>
public static class BatchNormKernels
{
    private static readonly int Width = Vector<float>.Count;

    /// <summary>
    /// Σ(x − shift) and Σ(x − shift)² over a run, in double. A channel's mean is shift + ΣA/n and its
    /// Σ(x − mean)² is ΣB − (ΣA)²/n (<see cref="Deviations"/>).
    /// NOTE: without the shift this is the one-pass E[x²] − E[x]², which cancels catastrophically when
    /// |mean| ≫ std (e.g. un-normalised pixels), even in double. With shift = one of the channel's own
    /// values, the cancellation costs only ~log10((mean − shift)²/var) of double's 16 digits.
    /// </summary>
    public static (double Sum, double Squares) ShiftedMoments(ReadOnlySpan<float> run, double shift)
    {
        double sum = 0, squares = 0;
        int i = 0;
        if (run.Length >= Width)
        {
            var s = new Vector<double>(shift);
            Vector<double> vs = Vector<double>.Zero, vq = Vector<double>.Zero;
            for (; i <= run.Length - Width; i += Width)
            {
                Vector.Widen(new Vector<float>(run.Slice(i)), out var lo, out var hi);
                lo -= s;
                hi -= s;
                vs += lo + hi;
                vq += lo * lo + hi * hi;
            }
            sum = Vector.Sum(vs);
            squares = Vector.Sum(vq);
        }
        for (; i < run.Length; i++)
        {
            double d = run[i] - shift;
            sum += d;
            squares += d * d;
        }
        return (sum, squares);
    }

    /// <summary>(mean, Σ(x − mean)²) of <paramref name="count"/> values from their totals of <see cref="ShiftedMoments"/>.</summary>
    public static (double Mean, double SquaredDeviations) Deviations(double shift, double sum, double squares, long count)
    {
        double meanShifted = sum / count;
        return (shift + meanShifted, Math.Max(0, squares - sum * meanShifted));
    }

    /// <summary>
    /// y = (x − mean)·scale + bias, then max(·, 0) when <paramref name="relu"/>; scale = weight·invStd.
    /// x and y may be the same memory (in-place eval).
    /// </summary>
    public static void Normalize(ReadOnlySpan<float> x, Span<float> y, float mean, float scale, float bias, bool relu)
    {
        // NOTE: subtract the mean before scaling; folding it into one shift (x·scale + shift)
        // loses precision when |mean| ≫ std.
        int i = 0;
        var vm = new Vector<float>(mean);
        var vs = new Vector<float>(scale);
        var vb = new Vector<float>(bias);
        if (relu)
            for (; i <= x.Length - Width; i += Width)
                Vector.Max((new Vector<float>(x.Slice(i)) - vm) * vs + vb, Vector<float>.Zero).CopyTo(y.Slice(i));
        else
            for (; i <= x.Length - Width; i += Width)
                ((new Vector<float>(x.Slice(i)) - vm) * vs + vb).CopyTo(y.Slice(i));
        for (; i < x.Length; i++)
        {
            float v = (x[i] - mean) * scale + bias;
            y[i] = relu ? MathF.Max(v, 0f) : v;
        }
    }

    /// <summary>
    /// Σ dy and Σ dy·x̂ over a run in double, with x̂ = (x − mean)·invStd. With a non-empty
    /// <paramref name="reluOutput"/> (the output of a fused BN+ReLU), dy counts only where that output
    /// is positive: the ReLU's backward.
    /// </summary>
    public static (double SumGrad, double SumGradXhat) GradSums(ReadOnlySpan<float> x, ReadOnlySpan<float> gy, ReadOnlySpan<float> reluOutput,
        float mean, float invStd)
    {
        bool relu = !reluOutput.IsEmpty;
        double sumGrad = 0, sumGradXhat = 0;
        int i = 0;
        if (x.Length >= Width)
        {
            var vm = new Vector<float>(mean);
            var vi = new Vector<float>(invStd);
            Vector<double> vg = Vector<double>.Zero, vgx = Vector<double>.Zero;
            for (; i <= x.Length - Width; i += Width)
            {
                var g = new Vector<float>(gy.Slice(i));
                if (relu) g = PositiveOnly(g, reluOutput.Slice(i));
                var xhat = (new Vector<float>(x.Slice(i)) - vm) * vi;
                // A product of two floats is exact in double: only the order of the sum differs from scalar code.
                Vector.Widen(g, out var gLo, out var gHi);
                Vector.Widen(xhat, out var xLo, out var xHi);
                vg += gLo + gHi;
                vgx += gLo * xLo + gHi * xHi;
            }
            sumGrad = Vector.Sum(vg);
            sumGradXhat = Vector.Sum(vgx);
        }
        for (; i < x.Length; i++)
        {
            float g = relu && !(reluOutput[i] > 0f) ? 0f : gy[i];
            sumGrad += g;
            sumGradXhat += (double)g * ((x[i] - mean) * invStd);
        }
        return (sumGrad, sumGradXhat);
    }

    /// <summary>
    /// dx += scale·(dy − meanGrad − x̂·meanGradXhat) over a run (dx = … unless <paramref name="accumulate"/>),
    /// scale = weight·invStd, dy masked by <paramref name="reluOutput"/> &gt; 0 as in <see cref="GradSums"/>.
    /// Training mode passes the batch means of dy and dy·x̂ (the batch statistics depend on x); eval mode passes zeros.
    /// </summary>
    public static void InputGrad(ReadOnlySpan<float> x, ReadOnlySpan<float> gy, ReadOnlySpan<float> reluOutput, Span<float> dx,
        float mean, float invStd, float scale, float meanGrad, float meanGradXhat, bool accumulate = true)
    {
        bool relu = !reluOutput.IsEmpty;
        int i = 0;
        var vm = new Vector<float>(mean);
        var vi = new Vector<float>(invStd);
        var vs = new Vector<float>(scale);
        var vmg = new Vector<float>(meanGrad);
        var vmgx = new Vector<float>(meanGradXhat);
        for (; i <= x.Length - Width; i += Width)
        {
            var g = new Vector<float>(gy.Slice(i));
            if (relu) g = PositiveOnly(g, reluOutput.Slice(i));
            var xhat = (new Vector<float>(x.Slice(i)) - vm) * vi;
            var d = vs * (g - vmg - xhat * vmgx);
            (accumulate ? new Vector<float>(dx.Slice(i)) + d : d).CopyTo(dx.Slice(i));
        }
        for (; i < x.Length; i++)
        {
            float g = relu && !(reluOutput[i] > 0f) ? 0f : gy[i];
            float xhat = (x[i] - mean) * invStd;
            float d = scale * (g - meanGrad - xhat * meanGradXhat);
            dx[i] = accumulate ? dx[i] + d : d;
        }
    }

    // g where the ReLU output is positive, else 0.
    private static Vector<float> PositiveOnly(Vector<float> g, ReadOnlySpan<float> reluOutput) =>
        Vector.ConditionalSelect(Vector.GreaterThan(new Vector<float>(reluOutput), Vector<float>.Zero), g, Vector<float>.Zero);
}
