using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// A network whose logits are one linear layer on a feature vector, logits = Linear(HeadName, Features(x)) (airnet's
/// times a positive constant, which changes no arg-max): it can
/// serve as an encoder (self-supervised training, kNN and probes on its features) with the head left out.
/// </summary>
public interface IFeatureExtractor : IArchitecture
{
    /// <summary>State_dict prefix of the classifier head (its tensors are HeadName.weight and HeadName.bias).</summary>
    string HeadName { get; }

    /// <summary>x (N, C, H, W) → features (N, <see cref="FeatureSize"/>), what the head reads.</summary>
    Tensor Features(ParameterSet parameters, Tensor x, ForwardContext context);

    /// <summary>
    /// features (N, <see cref="FeatureSize"/>) → logits (N, classes): the classifier head alone, so that
    /// Logits(Features(x)) = Forward(x). A linear layer with its bias when the network has one; airnet scales it.
    /// </summary>
    Tensor Logits(ParameterSet parameters, Tensor features, ForwardContext context) =>
        Layers.Linear(parameters, HeadName, features, context, bias: parameters.Contains(HeadName + ".bias"));

    /// <summary>Length of the feature vector: the head's input size.</summary>
    int FeatureSize => Tensors.First(t => t.Name == HeadName + ".weight").Shape[1];

    /// <summary>Whether a state_dict entry belongs to the encoder (every one but the head's).</summary>
    bool IsEncoderTensor(string name) => !name.StartsWith(HeadName + ".", StringComparison.Ordinal);
}
