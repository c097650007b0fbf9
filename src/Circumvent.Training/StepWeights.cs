using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// The weights a <see cref="TrainingLoop"/> step evaluates the objective at: a model's own parameters, or
/// a curve's w(t) at a fresh t (the optimiser then updates the curve's bends through w(t)).
/// </summary>
public interface IStepWeights
{
    /// <summary>The weights of the next step, built inside the step's TensorScope.</summary>
    ParameterSet ForStep();

    /// <summary>
    /// Before each epoch's first batch, with the batches an epoch has: a source that draws per step (a curve's t)
    /// puts its stream where the uninterrupted run had it, so a resumed run draws the same.
    /// </summary>
    void BeginEpoch(int epoch, int batchesPerEpoch) { }

    /// <summary>True when the weights draw nothing per step, so a run can resume inside an epoch (see <see cref="ITrainingObjective.ResumesWithinEpoch"/>).</summary>
    bool ResumesWithinEpoch => false;
}

/// <summary>A model trained in place: every step uses its parameters as they are.</summary>
public sealed class ModelWeights(ParameterSet parameters) : IStepWeights
{
    public ParameterSet ForStep() => parameters;
    public bool ResumesWithinEpoch => true;
}
