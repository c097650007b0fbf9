using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>Receives the batch statistics of every batch-norm layer a training-mode forward runs.</summary>
public interface IBatchNormObserver
{
    /// <param name="prefix">The BN's state_dict prefix, e.g. "layer1.0.bn1".</param>
    void Observe(string prefix, BatchStatistics stats);
}

/// <summary>
/// How a forward pass runs. Training: BN uses batch statistics (reported to <see cref="BatchNormObserver"/>),
/// dropout is active. Eval: BN uses the running buffers, dropout is the identity.
/// </summary>
public sealed class ForwardContext
{
    public bool Training { get; init; }
    public IBatchNormObserver? BatchNormObserver { get; init; }
    public Random Rng { get; init; } = new(0);

    public static ForwardContext Eval() => new() { Training = false };
    public static ForwardContext Train(IBatchNormObserver? observer, Random rng) => new() { Training = true, BatchNormObserver = observer, Rng = rng };
}
