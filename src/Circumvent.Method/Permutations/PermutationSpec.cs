using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Method.Permutations;

/// <summary>
/// One axis of one named tensor that a permutation group reorders. The axis holds
/// Size·<paramref name="UnitLength"/> entries: unit u owns entries u·UnitLength … u·UnitLength + UnitLength − 1
/// (UnitLength > 1 when a layer reads a flattened (C, H, W) map, so each channel owns H·W columns).
/// </summary>
/// <param name="Tensor">state_dict key, e.g. "layer1.0.bn1.running_var".</param>
/// <param name="Axis">0 for a producer (output rows), 1 for a consumer (input columns).</param>
public sealed record TensorAxis(string Tensor, int Axis, int UnitLength = 1)
{
    public override string ToString() => UnitLength == 1 ? $"{Tensor}[axis {Axis}]" : $"{Tensor}[axis {Axis}, {UnitLength} per unit]";
}

/// <summary>
/// Hidden units that can be reordered together without changing the network's function.
/// </summary>
/// <param name="Name">Readable name, e.g. "layer2" (a residual stream) or "layer2.0.conv1".</param>
/// <param name="Size">Number of units (channels or features).</param>
/// <param name="Probe">
/// The probe point: the name of a conv/linear layer whose own output — bias included, before any residual add,
/// norm or activation, however the forward fuses them (<see cref="IActivationObserver"/>) — carries exactly these
/// units on its channel axis; activation matching compares networks there.
/// </param>
/// <param name="Producers">Tensors whose output axis (0) indexes these units: conv/linear weights and biases,
/// and the γ, β, running mean and running variance of every BN that normalises them.</param>
/// <param name="Consumers">Tensors whose input axis (1) reads these units: the next conv/linear weights.</param>
public sealed record PermutationGroup(string Name, int Size, string Probe,
    IReadOnlyList<TensorAxis> Producers, IReadOnlyList<TensorAxis> Consumers)
{
    public IEnumerable<TensorAxis> Axes => Producers.Concat(Consumers);
}

/// <summary>
/// The weight symmetries of one network as data: its permutation groups in forward order (by probe).
/// A tensor axis belongs to at most one group; tensors no group names (the input layer's input axis,
/// the output layer's rows and bias) never move.
/// </summary>
public sealed class PermutationSpec
{
    public PermutationSpec(IReadOnlyList<PermutationGroup> groups)
    {
        var seen = new Dictionary<(string, int), string>();
        foreach (var g in groups)
        {
            if (g.Size < 1) throw new ArgumentException($"Permutation group '{g.Name}' has size {g.Size}; expected at least 1.");
            if (g.Producers.Count == 0) throw new ArgumentException($"Permutation group '{g.Name}' has no producers.");
            foreach (var a in g.Axes)
                if (!seen.TryAdd((a.Tensor, a.Axis), g.Name))
                    throw new ArgumentException($"Tensor axis {a} is claimed by groups '{seen[(a.Tensor, a.Axis)]}' and '{g.Name}'; an axis can follow one permutation only.");
        }
        Groups = groups;
    }

    public IReadOnlyList<PermutationGroup> Groups { get; }

    /// <summary>A copy without the named groups (their tensors then keep their order).</summary>
    public PermutationSpec Without(params string[] groupNames) =>
        new([.. Groups.Where(g => !groupNames.Contains(g.Name, StringComparer.Ordinal))]);

    /// <summary>
    /// The same groups for a network that holds this one's tensors under <paramref name="prefix"/> (an encoder inside a
    /// SimCLR network: "f."); probes are prefixed alike, as the wrapping network reports its encoder's activations.
    /// </summary>
    public PermutationSpec Prefixed(string prefix)
    {
        TensorAxis[] Moved(IEnumerable<TensorAxis> axes) => [.. axes.Select(a => a with { Tensor = prefix + a.Tensor })];
        return new([.. Groups.Select(g => g with { Probe = prefix + g.Probe, Producers = Moved(g.Producers), Consumers = Moved(g.Consumers) })]);
    }

    /// <summary>
    /// Checks every referenced tensor exists in <paramref name="parameters"/> and its axis has
    /// Size·UnitLength entries; throws an ArgumentException naming the first mismatch.
    /// </summary>
    public void Validate(ParameterSet parameters)
    {
        foreach (var g in Groups)
            foreach (var a in g.Axes)
            {
                if (!parameters.Contains(a.Tensor))
                    throw new ArgumentException($"Permutation group '{g.Name}' refers to tensor '{a.Tensor}', which the parameter set does not contain.");
                var shape = parameters[a.Tensor].Shape;
                if (a.Axis >= shape.Length)
                    throw new ArgumentException($"Permutation group '{g.Name}': tensor '{a.Tensor}' has shape {Shape.Format(shape)} with no axis {a.Axis}.");
                long expected = (long)g.Size * a.UnitLength;
                if (shape[a.Axis] != expected)
                    throw new ArgumentException(
                        $"Permutation group '{g.Name}' ({g.Size} units × {a.UnitLength}) expects axis {a.Axis} of '{a.Tensor}' to have {expected} entries; its shape is {Shape.Format(shape)}.");
            }
    }
}
