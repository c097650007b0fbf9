using Circumvent.Models;
using Circumvent.Models.Described;

namespace Circumvent.Method.Permutations;

/// <summary>
/// Derives the permutation spec of a described network from its layer list, with no per-model code.
/// The walk follows which "units" the activation's channel (or feature) axis carries:
/// <list type="bullet">
/// <item>a conv/linear layer reads the current units on its input axis and writes new units (weight rows,
/// bias); those are probed at that layer's output;</item>
/// <item>a BN normalises the current units (γ, β, running mean and variance move with them);</item>
/// <item>activations, dropout, softmax over channels and pooling keep the units; flatten keeps them too, each
/// unit then owning H·W consecutive features, which the next linear layer reads as H·W columns per unit;</item>
/// <item>a residual sum forces body and shortcut outputs to share one permutation (a union: with an identity
/// shortcut the body's last layer joins the incoming stream; a projection shortcut joins the body's);</item>
/// <item>the input channels and the logits are fixed, and so is every group united with them (e.g. a
/// residual block on the raw input), or whose units a layer reads in a way the spec cannot express
/// (a batchnorm1d over a flattened map).</item>
/// </list>
/// </summary>
internal static class DescribedSpecs
{
    /// <param name="FeedsOutput">The group whose units the output layer reads (left out with keepLastStreamUnpermuted), or null.</param>
    public sealed record Derived(PermutationSpec Spec, string? FeedsOutput);

    public static Derived For(IArchitecture arch, ModelDescription description)
    {
        var trace = new Trace();
        int input = trace.NewUnits(description.InChannels, probe: null, readsFrom: -1);
        trace.Pin(input);
        int output = trace.Run(description.Layers, input);
        trace.Pin(output);
        return trace.Build(new PermutationSpecBuilder(arch), output);
    }

    private enum Action { Writes, Norm, ReadBy }

    /// <summary>Union–find over provisional unit sets plus the attachments recorded against them, replayed once the unions are known.</summary>
    private sealed class Trace
    {
        private readonly List<int> _parent = new();
        private readonly List<bool> _pinned = new();
        private readonly List<int> _size = new();
        private readonly List<string?> _probe = new();
        private readonly List<int> _readsFrom = new();
        private readonly List<(Action Action, int Units, string Layer)> _events = new();

        public int NewUnits(int size, string? probe, int readsFrom)
        {
            _parent.Add(_parent.Count);
            _pinned.Add(false);
            _size.Add(size);
            _probe.Add(probe);
            _readsFrom.Add(readsFrom);
            return _parent.Count - 1;
        }

        public void Pin(int units) => _pinned[Find(units)] = true;

        private int Find(int units)
        {
            while (_parent[units] != units) units = _parent[units] = _parent[_parent[units]];
            return units;
        }

        /// <summary>The earlier-created set stays the root, so a merged group keeps its first producer as probe.</summary>
        private int Union(int a, int b)
        {
            a = Find(a);
            b = Find(b);
            if (a == b) return a;
            if (b < a) (a, b) = (b, a);
            _parent[b] = a;
            _pinned[a] |= _pinned[b];
            return a;
        }

        /// <summary>Walks the layers from the units <paramref name="units"/>; returns the units the last layer gives.</summary>
        public int Run(IEnumerable<LayerDescription> layers, int units)
        {
            foreach (var layer in layers)
            {
                switch (layer)
                {
                    case Conv2dLayer c:
                        units = Produce(units, c.Name, c.OutChannels);
                        break;
                    case LinearLayer l:
                        units = Produce(units, l.Name, l.OutFeatures);
                        break;
                    case BatchNormLayer b:
                        // A batchnorm1d over a flattened map has one γ per (channel, position): not a per-unit tensor.
                        if (b.Features == _size[Find(units)]) _events.Add((Action.Norm, units, b.Name));
                        else Pin(units);
                        break;
                    case ResidualLayer r:
                        int body = Run(r.Body, units);
                        int shortcut = r.Shortcut is null ? units : Run(r.Shortcut, units);
                        units = Union(body, shortcut);
                        break;
                }
            }
            return units;
        }

        private int Produce(int input, string layer, int outputs)
        {
            _events.Add((Action.ReadBy, input, layer));
            int units = NewUnits(outputs, layer, input);
            _events.Add((Action.Writes, units, layer));
            return units;
        }

        public Derived Build(PermutationSpecBuilder builder, int output)
        {
            var groups = new Dictionary<int, PermutationSpecBuilder.GroupBuilder>();
            var members = Enumerable.Range(0, _parent.Count).GroupBy(Find).ToDictionary(g => g.Key, g => g.Count());
            // Roots in creation order = forward order of their first producer (the probe).
            foreach (var root in members.Keys.Order())
            {
                if (_pinned[root] || _probe[root] is not { } probe) continue;
                groups[root] = builder.Group(members[root] > 1 ? $"stream {probe}" : probe, probe);
            }
            foreach (var (action, units, layer) in _events)
            {
                if (!groups.TryGetValue(Find(units), out var group)) continue;
                _ = action switch
                {
                    Action.Writes => group.Writes(layer),
                    Action.Norm => group.Norm(layer),
                    _ => group.ReadBy(layer),
                };
            }
            var feeds = _readsFrom[output] >= 0 && groups.TryGetValue(Find(_readsFrom[output]), out var last) ? last.Name : null;
            return new Derived(builder.Build(), feeds);
        }
    }
}
