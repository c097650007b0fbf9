using Circumvent.Data.Loading;
using Circumvent.Engine;

namespace Circumvent.Training;

/// <summary>
/// A loss other than plain cross-entropy on each batch as it comes, for the <see cref="Trainer"/>: e.g. a
/// training-manipulation attack that rewrites part of every batch with networks it trains alongside
/// the classifier (InputAware). The trainer keeps its loop, schedule, divergence check and progress.
/// </summary>
public interface IBatchObjective
{
    /// <summary>
    /// The loss to backpropagate for <paramref name="batch"/>, and the logits and labels the training
    /// accuracy is counted on. Called inside the step's TensorScope, after the classifier's gradients
    /// were cleared; <paramref name="classify"/> runs the classifier (training mode) on an input batch.
    /// </summary>
    BatchLoss Loss(Batch batch, Func<Tensor, Tensor> classify);

    /// <summary>After the classifier's optimiser step (taken at <paramref name="classifierLearningRate"/>): update the objective's own networks.</summary>
    void AfterStep(double classifierLearningRate);

    /// <summary>
    /// Before each epoch's first batch. A resumed run starts at a later epoch, so an objective that draws
    /// random numbers or walks a second data stream resets both here from the epoch.
    /// </summary>
    void BeginEpoch(int epoch) { }

    /// <summary>The networks the objective trains, saved with the classifier's training state; null when it cannot be resumed.</summary>
    TrainingStatePart? StatePart => null;
}

/// <param name="Loss">Scalar to minimise.</param>
/// <param name="Logits">(B', classes) the classifier produced.</param>
/// <param name="Labels">B' labels the accuracy compares the logits with.</param>
public readonly record struct BatchLoss(Tensor Loss, Tensor Logits, int[] Labels);
