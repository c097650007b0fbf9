using Circumvent.Engine.Kernels;

namespace Circumvent.Engine;

/// <summary>
/// Cross-entropy and L2 normalisation (softmax lives in Op.Softmax.cs). Axis ops work on "lanes": the n values
/// x[o, ·, i] of the (outer, n, inner) view, at stride inner.
/// </summary>
public static partial class Op
{
    /// <summary>Mean cross-entropy of logits (N × C) against class indices, PyTorch semantics incl. label smoothing.</summary>
    public static Tensor CrossEntropy(Tensor logits, int[] targets, float labelSmoothing = 0f)
    {
        Shape.CheckRank(logits, 2, "cross-entropy logits");
        int n = logits.Shape[0], c = logits.Shape[1];
        if (targets.Length != n)
            throw new ArgumentException($"cross-entropy: {targets.Length} targets for logits of shape {Shape.Format(logits.Shape)}.");
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new ArgumentException($"cross-entropy: label smoothing must be in [0, 1], got {labelSmoothing}.");
        if (n == 0) throw new ArgumentException("cross-entropy: empty batch (PyTorch would return NaN).");
        for (int i = 0; i < n; i++)
            if ((uint)targets[i] >= (uint)c)
                throw new ArgumentException($"cross-entropy: target {targets[i]} at index {i} is outside [0, {c}) for logits of shape {Shape.Format(logits.Shape)}.");

        // loss_i = (1−ε)·(lse_i − x_i,t) + ε·(lse_i − mean_c x_i,c), the smoothed NLL of log_softmax.
        double eps = labelSmoothing, total = 0;
        var logSumExp = new double[n];
        var x = logits.Data;
        for (int i = 0; i < n; i++)
        {
            var row = x.AsSpan(i * c, c);
            double lse = LogSumExp(row), mean = ElementwiseKernels.SumDouble(row) / c;
            logSumExp[i] = lse;
            total += (1 - eps) * (lse - row[targets[i]]) + eps * (lse - mean);
        }
        var y = Tensor.Empty();
        y.Data[0] = (float)(total / n);
        return y.WithBackward("cross_entropy", [logits], gy =>
        {
            // dX = dL · (softmax − ((1−ε)·onehot + ε/C)) / N
            double g = gy.Data[0] / n, off = eps / c;
            var gx = logits.GradSpan();
            for (int i = 0; i < n; i++)
            {
                int r = i * c;
                for (int k = 0; k < c; k++)
                {
                    double p = Math.Exp(x[r + k] - logSumExp[i]);
                    double q = off + (k == targets[i] ? 1 - eps : 0);
                    gx[r + k] += (float)(g * (p - q));
                }
            }
        });
    }

    /// <summary>x / max(‖x‖₂, eps) along axis (PyTorch F.normalize).</summary>
    public static Tensor L2Normalize(Tensor a, int axis = -1, float eps = 1e-12f)
    {
        var (outer, n, inner, _) = AxisLayout(a, axis, keepDim: true);
        int lanes = outer * inner;
        var denominators = new float[lanes];
        var y = Tensor.Empty(a.Shape.ToArray());
        float[] x = a.Data, yd = y.Data;
        Parallelism.ForRanges(lanes, 3L * n, (l0, l1) =>
        {
            for (int l = l0; l < l1; l++)
            {
                int b = LaneStart(l, n, inner);
                double ss = 0;
                for (int k = 0; k < n; k++) { double v = x[b + k * inner]; ss += v * v; }
                float d = Math.Max((float)Math.Sqrt(ss), eps);
                denominators[l] = d;
                for (int k = 0; k < n; k++) yd[b + k * inner] = x[b + k * inner] / d;
            }
        });
        return y.WithBackward("l2_normalize", [a], gy =>
        {
            // Where ‖x‖ > eps: dX = (dY − y·⟨dY, y⟩) / ‖x‖. Where clamped, the denominator is the
            // constant eps and dX = dY / eps.
            a.GradSpan();
            float[] g = gy.Data, gx = a.Grad!.Data;
            Parallelism.ForRanges(lanes, 4L * n, (l0, l1) =>
            {
                for (int l = l0; l < l1; l++)
                {
                    int b = LaneStart(l, n, inner);
                    float d = denominators[l];
                    double dot = 0;
                    if (d > eps) for (int k = 0; k < n; k++) dot += (double)g[b + k * inner] * yd[b + k * inner];
                    for (int k = 0; k < n; k++)
                    {
                        int j = b + k * inner;
                        gx[j] += (float)((g[j] - yd[j] * dot) / d);
                    }
                }
            });
        });
    }

    // First flat index of lane l in the (outer, n, inner) view.
    private static int LaneStart(int lane, int n, int inner) => (lane / inner) * n * inner + lane % inner;

    private static double LogSumExp(ReadOnlySpan<float> row)
    {
        float max = float.NegativeInfinity;
        foreach (var v in row) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in row) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }
}
