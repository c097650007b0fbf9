using Circumvent.Data;
using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Method.Evaluation;

/// <summary>
/// QRA's perturbation generator (Min et al., NeurIPS 2024, fine_tune/qra.py): an MLP autoencoder over the flattened
/// normalised image, C·H·W → 1024 → 1024 → 1024 → C·H·W with ReLU between and tanh at the end, whose output scaled by ε
/// is the perturbation δ(x) = clamp(ε·AE(x), −ε, ε) on the 0–1 pixel scale; the attacked input is
/// x' = normalise(clamp(unnormalise(x) + δ(x), 0, 1)). Weights "fc1" … "fc4" in PyTorch's (out, in) layout.
/// </summary>
public static class PerturbationGenerator
{
    public const int Layers = 4;

    /// <summary>Fresh weights with nn.Linear's default initialisation: weight and bias uniform in ±1/√fan_in.</summary>
    public static ParameterSet Initialize(int imageSize, int hidden, Random rng)
    {
        var set = new ParameterSet();
        int[] sizes = [imageSize, hidden, hidden, hidden, imageSize];
        for (int layer = 0; layer < Layers; layer++)
        {
            int fanIn = sizes[layer], fanOut = sizes[layer + 1];
            float bound = 1f / MathF.Sqrt(fanIn);
            set.Add($"fc{layer + 1}.weight", Tensor.Uniform(rng, -bound, bound, fanOut, fanIn).Clone(), TensorRole.Parameter);
            set.Add($"fc{layer + 1}.bias", Tensor.Uniform(rng, -bound, bound, fanOut).Clone(), TensorRole.Parameter);
        }
        return set;
    }

    /// <summary>δ(x) = clamp(ε·tanh(MLP(x)), −ε, ε), shaped like <paramref name="images"/> (B, C, H, W; normalised), pixel scale.</summary>
    public static Tensor Delta(ParameterSet generator, Tensor images, double epsilon)
    {
        var h = Op.Flatten(images);
        for (int layer = 1; layer <= Layers; layer++)
        {
            h = Op.Linear(h, generator[$"fc{layer}.weight"], generator[$"fc{layer}.bias"]);
            h = layer < Layers ? Op.Relu(h) : Op.Tanh(h);
        }
        float e = (float)epsilon;
        return Op.Reshape(Op.Clamp(Op.MulScalar(h, e), -e, e), images.Shape.ToArray());
    }

    /// <summary>x' = normalise(clamp(unnormalise(x) + δ(x), 0, 1)) for normalised images (B, C, H, W).</summary>
    public static Tensor Perturb(ParameterSet generator, Tensor images, Normalization normalization, double epsilon)
    {
        int channels = images.Dim(1);
        var mean = Tensor.FromArray((float[])normalization.Mean.Clone(), 1, channels, 1, 1);
        var std = Tensor.FromArray((float[])normalization.Std.Clone(), 1, channels, 1, 1);
        var pixels = Op.Add(Op.Mul(images, std), mean);
        var moved = Op.Clamp(Op.Add(pixels, Delta(generator, images, epsilon)), 0f, 1f);
        return Op.Div(Op.Sub(moved, mean), std);
    }
}
