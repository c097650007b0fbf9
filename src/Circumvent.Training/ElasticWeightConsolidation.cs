using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// Elastic weight consolidation (Kirkpatrick et al. 2017) as an objective around another: the inner loss
/// plus λ·Σᵢ Fᵢ·(θᵢ − θ*ᵢ)² over every parameter the Fisher names, with F the diagonal Fisher
/// (<see cref="DiagonalFisher"/>) and θ* the weights at the end of the previous task. No ½, as in the
/// mammoth code SBL builds on (models/ewc.py: penalty = (fish · (θ − θ*)²).sum(), loss += e_lambda · penalty).
/// </summary>
public sealed class ElasticWeightConsolidation : ITrainingObjective
{
    private readonly ITrainingObjective _inner;
    private readonly ParameterSet _fisher;
    private readonly ParameterSet _anchor;

    /// <param name="fisher">Fᵢ by parameter name (same shapes as the weights).</param>
    /// <param name="anchor">θ*ᵢ by parameter name; copied, so later training does not move it.</param>
    public ElasticWeightConsolidation(ITrainingObjective inner, ParameterSet fisher, ParameterSet anchor, double lambda)
    {
        if (!(lambda >= 0) || double.IsInfinity(lambda)) throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "EWC's λ must be a finite value ≥ 0.");
        foreach (var f in fisher)
        {
            if (!anchor.Contains(f.Name)) throw new ArgumentException($"EWC: the Fisher names '{f.Name}', which the anchor weights do not have.");
            Shape.CheckSame(f.Tensor.Shape, anchor[f.Name].Shape, $"EWC tensor '{f.Name}'");
        }
        _inner = inner;
        _fisher = fisher;
        _anchor = new ParameterSet();
        foreach (var f in fisher) _anchor.Add(f.Name, anchor[f.Name].Clone(), TensorRole.Parameter);
        Lambda = lambda;
    }

    public double Lambda { get; }

    public bool IsStateless => _inner.IsStateless;
    public bool ResumesWithinEpoch => _inner.ResumesWithinEpoch;
    public TrainingStatePart? StatePart => _inner.StatePart;
    public void BeginEpoch(int epoch) => _inner.BeginEpoch(epoch);
    public void AfterStep(double learningRate) => _inner.AfterStep(learningRate);

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        var result = _inner.Loss(architecture, weights, batch, context);
        return result with { Loss = Op.Add(result.Loss, Penalty(weights)) };
    }

    /// <summary>λ·Σᵢ Fᵢ·(θᵢ − θ*ᵢ)², differentiable wrt <paramref name="weights"/> (a scalar).</summary>
    public Tensor Penalty(ParameterSet weights)
    {
        Tensor? total = null;
        foreach (var f in _fisher)
        {
            var difference = Op.Sub(weights[f.Name], _anchor[f.Name]);
            var term = Op.Sum(Op.Mul(f.Tensor, Op.Square(difference)));
            total = total is null ? term : Op.Add(total, term);
        }
        return total is null ? Tensor.Scalar(0f) : Op.MulScalar(total, (float)Lambda);
    }
}
