using Circumvent.Engine;
using Circumvent.Engine.Autograd;

namespace Circumvent.Tests.Support;

/// <summary>
/// Keeps finite differences of relu(batch_norm(x)) off the ReLU kink. A central difference over a
/// pre-activation that crosses 0 within the step measures half a slope, which is no error of the op.
/// Making the step tiny instead drowns the difference in float32 rounding: in training mode one input
/// moves its whole channel, so every output rounds differently.
/// </summary>
public static class ReluKink
{
    /// <summary>
    /// Moves entries of x (N, C, H, W) whose pre-activation lies within `margin` of 0 to 2·margin past it.
    /// In training mode that shifts the batch statistics, so it repeats until no pre-activation is near 0.
    /// Pick margin above the largest shift one step can cause (h·|γ|/σ for x, h·|x̂| for γ, h for β).
    /// </summary>
    public static void MoveBatchNormInputsAway(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
        bool training, float margin, float eps = 1e-5f)
    {
        int channels = x.Shape[1], spatial = x.Shape[2] * x.Shape[3], perChannel = x.Length / channels;
        var data = x.Data;
        for (int pass = 0; pass < 50; pass++)
        {
            float[] pre;
            BatchStatistics? stats;
            using (GradMode.Disable())
                pre = Op.BatchNorm(x, gamma, beta, runningMean, runningVar, training, eps, out stats).ToArray();
            bool moved = false;
            for (int i = 0; i < data.Length; i++)
            {
                if (MathF.Abs(pre[i]) >= margin) continue;
                int c = i / spatial % channels;
                // d pre / d x, ignoring the entry's own small share of the batch statistics.
                float variance = training ? stats!.UnbiasedVar[c] * (perChannel - 1) / perChannel : runningVar.Data[c];
                float slope = gamma.Data[c] / MathF.Sqrt(variance + eps);
                data[i] += (2 * margin * (pre[i] < 0 ? -1 : 1) - pre[i]) / slope;
                moved = true;
            }
            if (!moved) return;
        }
        throw new InvalidOperationException($"pre-activations still within {margin} of the ReLU kink after 50 passes");
    }
}
