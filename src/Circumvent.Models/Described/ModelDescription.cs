namespace Circumvent.Models.Described;

/// <summary>
/// A network written down as data: input shape, class count and the layers in forward order, with
/// the state_dict prefixes of the layers that own tensors (e.g. "features.0" owns features.0.weight).
/// Parsed by <see cref="DescriptionParser"/>; built into a forward by <see cref="DescribedArchitecture"/>.
/// </summary>
/// <param name="Name">Shown in logs and stored as the architecture name.</param>
/// <param name="InChannels">Input (C, H, W) the network is built for.</param>
/// <param name="Json">The description as compact JSON, stored in checkpoint metadata so a model reloads without the file.</param>
/// <param name="Normalize">
/// The input normalisation the network expects, in --normalize's syntax ("0.5,0.5", "M1,M2,M3/S1,S2,S3", "none"),
/// or null when the description does not say; parsed where it is used (Circumvent.Data owns the syntax).
/// </param>
public sealed record ModelDescription(string Name, int InChannels, int Height, int Width, int Classes,
    IReadOnlyList<LayerDescription> Layers, string Json, string? Normalize = null)
{
    /// <summary>The architecture config that builds this description (width multiplier 1: the description fixes every size).</summary>
    public ArchitectureConfig ToConfig() => new(Name, InChannels, Height, Width, Classes) { Description = this };

    /// <summary>Every layer, residual bodies and shortcuts included, in forward order.</summary>
    public IEnumerable<LayerDescription> AllLayers() => Flatten(Layers);

    private static IEnumerable<LayerDescription> Flatten(IEnumerable<LayerDescription> layers)
    {
        foreach (var layer in layers)
        {
            yield return layer;
            if (layer is ResidualLayer r)
            {
                foreach (var inner in Flatten(r.Body)) yield return inner;
                foreach (var inner in Flatten(r.Shortcut ?? [])) yield return inner;
            }
        }
    }
}

/// <summary>One entry of a description. <see cref="Path"/> locates it in the file for error messages ("$.layers[3]").</summary>
public abstract record LayerDescription(string Path)
{
    /// <summary>The kind as written in the file ("conv2d", "relu", ...).</summary>
    public abstract string Kind { get; }
}

/// <summary>nn.Conv2d (square kernel, zero padding): `Name.weight` (out, in, k, k) and, with <paramref name="Bias"/>, `Name.bias`.</summary>
public sealed record Conv2dLayer(string Path, string Name, int InChannels, int OutChannels, int Kernel, int Stride, int Padding, bool Bias)
    : LayerDescription(Path)
{
    public override string Kind => "conv2d";
}

/// <summary>nn.Linear: `Name.weight` (out, in) and, with <paramref name="Bias"/>, `Name.bias`. Reads (N, in) features.</summary>
public sealed record LinearLayer(string Path, string Name, int InFeatures, int OutFeatures, bool Bias) : LayerDescription(Path)
{
    public override string Kind => "linear";
}

/// <summary>nn.BatchNorm2d (on (N, C, H, W)) or nn.BatchNorm1d (on (N, C)): γ, β, running mean and variance under `Name`.</summary>
public sealed record BatchNormLayer(string Path, string Name, int Features, bool TwoD) : LayerDescription(Path)
{
    public override string Kind => TwoD ? "batchnorm2d" : "batchnorm1d";
}

/// <summary>The element-wise nonlinearities a description can use.</summary>
public enum ActivationKind { Relu, Sigmoid, Tanh, LeakyRelu }

/// <summary>An element-wise activation; <paramref name="NegativeSlope"/> is used by leaky ReLU only.</summary>
public sealed record ActivationLayer(string Path, ActivationKind Activation, float NegativeSlope = 0.01f) : LayerDescription(Path)
{
    public override string Kind => Activation switch
    {
        ActivationKind.Relu => "relu",
        ActivationKind.Sigmoid => "sigmoid",
        ActivationKind.Tanh => "tanh",
        _ => "leaky_relu",
    };
}

/// <summary>nn.MaxPool2d / nn.AvgPool2d (count_include_pad), floor mode.</summary>
public sealed record PoolLayer(string Path, bool Max, int Kernel, int Stride, int Padding) : LayerDescription(Path)
{
    public override string Kind => Max ? "maxpool2d" : "avgpool2d";
}

/// <summary>nn.AdaptiveAvgPool2d((OutHeight, OutWidth)): the map stays 4-D.</summary>
public sealed record AdaptiveAvgPoolLayer(string Path, int OutHeight, int OutWidth) : LayerDescription(Path)
{
    public override string Kind => "adaptive_avgpool2d";
}

/// <summary>Mean over H and W: (N, C, H, W) → (N, C), i.e. adaptive pooling to 1×1 plus flatten.</summary>
public sealed record GlobalAvgPoolLayer(string Path) : LayerDescription(Path)
{
    public override string Kind => "global_avgpool";
}

/// <summary>nn.Flatten(): (N, C, H, W) → (N, C·H·W), channel-major.</summary>
public sealed record FlattenLayer(string Path) : LayerDescription(Path)
{
    public override string Kind => "flatten";
}

/// <summary>nn.Dropout(p): active in training only.</summary>
public sealed record DropoutLayer(string Path, float P) : LayerDescription(Path)
{
    public override string Kind => "dropout";
}

/// <summary>Softmax over the channel/feature axis (dim 1).</summary>
public sealed record SoftmaxLayer(string Path) : LayerDescription(Path)
{
    public override string Kind => "softmax";
}

/// <summary>
/// out = activation(body(x) + shortcut(x)); an absent <paramref name="Shortcut"/> is the identity, an
/// absent <paramref name="Activation"/> none. Both branches must produce the same shape.
/// </summary>
public sealed record ResidualLayer(string Path, IReadOnlyList<LayerDescription> Body, IReadOnlyList<LayerDescription>? Shortcut,
    ActivationLayer? Activation) : LayerDescription(Path)
{
    public override string Kind => "residual";
}
