using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;

namespace Circumvent.Attacks.Sapa;

/// <summary>
/// SAPA's objective (He et al. 2024: Sleeper Agent's gradient matching, evaluated at sharpness-aware weights) and its
/// gradient with respect to the poison perturbations δ.
/// <code>
///   θ̃      = θ + σ·g₀/‖g₀‖,  g₀ = ∇θ CE(f(x_p + δ), y_p) at θ      (SAM's ascent step, held constant)
///   g_src  = ∇θ CE(f(x_src), y_src) at θ̃                           (patched sources → target)
///   g_p    = ∇θ CE(f(x_p + δ), y_p) at θ̃                           (poisons under their own labels)
///   loss   = 1 − ⟨g_src, g_p⟩ / (‖g_src‖‖g_p‖)                      (over all parameters together)
///   ∂loss/∂δ = (∂²L_p/∂δ∂θ)ᵀ u,  u = ∂loss/∂g_p = −g_src/(‖g_src‖‖g_p‖) + cos·g_p/‖g_p‖²
/// </code>
/// The last line is one mixed product of <see cref="SecondOrderProducts"/> (θ̃ shifted along u, ∇δ at each shift).
/// The surrogate runs in eval mode (BN running statistics), so the matching does not depend on the batch. With an
/// augmentation A (<see cref="PoisonAugmentation"/>), every x_p + δ above is A(x_p + δ), the same A in all three places.
/// </summary>
public static class GradientMatching
{
    /// <param name="model">θ, the surrogate; not modified.</param>
    /// <param name="sources">Patched source images (normalised) and the target labels.</param>
    /// <param name="poisons">Clean poison images (normalised), their labels, and δ of the same shape (normalised units).</param>
    /// <param name="sigma">SAPA's σ (0: plain Sleeper Agent matching at θ).</param>
    /// <param name="augmentation">Applied to the poisons x_p + δ before the network (null: none).</param>
    public static (double Loss, float[] Gradient) LossAndGradient(IArchitecture architecture, ParameterSet model,
        (Tensor Images, int[] Labels) sources, (Tensor Images, int[] Labels) poisons, Tensor delta, double sigma,
        PoisonAugmentation? augmentation = null, double radius = SecondOrderProducts.DefaultRadius)
    {
        if (!Shape.Equal(delta.Shape, poisons.Images.Shape))
            throw new ArgumentException($"SAPA: δ {Shape.Format(delta.Shape)} must match the poison images {Shape.Format(poisons.Images.Shape)}.");
        var context = ForwardContext.Eval();
        var weights = model.Clone(requiresGrad: true);
        var theta = weights.Parameters.Select(e => e.Tensor).ToArray();
        var d = new Tensor(delta.Shape.ToArray(), delta.ToArray(), requiresGrad: true);
        var frozen = weights.Sharing(requiresGrad: false); // shares θ̃'s values, for gradients in δ only

        Tensor Poisoned() => augmentation is null ? Op.Add(poisons.Images, d) : augmentation.Apply(Op.Add(poisons.Images, d));
        Tensor PoisonLoss(ParameterSet p) => Op.CrossEntropy(architecture.Forward(p, Poisoned(), context), poisons.Labels);

        if (sigma > 0)
        {
            var g0 = Gradients.Of(() => PoisonLoss(weights), theta);
            double scale = sigma / (SecondOrderProducts.Norm(g0) + 1e-12);
            for (int p = 0; p < theta.Length; p++)
            {
                var values = theta[p].Span;
                for (int i = 0; i < values.Length; i++) values[i] += (float)(scale * g0[p][i]);
            }
        }
        var gSource = Gradients.Of(() => Op.CrossEntropy(architecture.Forward(weights, sources.Images, context), sources.Labels), theta);
        var gPoison = Gradients.Of(() => PoisonLoss(weights), theta);

        double sourceNorm = SecondOrderProducts.Norm(gSource), poisonNorm = SecondOrderProducts.Norm(gPoison), dot = 0;
        for (int p = 0; p < theta.Length; p++)
            for (int i = 0; i < gSource[p].Length; i++) dot += (double)gSource[p][i] * gPoison[p][i];
        double cos = dot / (sourceNorm * poisonNorm);
        var u = new float[theta.Length][];
        for (int p = 0; p < theta.Length; p++)
        {
            u[p] = new float[gSource[p].Length];
            for (int i = 0; i < u[p].Length; i++)
                u[p][i] = (float)(-gSource[p][i] / (sourceNorm * poisonNorm) + cos * gPoison[p][i] / (poisonNorm * poisonNorm));
        }
        var gradient = SecondOrderProducts.Mixed(theta, u, () => Gradients.Of(() => PoisonLoss(frozen), [d]), radius)[0];
        return (1 - cos, gradient);
    }
}
