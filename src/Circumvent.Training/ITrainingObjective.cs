using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// What the <see cref="TrainingLoop"/> minimises on one mini-batch, for every kind of training: plain
/// cross-entropy (<see cref="SupervisedObjective"/>), a training-manipulation attack that rewrites part
/// of every batch with networks it trains alongside (InputAware), a curve's loss at w(t), and later
/// self-supervised losses. The loop keeps its schedule, divergence check, progress and resume; an
/// objective only says how a batch becomes a loss.
/// </summary>
public interface ITrainingObjective
{
    /// <summary>
    /// The loss to backpropagate for <paramref name="batch"/> under <paramref name="weights"/> (differentiable
    /// wrt them), and optionally the logits and labels the training accuracy is counted on. Called inside the
    /// step's TensorScope after the trained tensors' gradients were cleared; <paramref name="context"/> is the
    /// epoch's training-mode context.
    /// </summary>
    BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context);

    /// <summary>
    /// The loss of one step whose weights come from <paramref name="draw"/>, which the loop calls as often as the
    /// objective asks: a model's own parameters every time, a curve's w(t) at a fresh t every time. An objective
    /// with one forward call draws once (this default); one with a forward call per view draws once per call
    /// (<see cref="WeightDrawsPerStep"/>), as the authors' two-view curve step puts each view at its own t.
    /// </summary>
    BatchLoss Loss(IArchitecture architecture, Func<ParameterSet> draw, Batch batch, ForwardContext context) =>
        Loss(architecture, draw(), batch, context);

    /// <summary>How many times one step calls its draw (a resumed curve skips that many t draws per step done).</summary>
    int WeightDrawsPerStep => 1;

    /// <summary>
    /// Before each epoch's first batch. A resumed run starts at a later epoch, so an objective that draws
    /// random numbers or walks a second data stream resets both here from the epoch.
    /// </summary>
    void BeginEpoch(int epoch) { }

    /// <summary>After the loop's optimiser step (taken at <paramref name="learningRate"/>): update the objective's own networks.</summary>
    void AfterStep(double learningRate) { }

    /// <summary>The networks the objective trains itself, saved with the run's state; null when it has none.</summary>
    TrainingStatePart? StatePart => null;

    /// <summary>
    /// True once the objective has met a stopping rule of its own (Neural Cleanse's early stop): the loop then enters
    /// no further epoch. Read before every epoch, after the previous one's state was saved, so a resumed run whose
    /// objective had stopped (its state restored from <see cref="StatePart"/>) stays stopped.
    /// </summary>
    bool Converged => false;

    /// <summary>
    /// True for an objective that keeps nothing between steps (no networks, no random stream), so the run's own
    /// state resumes it exactly; an objective that says nothing is assumed to keep something.
    /// </summary>
    bool IsStateless => false;

    /// <summary>
    /// True when nothing the objective draws or keeps runs on from one step to the next except what its
    /// <see cref="StatePart"/> saves, so a run stopped inside an epoch can resume at the next batch exactly; false
    /// (assumed when the objective says nothing) for one that walks a random stream or a second data stream through the
    /// epoch from <see cref="BeginEpoch"/>: its run resumes at the epoch's start.
    /// </summary>
    bool ResumesWithinEpoch => false;
}

/// <param name="Loss">Scalar to minimise.</param>
/// <param name="Logits">(B', classes) the network produced, when the objective classifies (null otherwise).</param>
/// <param name="Labels">B' labels the accuracy compares the logits with (null with no logits).</param>
public readonly record struct BatchLoss(Tensor Loss, Tensor? Logits = null, int[]? Labels = null)
{
    /// <summary>A loss with nothing to count accuracy on.</summary>
    public static implicit operator BatchLoss(Tensor loss) => new(loss);
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

    public bool IsStateless => true;
    public bool ResumesWithinEpoch => true;

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        var logits = architecture.Forward(weights, batch.Images, context);
        return new BatchLoss(Op.CrossEntropy(logits, batch.Labels, (float)LabelSmoothing), logits, batch.Labels);
    }
}
