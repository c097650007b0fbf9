using Circumvent.Data;
using Circumvent.Engine;
using Circumvent.Engine.Memory;
using Circumvent.Models;

namespace Circumvent.Attacks;

/// <summary>
/// Untargeted L∞ PGD (Madry et al. 2018) on raw pixels: from x0 (no random start), repeat
/// x ← clip(x + step·sign(∇ₓ CE(f(x), y)), x0 − ε, x0 + ε) ∩ [0, 255], then round to bytes.
/// ε and the step are on the 0–255 scale; the model sees normalised inputs, and since normalising is
/// a positive per-channel scaling the sign of the gradient is the same in both spaces.
/// </summary>
public static class ProjectedGradientDescent
{
    /// <summary>Perturbs the images at <paramref name="indices"/> of <paramref name="set"/> in place, against their own labels.</summary>
    public static void PerturbInPlace(IArchitecture arch, ParameterSet parameters, Normalization normalization,
        ImageDataset set, IReadOnlyList<int> indices, double epsilon, double stepSize, int steps, int batchSize = 128)
    {
        if (normalization.Channels != set.Channels)
            throw new ArgumentException($"PGD: the normalisation has {normalization.Channels} channels, the images {set.Channels}.");
        if (steps == 0 || epsilon == 0 || indices.Count == 0) return;
        var frozen = parameters.Clone(requiresGrad: false); // gradients are wanted for the input only
        var context = ForwardContext.Eval();
        int size = set.ImageSize, plane = set.Height * set.Width;
        for (int start = 0; start < indices.Count; start += batchSize)
        {
            int count = Math.Min(batchSize, indices.Count - start);
            var batch = new int[count];
            for (int b = 0; b < count; b++) batch[b] = indices[start + b];
            var labels = Array.ConvertAll(batch, i => set.Labels[i]);
            var original = new float[count * size];
            for (int b = 0; b < count; b++)
            {
                var image = set.Image(batch[b]);
                for (int p = 0; p < size; p++) original[b * size + p] = image[p];
            }
            var x = (float[])original.Clone();
            for (int step = 0; step < steps; step++)
            {
                using var scope = TensorScope.Open();
                var input = Tensor.Parameter(Normalize(x, normalization, set.Channels, plane), count, set.Channels, set.Height, set.Width);
                var loss = Op.CrossEntropy(arch.Forward(frozen, input, context), labels);
                loss.Backward();
                var gradient = input.Grad!.Span;
                for (int i = 0; i < x.Length; i++)
                {
                    double moved = x[i] + stepSize * Math.Sign(gradient[i]);
                    double low = Math.Max(0, original[i] - epsilon), high = Math.Min(255, original[i] + epsilon);
                    x[i] = (float)Math.Clamp(moved, low, high);
                }
            }
            for (int b = 0; b < count; b++)
            {
                var image = set.Image(batch[b]);
                for (int p = 0; p < size; p++) image[p] = (byte)Math.Clamp(MathF.Round(x[b * size + p], MidpointRounding.AwayFromZero), 0f, 255f);
            }
        }
    }

    private static float[] Normalize(float[] pixels, Normalization normalization, int channels, int plane)
    {
        var normalized = new float[pixels.Length];
        for (int i = 0; i < pixels.Length; i++)
        {
            int c = i / plane % channels;
            normalized[i] = pixels[i] * normalization.Scale(c) + normalization.Shift(c);
        }
        return normalized;
    }
}
