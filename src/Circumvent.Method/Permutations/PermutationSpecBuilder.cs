using Circumvent.Models;

namespace Circumvent.Method.Permutations;

/// <summary>
/// One-line helpers in the spirit of git-re-basin's conv/norm/dense: groups are opened in forward
/// order and layers are attached to them by prefix; sizes and the presence of biases are read from the
/// architecture's tensor specs, so a conv with a bias gets its bias permuted without anyone asking.
/// </summary>
internal sealed class PermutationSpecBuilder
{
    private readonly Dictionary<string, int[]> _shapes;
    private readonly List<GroupBuilder> _groups = new();

    public PermutationSpecBuilder(IArchitecture arch) =>
        _shapes = arch.Tensors.ToDictionary(t => t.Name, t => t.Shape, StringComparer.Ordinal);

    public bool Has(string tensor) => _shapes.ContainsKey(tensor);

    public int[] ShapeOf(string tensor) => _shapes.TryGetValue(tensor, out var s)
        ? s
        : throw new InvalidOperationException($"Permutation spec: the architecture has no tensor '{tensor}'.");

    /// <summary>Opens a group whose units are the output channels of layer <paramref name="probe"/>; its size is that layer's output count.</summary>
    public GroupBuilder Group(string name, string probe)
    {
        var g = new GroupBuilder(this, name, probe, ShapeOf(probe + ".weight")[0]);
        _groups.Add(g);
        return g;
    }

    public PermutationSpec Build() => new([.. _groups.Select(g => g.Build())]);

    internal sealed class GroupBuilder(PermutationSpecBuilder owner, string name, string probe, int size)
    {
        private readonly List<TensorAxis> _producers = new();
        private readonly List<TensorAxis> _consumers = new();

        public string Name => name;

        /// <summary>A conv or linear layer writing these units: weight rows, and the bias when the layer has one.</summary>
        public GroupBuilder Writes(string layer)
        {
            _producers.Add(new TensorAxis(layer + ".weight", 0));
            if (owner.Has(layer + ".bias")) _producers.Add(new TensorAxis(layer + ".bias", 0));
            return this;
        }

        /// <summary>A BN normalising these units: γ, β and both running statistics move with their channel.</summary>
        public GroupBuilder Norm(string bn)
        {
            foreach (var key in new[] { "weight", "bias", "running_mean", "running_var" })
                _producers.Add(new TensorAxis($"{bn}.{key}", 0));
            return this;
        }

        /// <summary>
        /// A conv or linear layer reading these units on its input axis. A linear layer after a flatten of a
        /// (C, H, W) map reads H·W columns per channel; that count follows from its input width.
        /// </summary>
        public GroupBuilder ReadBy(string layer)
        {
            int inputs = owner.ShapeOf(layer + ".weight")[1];
            if (inputs % size != 0)
                throw new InvalidOperationException($"Permutation spec: '{layer}.weight' reads {inputs} inputs, not a multiple of group '{name}' ({size} units).");
            _consumers.Add(new TensorAxis(layer + ".weight", 1, inputs / size));
            return this;
        }

        public PermutationGroup Build() => new(name, size, probe, [.. _producers], [.. _consumers]);
    }
}
