using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Defenses.Pam;

/// <summary>
/// Path-Aware Minimization (Min et al., NeurIPS 2024; their BTIDBF/sam.py::PAM) as an objective around another: the
/// weights θ are moved along the path back to the backdoored weights θ_bd, θ̃ = θ + ρ·v/‖v‖ with v = θ_bd − θ (‖v‖ the
/// global L2 norm over all parameter tensors), and the loss returned is the inner loss at θ̃ with the step held constant.
/// Its gradient with respect to θ is ∇L(θ̃), the gradient PAM hands its base optimiser after restoring θ, so the loop's
/// own optimiser takes PAM's step without the weights ever being moved in place. While θ = θ_bd (the first step)
/// v = 0 and θ̃ = θ: a plain gradient step.
/// </summary>
/// <remarks>Only parameters move (their code takes v from the state_dicts' parameters); BN buffers are shared with θ and follow the pass at θ̃.</remarks>
public sealed class PathAwareObjective(ITrainingObjective inner, ParameterSet backdoored, double rho) : ITrainingObjective
{
    /// <summary>Added to ‖v‖ so a path of length zero gives no step.</summary>
    public const double NormEpsilon = 1e-12;

    public ITrainingObjective Inner { get; } = inner;
    public double Rho { get; } = rho;

    public bool IsStateless => Inner.IsStateless;
    public TrainingStatePart? StatePart => Inner.StatePart;
    public void BeginEpoch(int epoch) => Inner.BeginEpoch(epoch);
    public void AfterStep(double learningRate) => Inner.AfterStep(learningRate);
    public bool Converged => Inner.Converged;

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        var step = Perturbation(weights, backdoored, Rho);
        if (step.Count == 0) return Inner.Loss(architecture, weights, batch, context);
        var shifted = new ParameterSet();
        foreach (var e in weights)
            shifted.Add(e.Name, step.TryGetValue(e.Name, out var s) ? Op.Add(e.Tensor, s) : e.Tensor, e.Role);
        return Inner.Loss(architecture, shifted, batch, context);
    }

    /// <summary>
    /// ρ·v/(‖v‖ + 1e-12) per parameter tensor, v = θ_bd − θ, the norm over all parameters together; empty when v = 0
    /// (θ̃ = θ). A parameter θ_bd does not have is refused: the path needs both ends.
    /// </summary>
    public static Dictionary<string, Tensor> Perturbation(ParameterSet weights, ParameterSet backdoored, double rho)
    {
        double squares = 0;
        foreach (var e in weights.Parameters)
        {
            if (!backdoored.Contains(e.Name)) throw new ArgumentException($"PAM: the backdoored weights have no '{e.Name}'.");
            var w = e.Tensor.Span;
            var anchor = backdoored[e.Name].Span;
            for (int i = 0; i < w.Length; i++)
            {
                double d = (double)anchor[i] - w[i];
                squares += d * d;
            }
        }
        var steps = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        if (squares == 0) return steps;
        double scale = rho / (Math.Sqrt(squares) + NormEpsilon);
        foreach (var e in weights.Parameters)
        {
            var w = e.Tensor.Span;
            var anchor = backdoored[e.Name].Span;
            var step = new float[w.Length];
            for (int i = 0; i < w.Length; i++) step[i] = (float)(scale * ((double)anchor[i] - w[i]));
            steps[e.Name] = Tensor.FromArray(step, e.Tensor.Shape.ToArray());
        }
        return steps;
    }
}
