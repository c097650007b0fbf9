using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// SimCLR's network as the authors build it (SSL/models/simclr_model.py): an encoder f (any
/// <see cref="IFeatureExtractor"/> without its classifier head) and a projection head
/// g = Linear(d→Hidden, no bias) → BatchNorm1d(Hidden) → ReLU → Linear(Hidden→Projection).
/// State_dict names: "f." + the encoder's own names, then "g.0.weight", "g.1.{weight,bias,running_mean,running_var}",
/// "g.3.{weight,bias}" (nn.Sequential indices; the ReLU is g.2). <see cref="Forward"/> gives the unnormalised
/// projection g(f(x)) (N, Projection), which NT-Xent normalises; <see cref="Features"/> gives f(x) (N, d).
/// </summary>
public sealed class SimClrNetwork : IEncoderNetwork
{
    public const string EncoderPrefix = "f.";
    public const string HeadPrefix = "g.";
    public const int DefaultHidden = 512, DefaultProjection = 128;

    private readonly SpecBuilder _head = new();

    public SimClrNetwork(IFeatureExtractor encoder, int hidden = DefaultHidden, int projection = DefaultProjection)
    {
        if (hidden < 1 || projection < 1) throw new ArgumentException($"SimCLR head sizes must be positive, got {hidden} and {projection}.");
        Encoder = encoder;
        Hidden = hidden;
        Projection = projection;
        _head.Linear("g.0", encoder.FeatureSize, hidden, bias: false);
        _head.BatchNorm("g.1", hidden);
        _head.Linear("g.3", hidden, projection);
        Tensors = [.. encoder.Tensors.Where(t => encoder.IsEncoderTensor(t.Name)).Select(t => t with { Name = EncoderPrefix + t.Name }), .. _head.Specs];
    }

    public IFeatureExtractor Encoder { get; }
    public int Hidden { get; }
    public int Projection { get; }

    /// <summary>The encoder's config: the network f is built from.</summary>
    public ArchitectureConfig Config => Encoder.Config;

    public IReadOnlyList<TensorSpec> Tensors { get; }

    /// <summary>The encoder's PyTorch-default draw (its head's values drawn and dropped), then the projection head's.</summary>
    public ParameterSet Initialize(Random rng)
    {
        var set = new ParameterSet();
        foreach (var e in Encoder.Initialize(rng))
            if (Encoder.IsEncoderTensor(e.Name)) set.Add(EncoderPrefix + e.Name, e.Tensor, e.Role);
        foreach (var e in InitRule.Draw(_head.Specs, _head.Rules, rng)) set.Add(e.Name, e.Tensor, e.Role);
        return set;
    }

    /// <summary>x (N, C, H, W) → projection g(f(x)) (N, Projection), not normalised.</summary>
    public Tensor Forward(ParameterSet parameters, Tensor x, ForwardContext context)
    {
        var h = Features(parameters, x, context);
        h = Layers.BatchNormRelu(parameters, "g.1", Layers.Linear(parameters, "g.0", h, context, bias: false), context);
        return Layers.Linear(parameters, "g.3", h, context);
    }

    /// <summary>x (N, C, H, W) → encoder features f(x) (N, d), what kNN and probes use.</summary>
    public Tensor Features(ParameterSet parameters, Tensor x, ForwardContext context) =>
        Encoder.Features(EncoderView(parameters), x, PrefixedViews.Context(context, EncoderPrefix));

    string IEncoderNetwork.EncoderPrefix => EncoderPrefix;
    int IEncoderNetwork.FeatureSize => Encoder.FeatureSize;

    /// <summary>The encoder's tensors under their own names (the same tensors, so gradients reach them).</summary>
    public static ParameterSet EncoderView(ParameterSet parameters) => PrefixedViews.Strip(parameters, EncoderPrefix);
}
