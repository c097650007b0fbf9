using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// A CLIP image tower: a backbone without its classifier head (any <see cref="IFeatureExtractor"/>) under "visual.",
/// then "visual.proj" = Linear(d → joint, no bias) into the joint image–text space, the part CLIP's attention pool
/// projection plays and that TSC never permutes. <see cref="Forward"/> gives the unnormalised embedding (N, joint).
/// It is an architecture of its own so a defence can curve and permute the image tower alone (text tower frozen).
/// </summary>
public sealed class ClipImageTower : IArchitecture
{
    public const string Prefix = "visual.";
    public const string ProjectionName = Prefix + "proj";

    private readonly SpecBuilder _projection = new();

    public ClipImageTower(IFeatureExtractor backbone, int joint)
    {
        if (joint < 1) throw new ArgumentException($"The joint embedding size must be positive, got {joint}.");
        Backbone = backbone;
        Joint = joint;
        _projection.Linear(ProjectionName, backbone.FeatureSize, joint, bias: false);
        Tensors = [.. backbone.Tensors.Where(t => backbone.IsEncoderTensor(t.Name)).Select(t => t with { Name = Prefix + t.Name }), .. _projection.Specs];
    }

    public IFeatureExtractor Backbone { get; }
    public int Joint { get; }
    public ArchitectureConfig Config => Backbone.Config;
    public IReadOnlyList<TensorSpec> Tensors { get; }

    /// <summary>The backbone's PyTorch-default draw (its head's values drawn and dropped), then the projection's.</summary>
    public ParameterSet Initialize(Random rng)
    {
        var set = new ParameterSet();
        foreach (var e in Backbone.Initialize(rng))
            if (Backbone.IsEncoderTensor(e.Name)) set.Add(Prefix + e.Name, e.Tensor, e.Role);
        foreach (var e in InitRule.Draw(_projection.Specs, _projection.Rules, rng)) set.Add(e.Name, e.Tensor, e.Role);
        return set;
    }

    /// <summary>x (N, C, H, W) → image embedding (N, joint), not normalised.</summary>
    public Tensor Forward(ParameterSet parameters, Tensor x, ForwardContext context)
    {
        var features = Backbone.Features(PrefixedViews.Strip(parameters, Prefix), x, PrefixedViews.Context(context, Prefix)); // (N, d)
        return Layers.Linear(parameters, ProjectionName, features, context, bias: false);
    }

    /// <summary>The entries of <paramref name="parameters"/> that belong to an image tower (names kept, same tensors).</summary>
    public static ParameterSet View(ParameterSet parameters)
    {
        var view = new ParameterSet();
        foreach (var e in parameters)
            if (e.Name.StartsWith(Prefix, StringComparison.Ordinal)) view.Add(e.Name, e.Tensor, e.Role);
        return view;
    }
}
