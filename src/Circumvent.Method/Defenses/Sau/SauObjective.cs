using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Defenses.Sau;

/// <summary>
/// SAU's unlearning loss on one batch: find shared adversarial examples x' of the model h and the frozen backdoored h₀
/// (<see cref="SharedAdversarialPgd"/>), then return λ₁·CE(h(x), y) + λ₂·CE(h(x'), y) + λ₃·L_sar
/// (<see cref="SauLosses.SharedAdversarialRisk"/>) on the rows where h₀ was fooled: h₀(x') ≠ y and h₀(x') ≠ h₀(x).
/// Every forward pass is in eval mode (sau.py keeps train_mode off), whatever the loop's context says.
/// </summary>
internal sealed class SauObjective(ParameterSet reference, Normalization normalization, SauOptions options) : ITrainingObjective
{
    /// <summary>The search's outcome on the last batch (for tests and progress); null before the first.</summary>
    public SharedAdversarialPgd.Outcome? LastSearch { get; private set; }

    /// <summary>PGD starts from a fixed δ, so a step depends on its batch and weights alone.</summary>
    public bool IsStateless => true;

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        var eval = ForwardContext.Eval();
        var search = SharedAdversarialPgd.Run(architecture, weights, reference, batch.Images, batch.Labels, normalization, options);
        LastSearch = search;
        var perturbed = SharedAdversarialPgd.Apply(batch.Images, search.Perturbation, normalization);

        int[] clean, adversarial;
        using (GradMode.Disable())
        {
            clean = Op.ArgMax(architecture.Forward(reference, batch.Images, eval));
            adversarial = Op.ArgMax(architecture.Forward(reference, perturbed, eval));
        }
        var potential = new bool[batch.Count];
        for (int i = 0; i < potential.Length; i++) potential[i] = adversarial[i] != batch.Labels[i] && adversarial[i] != clean[i];

        var logits = architecture.Forward(weights, batch.Images, eval);
        var perturbedLogits = architecture.Forward(weights, perturbed, eval);
        var loss = Op.MulScalar(Op.CrossEntropy(logits, batch.Labels), (float)options.Lambda1);
        if (options.Lambda2 != 0) loss = Op.Add(loss, Op.MulScalar(Op.CrossEntropy(perturbedLogits, batch.Labels), (float)options.Lambda2));
        if (options.Lambda3 != 0)
            loss = Op.Add(loss, Op.MulScalar(SauLosses.SharedAdversarialRisk(perturbedLogits, adversarial, potential, batch.Count), (float)options.Lambda3));
        return new BatchLoss(loss, logits, batch.Labels);
    }
}
