using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Method.Curves;

/// <summary>
/// The loss a curve (or a fine-tuning run) minimises on one mini-batch. Curve code only sees this
/// interface, so supervised cross-entropy and later self-supervised losses (SimCLR, CLIP) plug in
/// without touching it.
/// </summary>
public interface ITrainingObjective
{
    /// <summary>A scalar loss for <paramref name="batch"/> under <paramref name="weights"/>, differentiable wrt them.</summary>
    Tensor Loss(IArchitecture arch, ParameterSet weights, Batch batch, ForwardContext ctx);
}

/// <summary>Mean cross-entropy of the network's logits against the batch labels, optionally label-smoothed (PyTorch semantics).</summary>
public sealed class SupervisedObjective : ITrainingObjective
{
    public SupervisedObjective(double labelSmoothing = 0)
    {
        if (!(labelSmoothing >= 0 && labelSmoothing < 1))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "Label smoothing must be in [0, 1).");
        LabelSmoothing = labelSmoothing;
    }

    public double LabelSmoothing { get; }

    public Tensor Loss(IArchitecture arch, ParameterSet weights, Batch batch, ForwardContext ctx)
    {
        var logits = arch.Forward(weights, batch.Images, ctx);
        return Op.CrossEntropy(logits, batch.Labels, (float)LabelSmoothing);
    }
}
