using Circumvent.Data;
using Circumvent.Engine;

namespace Circumvent.Attacks;

/// <summary>
/// InputAware's trigger arithmetic (Nguyen &amp; Tran 2020), on normalised (N, C, H, W) batches and
/// differentiable: a pattern g ∈ (0, 1) and a mask m ∈ (0, 1) per image, then x' = x + m ⊙ (g − x).
/// </summary>
public static class InputAwareTrigger
{
    /// <summary>The authors' EPSILON: tanh(y) / (2 + ε) + 0.5 stays strictly inside (0, 1).</summary>
    public const float Epsilon = 1e-7f;

    /// <summary>tanh(y) / (2 + ε) + 0.5: the generator's output squashed into (0, 1).</summary>
    public static Tensor Squash(Tensor raw) => Op.AddScalar(Op.MulScalar(Op.Tanh(raw), 1f / (2f + Epsilon)), 0.5f);

    /// <summary>The mask network's sharpening: Squash(20·m − 10), so m below ½ goes to ≈0 and above ½ to ≈1.</summary>
    public static Tensor Threshold(Tensor mask) => Squash(Op.AddScalar(Op.MulScalar(mask, 20f), -10f));

    /// <summary>
    /// x + m ⊙ (g − x): <paramref name="x"/> and <paramref name="pattern"/> (N, C, H, W), <paramref name="mask"/>
    /// (N, 1, H, W) broadcast over channels. m = 0 keeps x, m = 1 gives the pattern.
    /// </summary>
    public static Tensor Blend(Tensor x, Tensor pattern, Tensor mask) => Op.Add(x, Op.Mul(mask, Op.Sub(pattern, x)));

    /// <summary>A [0, 1] pattern (N, C, H, W) in the classifier's input space: (g − mean) / std per channel.</summary>
    public static Tensor Normalize(Tensor pattern, Normalization normalization)
    {
        int c = normalization.Channels;
        var scale = new float[c];
        var shift = new float[c];
        for (int i = 0; i < c; i++)
        {
            scale[i] = 1f / normalization.Std[i];
            shift[i] = -normalization.Mean[i] / normalization.Std[i];
        }
        return Op.Add(Op.Mul(pattern, Tensor.FromArray(scale, 1, c, 1, 1)), Tensor.FromArray(shift, 1, c, 1, 1));
    }

    /// <summary>
    /// Per-sample root-mean-square distance between two (N, C, H, W) batches → (N). NOTE: a tiny floor
    /// inside the square root keeps its gradient finite when two patterns coincide (√ has an infinite
    /// slope at 0, and saturated masks can be bit-identical).
    /// </summary>
    public static Tensor RmsDistance(Tensor a, Tensor b)
    {
        int n = a.Shape[0];
        var squared = Op.Square(Op.Sub(a, b));
        return Op.Sqrt(Op.AddScalar(Op.Mean(Op.Reshape(squared, n, squared.Length / n), 1), 1e-12f));
    }

    /// <summary>
    /// The diversity loss mean(‖x1 − x2‖ / (‖g(x1) − g(x2)‖ + ε)) (RMS distances): small when different
    /// inputs get different triggers, so the generator cannot collapse to one fixed pattern.
    /// </summary>
    public static Tensor DiversityLoss(Tensor inputs1, Tensor inputs2, Tensor outputs1, Tensor outputs2) =>
        Op.Mean(Op.Div(RmsDistance(inputs1, inputs2), Op.AddScalar(RmsDistance(outputs1, outputs2), Epsilon)));
}
