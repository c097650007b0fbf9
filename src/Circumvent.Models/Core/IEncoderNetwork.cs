using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// A network trained without labels whose encoder's output is what downstream use reads and what BadEncoder attacks:
/// SimCLR's f (<see cref="SimClrNetwork"/>, tensors "f.*") or a CLIP image tower's joint-space embedding
/// (<see cref="ClipNetwork"/>, tensors "visual.*"). Everything outside <see cref="EncoderPrefix"/> (a projection head,
/// a text tower) is not the encoder.
/// </summary>
public interface IEncoderNetwork : IArchitecture
{
    /// <summary>State_dict prefix of the encoder's tensors, e.g. "f." or "visual.".</summary>
    string EncoderPrefix { get; }

    /// <summary>x (N, C, H, W) → the encoder's output (N, <see cref="FeatureSize"/>), not normalised.</summary>
    Tensor Features(ParameterSet parameters, Tensor x, ForwardContext context);

    int FeatureSize { get; }
}
