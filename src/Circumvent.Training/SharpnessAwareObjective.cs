using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// Sharpness-aware minimisation (Foret et al. 2021; Kwon et al.'s adaptive ASAM) as an objective around another: the
/// gradient g of the inner loss at the weights w gives the ascent step e = ρ·g/‖g‖ (adaptive: ρ·w²·g/‖|w|·g‖, norms over
/// all trained tensors together), and the loss returned is the inner loss at w + e with e held constant. Its gradient
/// with respect to w is ∇L(w + e), the direction SAM steps w by, so the loop's own optimiser (SGD with momentum and
/// weight decay) takes SAM's step without the weights ever being moved in place.
/// </summary>
/// <remarks>
/// BN running statistics (the context's observer) follow the pass at w only; the pass at w + e does not report them.
/// One implementation serves FT-SAM (adaptive, ρ 2) and SBL's first task (plain SAM).
/// </remarks>
public sealed class SharpnessAwareObjective : ITrainingObjective
{
    /// <summary>Added to the norm (GSAM's perturb_eps) so a zero gradient gives a zero step.</summary>
    public const double NormEpsilon = 1e-12;

    public SharpnessAwareObjective(ITrainingObjective inner, double rho, bool adaptive = false)
    {
        if (!(rho > 0) || double.IsInfinity(rho)) throw new ArgumentOutOfRangeException(nameof(rho), rho, "SAM's radius ρ must be a positive number.");
        Inner = inner;
        Rho = rho;
        Adaptive = adaptive;
    }

    public ITrainingObjective Inner { get; }
    public double Rho { get; }
    public bool Adaptive { get; }

    public bool IsStateless => Inner.IsStateless;
    public bool ResumesWithinEpoch => Inner.ResumesWithinEpoch;
    public TrainingStatePart? StatePart => Inner.StatePart;
    public void BeginEpoch(int epoch) => Inner.BeginEpoch(epoch);
    public void AfterStep(double learningRate) => Inner.AfterStep(learningRate);
    public bool Converged => Inner.Converged;

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        var first = Inner.Loss(architecture, weights, batch, context).Loss;
        first.Backward(releaseIntermediates: true);
        var perturbation = Perturbation(weights, Rho, Adaptive);
        // The first pass's gradient only chose e; the loop's step must see the gradient at w + e alone.
        foreach (var e in weights.Parameters) e.Tensor.ZeroGrad();

        var shifted = new ParameterSet();
        foreach (var e in weights)
            shifted.Add(e.Name, perturbation.TryGetValue(e.Name, out var step) ? Op.Add(e.Tensor, step) : e.Tensor, e.Role);
        var quiet = new ForwardContext { Training = context.Training, Rng = context.Rng, ActivationObserver = context.ActivationObserver };
        return Inner.Loss(architecture, shifted, batch, quiet);
    }

    /// <summary>
    /// SAM's ascent step per trained tensor from the gradients the tensors hold: e = ρ·g/(‖g‖ + 1e-12), or adaptive
    /// e = ρ·w²·g/(‖|w|·g‖ + 1e-12), with the norm taken over all tensors together. Tensors without a gradient get none.
    /// </summary>
    public static Dictionary<string, Tensor> Perturbation(ParameterSet weights, double rho, bool adaptive)
    {
        var trained = weights.Parameters.Where(e => e.Tensor.Grad is not null).ToArray();
        double squares = 0;
        foreach (var e in trained)
        {
            var w = e.Tensor.Span;
            var g = e.Tensor.Grad!.Span;
            for (int i = 0; i < g.Length; i++)
            {
                double scaled = adaptive ? Math.Abs(w[i]) * g[i] : g[i];
                squares += scaled * scaled;
            }
        }
        double scale = rho / (Math.Sqrt(squares) + NormEpsilon);
        var steps = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in trained)
        {
            var w = e.Tensor.Span;
            var g = e.Tensor.Grad!.Span;
            var step = new float[g.Length];
            for (int i = 0; i < g.Length; i++) step[i] = (float)(scale * g[i] * (adaptive ? (double)w[i] * w[i] : 1));
            steps[e.Name] = Tensor.FromArray(step, e.Tensor.Shape.ToArray());
        }
        return steps;
    }
}
