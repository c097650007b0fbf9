using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;

namespace Circumvent.Method.Defenses.IBau;

/// <summary>
/// I-BAU's inner maximisation as BackdoorBench runs it each round: one universal perturbation δ (1, C, H, W), from zero,
/// by plain SGD over one pass of the batches on −CE(f(x + δ), argmax f(x)) + c‖δ‖² — pushing every image away from the
/// model's own prediction. No norm bound (the authors' projection is commented out); eval mode.
/// </summary>
public static class UniversalPerturbation
{
    public static Tensor Fit(IArchitecture architecture, ParameterSet model, IEnumerable<(Tensor Images, int[] Labels)> batches,
        double learningRate, double l2)
    {
        var frozen = model.Sharing(requiresGrad: false);
        var context = ForwardContext.Eval();
        Tensor? delta = null;
        foreach (var (images, _) in batches)
        {
            delta ??= new Tensor([1, .. images.Shape[1..]], new float[Shape.Size(images.Shape[1..])], requiresGrad: true);
            int[] predicted;
            using (GradMode.Disable())
            using (Circumvent.Engine.Memory.TensorScope.Open())
                predicted = Op.ArgMax(architecture.Forward(frozen, images, context));
            var g = Gradients.Of(() => Op.Add(
                Op.Neg(Op.CrossEntropy(architecture.Forward(frozen, Op.Add(images, delta), context), predicted)),
                Op.MulScalar(Op.Sum(Op.Mul(delta, delta)), (float)l2)), [delta])[0];
            var values = delta.Span;
            for (int i = 0; i < values.Length; i++) values[i] -= (float)(learningRate * g[i]);
        }
        if (delta is null) throw new ArgumentException("The universal perturbation needs at least one batch.", nameof(batches));
        return new Tensor(delta.Shape.ToArray(), delta.ToArray());
    }
}
