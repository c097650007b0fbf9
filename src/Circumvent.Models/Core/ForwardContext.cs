using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>Receives the batch statistics of every batch-norm layer a training-mode forward runs.</summary>
public interface IBatchNormObserver
{
    /// <param name="prefix">The BN's state_dict prefix, e.g. "layer1.0.bn1".</param>
    void Observe(string prefix, BatchStatistics stats);
}

/// <summary>
/// Sees the output of every convolution and linear layer a forward runs (any mode), e.g. to match
/// hidden units between two networks by their activations.
/// </summary>
public interface IActivationObserver
{
    /// <param name="prefix">The layer's state_dict prefix, e.g. "layer1.0.conv2" or "fc1".</param>
    /// <param name="output">
    /// The layer's own output before any residual add, norm or activation, whatever the forward fuses (this
    /// is the named probe point activation matching reads): (N, C, H, W) for a convolution (bias included),
    /// (N, features) for a linear layer. Read-only and valid only during the call (its buffer may be
    /// recycled when the caller's TensorScope ends): copy what you keep.
    /// </param>
    void Observe(string prefix, Tensor output);
}

/// <summary>
/// How a forward pass runs. Training: BN uses batch statistics (reported to <see cref="BatchNormObserver"/>),
/// dropout is active. Eval: BN uses the running buffers, dropout is the identity.
/// </summary>
public sealed class ForwardContext
{
    public bool Training { get; init; }
    public IBatchNormObserver? BatchNormObserver { get; init; }

    /// <summary>Optional; receives every conv/linear output (see <see cref="IActivationObserver"/>).</summary>
    public IActivationObserver? ActivationObserver { get; init; }
    public Random Rng { get; init; } = new(0);

    public static ForwardContext Eval() => new() { Training = false };
    public static ForwardContext Train(IBatchNormObserver? observer, Random rng) => new() { Training = true, BatchNormObserver = observer, Rng = rng };

    /// <summary>This context with another random stream (e.g. one that records whether dropout drew from it).</summary>
    public ForwardContext WithRng(Random rng) =>
        new() { Training = Training, BatchNormObserver = BatchNormObserver, ActivationObserver = ActivationObserver, Rng = rng };
}
