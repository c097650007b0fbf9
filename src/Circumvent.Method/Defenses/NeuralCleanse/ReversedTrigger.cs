using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Method.Defenses.NeuralCleanse;

/// <summary>
/// A trigger reverse-engineered for one class: an image x becomes (1 − m)·x + m·p, with the mask m (H×W, shared by
/// the channels) and the pattern p (C×H×W) both in [0, 1] on the 0–1 pixel scale.
/// </summary>
/// <param name="Found">Some epoch of the search reached the attack threshold; otherwise this is the search's last trigger.</param>
public sealed record ReversedTrigger(int Target, float[] Mask, float[] Pattern, int Channels, int Height, int Width, bool Found)
{
    /// <summary>The mask's L1 norm: the size of the trigger the anomaly index compares across classes.</summary>
    public double L1 => Mask.Sum(v => (double)Math.Abs(v));

    /// <summary>Stamps an image of bytes in place (rounded to the nearest byte).</summary>
    /// <remarks>Normalisation is affine per channel, so stamping before it equals the search's stamping of normalised images
    /// up to this rounding (at most half a grey level).</remarks>
    public void Stamp(Span<byte> image)
    {
        int plane = Height * Width;
        if (image.Length != Channels * plane)
            throw new ArgumentException($"The trigger is {Channels}×{Height}×{Width}, the image has {image.Length} values.");
        for (int c = 0; c < Channels; c++)
            for (int i = 0; i < plane; i++)
            {
                int k = c * plane + i;
                double m = Mask[i], value = (1 - m) * image[k] + m * 255.0 * Pattern[k];
                image[k] = (byte)Math.Round(Math.Clamp(value, 0, 255));
            }
    }

    /// <summary>The tensors a run folder keeps: "mask" (1, 1, H, W), "pattern" (1, C, H, W), "found" (1).</summary>
    public ParameterSet ToTensors()
    {
        var set = new ParameterSet();
        set.Add("mask", Tensor.FromArray((float[])Mask.Clone(), 1, 1, Height, Width), TensorRole.Parameter);
        set.Add("pattern", Tensor.FromArray((float[])Pattern.Clone(), 1, Channels, Height, Width), TensorRole.Parameter);
        set.Add("found", Tensor.FromArray([Found ? 1f : 0f], 1), TensorRole.Parameter);
        return set;
    }

    public static ReversedTrigger FromTensors(int target, ParameterSet set)
    {
        var pattern = set["pattern"];
        return new ReversedTrigger(target, set["mask"].ToArray(), pattern.ToArray(), pattern.Dim(1), pattern.Dim(2), pattern.Dim(3), set["found"].ToArray()[0] != 0);
    }
}
