using Circumvent.Data;
using Circumvent.Engine;
using Circumvent.Engine.Memory;
using Circumvent.Models;

namespace Circumvent.Method.Defenses.Sau;

/// <summary>
/// SAU's search for shared adversarial examples (sau.py's Shared_PGD, L∞): a perturbation δ per image, in pixel units
/// of the 0–1 scale, that makes the model h and the frozen backdoored reference h₀ err in the same way. From δ = +ε
/// everywhere ("max" start), each of <see cref="SauOptions.PgdSteps"/> steps descends
/// β₁·L_adv + β₂·L_share by δ ← clip(δ − step·sign(∇δ), −ε, ε), where
/// L_adv = −[Σ_{h not yet fooled} CE(h(x'), y) + Σ_{h₀ not yet fooled} CE(h₀(x'), y)] / 2B (so the step raises the
/// cross-entropy of the samples not yet attacked) and L_share = Σ_{not yet shared} JS(h(x'), h₀(x')) / B. "Fooled"
/// compares with the model's own prediction on the clean x; "shared": both fooled into the same class. The search ends
/// early once every sample is shared.
/// </summary>
/// <remarks>
/// x' = normalise(unnormalise(x) + δ) = x + δ/std per channel, as sau.py's get_perturbed_image; like sau.py it does not
/// clip x' to the valid pixel range (its clip is commented out). Both models run in eval mode.
/// </remarks>
public static class SharedAdversarialPgd
{
    /// <summary>The PGD's last step, for tests and progress: how many of the batch each model got wrong and how many were shared.</summary>
    public sealed record Outcome(float[] Perturbation, int FooledModel, int FooledReference, int Shared, int StepsTaken);

    /// <param name="model">h, the model being repaired (its weights are read, not differentiated).</param>
    /// <param name="reference">h₀, the backdoored model, frozen.</param>
    /// <param name="images">(B, C, H, W), normalised.</param>
    public static Outcome Run(Circumvent.Models.IArchitecture architecture, ParameterSet model, ParameterSet reference, Tensor images, int[] labels,
        Normalization normalization, SauOptions options)
    {
        int batch = images.Dim(0), channels = images.Dim(1), plane = images.Dim(2) * images.Dim(3);
        var h = Detached(model);
        var h0 = Detached(reference);
        var eval = ForwardContext.Eval();
        int[] clean, cleanReference;
        using (TensorScope.Open())
        {
            clean = Op.ArgMax(architecture.Forward(h, images, eval));
            cleanReference = Op.ArgMax(architecture.Forward(h0, images, eval));
        }
        float epsilon = (float)options.Epsilon, step = (float)options.PgdStepSize;
        var delta = new float[images.Length];
        Array.Fill(delta, epsilon);
        int fooled = 0, fooledReference = 0, shared = 0, taken = 0;
        for (int s = 0; s < options.PgdSteps; s++)
        {
            using var scope = TensorScope.Open();
            var perturbed = Tensor.Parameter(Perturb(images, delta, normalization, channels, plane), images.Shape.ToArray());
            var logits = architecture.Forward(h, perturbed, eval);
            var logitsReference = architecture.Forward(h0, perturbed, eval);
            var predicted = Op.ArgMax(logits);
            var predictedReference = Op.ArgMax(logitsReference);
            var notFooled = new bool[batch];
            var notFooledReference = new bool[batch];
            var notShared = new bool[batch];
            for (int i = 0; i < batch; i++)
            {
                notFooled[i] = predicted[i] == clean[i];
                notFooledReference[i] = predictedReference[i] == cleanReference[i];
                notShared[i] = notFooled[i] || notFooledReference[i] || predicted[i] != predictedReference[i];
            }
            fooled = notFooled.Count(n => !n);
            fooledReference = notFooledReference.Count(n => !n);
            shared = notShared.Count(n => !n);

            var adversarial = Op.MulScalar(Op.Add(SauLosses.CrossEntropySum(logits, labels, notFooled),
                SauLosses.CrossEntropySum(logitsReference, labels, notFooledReference)), -1f / (2 * batch));
            var share = Op.MulScalar(SauLosses.JensenShannonSum(logits, logitsReference, notShared), 1f / batch);
            var loss = Op.Add(Op.MulScalar(adversarial, (float)options.Beta1), Op.MulScalar(share, (float)options.Beta2));
            loss.Backward();
            // x' = x + δ/std: the gradient wrt δ is the gradient wrt x' divided by a positive std, so its sign is the same.
            var gradient = perturbed.Grad!.Span;
            for (int i = 0; i < delta.Length; i++)
                delta[i] = Math.Clamp(delta[i] - step * MathF.Sign(gradient[i]), -epsilon, epsilon);
            taken++;
            if (shared == batch) break;
        }
        return new Outcome(delta, fooled, fooledReference, shared, taken);
    }

    /// <summary>x + δ/std per channel (the normalised image of unnormalise(x) + δ), as a tensor of <paramref name="images"/>' shape without gradient.</summary>
    public static Tensor Apply(Tensor images, float[] delta, Normalization normalization) =>
        Tensor.FromArray(Perturb(images, delta, normalization, images.Dim(1), images.Dim(2) * images.Dim(3)), images.Shape.ToArray());

    private static float[] Perturb(Tensor images, float[] delta, Normalization normalization, int channels, int plane)
    {
        var x = images.Span;
        var result = new float[x.Length];
        for (int i = 0; i < x.Length; i++) result[i] = x[i] + delta[i] / normalization.Std[i / plane % channels];
        return result;
    }

    /// <summary>The same tensors without gradient tracking, so the search's backward reaches the input only.</summary>
    internal static ParameterSet Detached(ParameterSet parameters)
    {
        var view = new ParameterSet();
        foreach (var e in parameters) view.Add(e.Name, e.Tensor.Detach(), e.Role);
        return view;
    }
}
