using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>Name, shape and role of one state_dict entry an architecture expects.</summary>
public sealed record TensorSpec(string Name, int[] Shape, TensorRole Role);

/// <summary>What every architecture is built from; stored in checkpoints.</summary>
/// <param name="Name">Registry name: mlp, cnn-small, vgg11, vgg16, vgg19, preact-resnet18, resnet18, airnet.</param>
/// <param name="Height">Input height the network is built for (mlp and cnn-small accept only this size).</param>
/// <param name="Width">Input width (see Height).</param>
/// <param name="WidthMultiplier">Channel multiplier (1 = the published network); channels = round(c·m), at least 1.</param>
public sealed record ArchitectureConfig(string Name, int InChannels, int Height, int Width, int Classes, double WidthMultiplier = 1.0)
{
    /// <summary>
    /// For a network described in a file (see <see cref="Described.ModelDescription"/>): the description,
    /// which then fixes every size; null for the built-in networks, which <see cref="Name"/> selects.
    /// </summary>
    public Described.ModelDescription? Description { get; init; }
}

/// <summary>
/// A network as data plus a pure function: <see cref="Tensors"/> lists the state_dict it expects,
/// <see cref="Forward"/> computes logits from any parameter set with those names and shapes.
/// </summary>
public interface IArchitecture
{
    ArchitectureConfig Config { get; }
    IReadOnlyList<TensorSpec> Tensors { get; }

    /// <summary>Fresh weights with PyTorch's default initialisation, seeded.</summary>
    ParameterSet Initialize(Random rng);

    /// <summary>x (N, C, H, W) → logits (N, classes).</summary>
    Tensor Forward(ParameterSet parameters, Tensor x, ForwardContext context);
}
