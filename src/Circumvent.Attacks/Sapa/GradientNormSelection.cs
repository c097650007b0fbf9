using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;

namespace Circumvent.Attacks.Sapa;

/// <summary>
/// Sleeper Agent's poison selection (`poison_selection_strategy` max_gradient, their default): among the candidate images, the
/// ones whose own training gradient ‖∇θ CE(f(x), y)‖ (all parameters together, the surrogate in eval mode, one image at a time)
/// is largest. Those are the images whose gradient a small δ can steer furthest.
/// </summary>
public static class GradientNormSelection
{
    /// <summary>‖∇θ CE(f(xᵢ), yᵢ)‖₂ for each image i of <paramref name="images"/> (N, C, H, W, normalised as the surrogate saw its data).</summary>
    public static double[] PerImage(IArchitecture architecture, ParameterSet model, Tensor images, int[] labels)
    {
        var weights = model.Clone(requiresGrad: true);
        var theta = weights.Parameters.Select(e => e.Tensor).ToArray();
        var context = ForwardContext.Eval();
        int n = images.Shape[0], size = images.Length / n;
        var shape = images.Shape.ToArray();
        shape[0] = 1;
        var norms = new double[n];
        for (int i = 0; i < n; i++)
        {
            var image = new Tensor([.. shape], images.Span.Slice(i * size, size).ToArray());
            var gradient = Gradients.Of(() => Op.CrossEntropy(architecture.Forward(weights, image, context), [labels[i]]), theta);
            norms[i] = Math.Sqrt(gradient.Sum(g => g.Sum(v => (double)v * v)));
        }
        return norms;
    }

    /// <summary>The positions of the <paramref name="count"/> largest <paramref name="norms"/> (ties: the earlier position), ascending.</summary>
    public static int[] Largest(double[] norms, int count)
    {
        if (count < 0 || count > norms.Length) throw new ArgumentOutOfRangeException(nameof(count), $"cannot choose {count} of {norms.Length}.");
        return [.. Enumerable.Range(0, norms.Length).OrderByDescending(i => norms[i]).ThenBy(i => i).Take(count).Order()];
    }
}
