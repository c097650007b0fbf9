using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// A classifier on frozen encoder features (N, d) → logits (N, classes), trained by a downstream evaluation.
/// <see cref="ProbeKind.Linear"/>: one linear layer "fc". <see cref="ProbeKind.Mlp"/>: the authors' "linear probe"
/// (BadEncoder's evaluation/nn_classifier.py, which is not linear): fc1 (d → 512) → ReLU → Dropout(0.5) → fc2 (512 → 256)
/// → ReLU → fc3 (256 → classes). PyTorch's default initialisation.
/// </summary>
public sealed class FeatureProbe : IArchitecture
{
    public const int Hidden1 = 512, Hidden2 = 256;
    public const float DropoutRate = 0.5f;

    private readonly SpecBuilder _specs = new();

    public FeatureProbe(ProbeKind kind, int features, int classes)
    {
        if (features < 1 || classes < 1) throw new ArgumentException($"A probe needs at least one feature and one class, got {features} and {classes}.");
        Kind = kind;
        Config = new ArchitectureConfig(kind == ProbeKind.Linear ? "probe-linear" : "probe-mlp", features, 1, 1, classes);
        if (kind == ProbeKind.Linear) _specs.Linear("fc", features, classes);
        else
        {
            _specs.Linear("fc1", features, Hidden1);
            _specs.Linear("fc2", Hidden1, Hidden2);
            _specs.Linear("fc3", Hidden2, classes);
        }
    }

    public ProbeKind Kind { get; }
    public ArchitectureConfig Config { get; }
    public IReadOnlyList<TensorSpec> Tensors => _specs.Specs;

    public ParameterSet Initialize(Random rng)
    {
        var set = new ParameterSet();
        foreach (var e in InitRule.Draw(_specs.Specs, _specs.Rules, rng)) set.Add(e.Name, e.Tensor, e.Role);
        return set;
    }

    /// <summary>features (N, d) → logits (N, classes); dropout only in training mode.</summary>
    public Tensor Forward(ParameterSet parameters, Tensor x, ForwardContext context)
    {
        if (Kind == ProbeKind.Linear) return Layers.Linear(parameters, "fc", x, context);
        var h = Op.Relu(Layers.Linear(parameters, "fc1", x, context));
        h = Op.Dropout(h, DropoutRate, context.Training, context.Rng);
        h = Op.Relu(Layers.Linear(parameters, "fc2", h, context));
        return Layers.Linear(parameters, "fc3", h, context);
    }
}

/// <summary>Which classifier a downstream evaluation trains on frozen features.</summary>
public enum ProbeKind { Linear, Mlp }
