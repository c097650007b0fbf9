using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// Shared plumbing of the built-in networks: spec list, seeded PyTorch-default initialisation and
/// input-shape checks. Subclasses declare their tensors in the constructor and implement the forward.
/// </summary>
public abstract class ArchitectureBase : IArchitecture
{
    private readonly IReadOnlyList<InitRule> _rules;

    private protected ArchitectureBase(ArchitectureConfig config, SpecBuilder specs)
    {
        Config = config;
        Tensors = specs.Specs;
        _rules = specs.Rules;
    }

    public ArchitectureConfig Config { get; }
    public IReadOnlyList<TensorSpec> Tensors { get; }

    /// <summary>Whether the network only accepts exactly Config.Height × Config.Width (a linear layer sees the flattened map).</summary>
    protected abstract bool FixedInputSize { get; }

    /// <summary>Smallest height/width the pooling stages can take (see <see cref="Architectures.MinimumInputSize"/>).</summary>
    public virtual int MinimumInputSize => Architectures.MinimumInputSize(Config.Name);

    /// <summary>
    /// Fresh weights in state_dict order, drawn from <paramref name="rng"/> in that order. Parameters
    /// require gradients (like nn.Parameter); buffers do not.
    /// </summary>
    public ParameterSet Initialize(Random rng) => InitRule.Draw(Tensors, _rules, rng);

    public Tensor Forward(ParameterSet parameters, Tensor x, ForwardContext context)
    {
        CheckInput(x);
        return ForwardCore(parameters, x, context);
    }

    /// <summary>x (N, C, H, W), already checked → logits (N, classes).</summary>
    protected abstract Tensor ForwardCore(ParameterSet p, Tensor x, ForwardContext context);

    /// <summary>The features the classifier head reads (see <see cref="IFeatureExtractor"/>), for the networks that implement it.</summary>
    public Tensor Features(ParameterSet parameters, Tensor x, ForwardContext context)
    {
        CheckInput(x);
        return FeaturesCore(parameters, x, context);
    }

    /// <summary>x (N, C, H, W), already checked → features (N, d); only networks that are an <see cref="IFeatureExtractor"/> override it.</summary>
    protected virtual Tensor FeaturesCore(ParameterSet p, Tensor x, ForwardContext context) =>
        throw new NotSupportedException($"{Config.Name} does not expose its features without the classifier.");

    private void CheckInput(Tensor x)
    {
        var c = Config;
        if (x.Rank != 4 || x.Shape[1] != c.InChannels)
            throw new ArgumentException($"{c.Name}: expected input (N, {c.InChannels}, H, W), got {Shape.Format(x.Shape)}.");
        int h = x.Shape[2], w = x.Shape[3];
        if (FixedInputSize && (h != c.Height || w != c.Width))
            throw new ArgumentException($"{c.Name}: built for {c.Height}×{c.Width} inputs, got {h}×{w} (input {Shape.Format(x.Shape)}).");
        int min = MinimumInputSize;
        if (h < min || w < min)
            throw new ArgumentException($"{c.Name}: inputs must be at least {min}×{min} for its pooling stages, got {h}×{w}.");
    }
}
