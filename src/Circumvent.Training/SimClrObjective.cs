using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// SimCLR's objective: NT-Xent (<see cref="Op.NtXent"/>) between the projections of a batch's first two views,
/// made by two separate forward calls as in the authors' code, so train-mode BN normalises each view with its
/// own statistics (and the running statistics are updated once per view, as PyTorch's two calls do).
/// The architecture is the network whose output is the projection (a <see cref="SimClrNetwork"/>).
/// Each forward call takes its own weight draw: the same parameters when a model is trained, a fresh t for each
/// view on a curve (the authors' oneEpochTrain_simCLR calls the curve network once per view, each call drawing t).
/// </summary>
public sealed class SimClrObjective : ITrainingObjective
{
    public const float DefaultTemperature = 0.5f;

    public SimClrObjective(float temperature = DefaultTemperature)
    {
        if (!(temperature > 0) || float.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "--temperature must be a positive number.");
        Temperature = temperature;
    }

    public float Temperature { get; }

    public bool IsStateless => true;
    public bool ResumesWithinEpoch => true;

    public int WeightDrawsPerStep => 2;

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context) =>
        Loss(architecture, () => weights, batch, context);

    public BatchLoss Loss(IArchitecture architecture, Func<ParameterSet> draw, Batch batch, ForwardContext context)
    {
        if (batch.Views.Count < 2)
            throw new InvalidOperationException($"SimCLR needs two augmented views per image; the batch has {batch.Views.Count} (make the loader with Views = 2).");
        var first = architecture.Forward(draw(), batch.Views[0], context);
        var second = architecture.Forward(draw(), batch.Views[1], context);
        return Op.NtXent(first, second, Temperature);
    }
}
