using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// Sharpness-aware minimisation (SAM, Foret et al. 2021) around another objective, inside the one
/// <see cref="TrainingLoop"/>: the step's gradient is taken at the worst nearby weights w + e,
/// e = ρ·g/‖g‖₂ with g = ∇L(w) over every trained tensor together (one global norm), and the loop's
/// optimiser then steps w with ∇L(w + e) (weight decay and momentum at w, as in the authors' code).
/// Costs two forward/backward passes per step. The second pass leaves the BN running statistics alone
/// (they are updated once per step, by the first pass at w), as the reference implementation does.
/// The loss reported is L(w + e).
/// </summary>
public sealed class SharpnessAwareObjective : ITrainingObjective
{
    private readonly ITrainingObjective _inner;

    public SharpnessAwareObjective(ITrainingObjective inner, double rho)
    {
        if (!(rho > 0) || double.IsInfinity(rho)) throw new ArgumentOutOfRangeException(nameof(rho), rho, "SAM's radius ρ must be a positive number.");
        _inner = inner;
        Rho = rho;
    }

    public double Rho { get; }

    public bool IsStateless => _inner.IsStateless;
    public TrainingStatePart? StatePart => _inner.StatePart;
    public void BeginEpoch(int epoch) => _inner.BeginEpoch(epoch);
    public void AfterStep(double learningRate) => _inner.AfterStep(learningRate);

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        var trained = weights.Parameters.Where(p => p.Tensor.RequiresGrad).ToList();
        var first = _inner.Loss(architecture, weights, batch, context);
        first.Loss.Backward();
        var gradients = trained.Select(p => p.Tensor.Grad?.ToArray() ?? new float[p.Tensor.Length]).ToList();
        var ascent = Perturbation(gradients, Rho);
        foreach (var p in trained) p.Tensor.ZeroGrad(); // the loop's backward of the returned loss fills them again

        // w + e as differentiable tensors of w (e is a constant), so the loop's backward lands on w itself.
        var perturbed = new ParameterSet();
        int k = 0;
        foreach (var entry in weights)
        {
            bool isTrained = entry.Role == TensorRole.Parameter && entry.Tensor.RequiresGrad;
            var tensor = isTrained ? Op.Add(entry.Tensor, Tensor.FromArray(ascent[k++], entry.Tensor.Shape)) : entry.Tensor;
            perturbed.Add(entry.Name, tensor, entry.Role);
        }
        var second = context.Training
            ? new ForwardContext { Training = true, Rng = context.Rng, ActivationObserver = context.ActivationObserver }
            : context;
        return _inner.Loss(architecture, perturbed, batch, second);
    }

    /// <summary>e = ρ·g/(‖g‖₂ + 1e−12) with one norm over all the tensors' gradients (the reference's epsilon).</summary>
    public static float[][] Perturbation(IReadOnlyList<float[]> gradients, double rho)
    {
        double squares = 0;
        foreach (var g in gradients)
            foreach (float v in g) squares += (double)v * v;
        double scale = rho / (Math.Sqrt(squares) + 1e-12);
        return gradients.Select(g => Array.ConvertAll(g, v => (float)(v * scale))).ToArray();
    }
}
