using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;

namespace Circumvent.Method.Defenses.IBau;

/// <summary>
/// I-BAU's outer gradient (BackdoorBench's `hypergrad.fixed_point` with the `GradientDescent` map): the derivative wrt
/// the weights θ of the outer loss at the perturbation δ*(θ) the inner problem settles on, by the implicit function
/// theorem truncated to K fixed-point iterations.
/// <code>
///   inner  L_in(δ, θ)  = mean(−CE(f(x₀ + δ), y₀)) + c‖δ‖²        (x₀, y₀: the first batch, true labels)
///   outer  L_out(δ, θ) = CE(f(x + m·δ), y)                        (m: 1 on the patched images of the batch)
///   map    Φ(δ, θ)     = δ − η ∇δ L_in
///   v₁ = ∂δ L_out;  v_{k+1} = (∂Φ/∂δ)ᵀ v_k + ∂δ L_out = v_k − η H_δδ v_k + ∂δ L_out        (k &lt; K)
///   ∇θ = ∂θ L_out + (∂Φ/∂θ)ᵀ v_K = ∂θ L_out − η ∂θ⟨∇δ L_in, v_K⟩
/// </code>
/// The second-derivative products come from <see cref="SecondOrderProducts"/> (K − 1 Hessian-vector products and one
/// mixed product, three gradients each). The model is evaluated in eval mode throughout, as BackdoorBench's is.
/// </summary>
public static class ImplicitHypergradient
{
    /// <param name="model">θ; only read (its values, not its gradients).</param>
    /// <param name="delta">δ, (1, C, H, W) in the normalised input space.</param>
    /// <param name="inner">x₀ (N₀, C, H, W) and y₀ of the inner loss.</param>
    /// <param name="outer">x, y of the outer loss.</param>
    /// <param name="patched">Indices into <paramref name="outer"/>'s images that carry δ (may be empty).</param>
    /// <returns>∇θ and its parts, per parameter of <paramref name="model"/> in its order (<see cref="ParameterSet.Parameters"/>).</returns>
    public static Hypergradient Compute(IArchitecture architecture, ParameterSet model, Tensor delta, (Tensor Images, int[] Labels) inner,
        (Tensor Images, int[] Labels) outer, IReadOnlyCollection<int> patched, IBauOptions options, double radius = SecondOrderProducts.DefaultRadius)
    {
        var weights = model.Sharing(requiresGrad: true);
        var frozen = model.Sharing(requiresGrad: false);
        var theta = weights.Parameters.Select(e => e.Tensor).ToArray();
        var d = new Tensor(delta.Shape.ToArray(), delta.ToArray(), requiresGrad: true);
        var context = ForwardContext.Eval();
        var mask = PatchMask(outer.Images.Shape, patched);
        float step = (float)options.InnerStep;

        Tensor InnerLoss(ParameterSet p) => Op.Add(
            Op.Neg(Op.CrossEntropy(architecture.Forward(p, Op.Add(inner.Images, d), context), inner.Labels)),
            Op.MulScalar(Op.Sum(Op.Mul(d, d)), (float)options.InnerL2));
        Tensor OuterLoss() => Op.CrossEntropy(architecture.Forward(weights, Op.Add(outer.Images, Op.Mul(mask, d)), context), outer.Labels);

        var both = Gradients.Of(OuterLoss, [.. theta, d]);
        var outerTheta = both[..^1];
        var outerDelta = both[^1];

        var v = (float[])outerDelta.Clone();
        for (int k = 1; k < options.FixedPointSteps; k++)
        {
            var hv = SecondOrderProducts.HessianVector([d], [v], () => Gradients.Of(() => InnerLoss(frozen), [d]), radius)[0];
            for (int i = 0; i < v.Length; i++) v[i] = v[i] - step * hv[i] + outerDelta[i];
        }
        var mixed = SecondOrderProducts.Mixed([d], [v], () => Gradients.Of(() => InnerLoss(weights), theta), radius);

        var implicitPart = mixed.Select(m => m.Select(x => -step * x).ToArray()).ToArray();
        return new Hypergradient(outerTheta, implicitPart, v);
    }

    // m (N, C, H, W): 1 on every value of the patched images, 0 elsewhere; m·δ broadcasts δ (1, C, H, W) over them.
    private static Tensor PatchMask(int[] shape, IReadOnlyCollection<int> patched)
    {
        var m = new float[Shape.Size(shape)];
        int perImage = m.Length / shape[0];
        foreach (int i in patched)
        {
            if (i < 0 || i >= shape[0]) throw new ArgumentOutOfRangeException(nameof(patched), i, $"patched image index outside the batch of {shape[0]}.");
            m.AsSpan(i * perImage, perImage).Fill(1f);
        }
        return new Tensor(shape.ToArray(), m);
    }
}

/// <summary>
/// I-BAU's outer gradient ∇θ = <see cref="Outer"/> + <see cref="Implicit"/>, per parameter: ∂θ L_out, and
/// −η ∂θ⟨∇δ L_in, v_K⟩, the part that flows through the inner problem; <see cref="V"/> is v_K (δ's shape).
/// </summary>
public sealed record Hypergradient(float[][] Outer, float[][] Implicit, float[] V)
{
    public float[][] Total() => [.. Outer.Select((o, p) => o.Select((x, i) => x + Implicit[p][i]).ToArray())];
}
