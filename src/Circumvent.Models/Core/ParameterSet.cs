using System.Collections;
using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>Whether a named tensor is trained (weights, biases, BN γ/β) or carried state (BN running statistics).</summary>
public enum TensorRole { Parameter, Buffer }

/// <summary>One entry of a model's state: PyTorch state_dict key, tensor, role.</summary>
public sealed record NamedTensor(string Name, Tensor Tensor, TensorRole Role);

/// <summary>
/// A model's named parameters and buffers in PyTorch state_dict order. Forward functions take
/// one of these explicitly, so any weight set of the right shapes (an interpolated curve point,
/// a permuted copy) runs through the same code.
/// </summary>
public sealed class ParameterSet : IEnumerable<NamedTensor>
{
    private readonly List<NamedTensor> _entries = new();
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

    public int Count => _entries.Count;

    public Tensor this[string name] => _index.TryGetValue(name, out var i)
        ? _entries[i].Tensor
        : throw new KeyNotFoundException($"No tensor named '{name}' in this parameter set.");

    public bool Contains(string name) => _index.ContainsKey(name);

    public TensorRole RoleOf(string name) => _entries[_index[name]].Role;

    public void Add(string name, Tensor tensor, TensorRole role)
    {
        if (_index.ContainsKey(name)) throw new ArgumentException($"Duplicate tensor name '{name}'.");
        _index[name] = _entries.Count;
        _entries.Add(new NamedTensor(name, tensor, role));
    }

    /// <summary>Replaces the tensor stored under an existing name (same shape required).</summary>
    public void Set(string name, Tensor tensor)
    {
        var i = _index.TryGetValue(name, out var k) ? k : throw new KeyNotFoundException($"No tensor named '{name}' in this parameter set.");
        Shape.CheckSame(_entries[i].Tensor.Shape, tensor.Shape, $"tensor '{name}'");
        _entries[i] = _entries[i] with { Tensor = tensor };
    }

    public IEnumerable<string> Names => _entries.Select(e => e.Name);
    public IEnumerable<NamedTensor> Parameters => _entries.Where(e => e.Role == TensorRole.Parameter);
    public IEnumerable<NamedTensor> Buffers => _entries.Where(e => e.Role == TensorRole.Buffer);

    /// <summary>Deep copy; parameters of the copy require gradients iff <paramref name="requiresGrad"/>.</summary>
    public ParameterSet Clone(bool requiresGrad = false)
    {
        var copy = new ParameterSet();
        foreach (var e in _entries)
            copy.Add(e.Name, e.Tensor.Clone(requiresGrad && e.Role == TensorRole.Parameter), e.Role);
        return copy;
    }

    /// <summary>
    /// A set over the same value arrays (no copy: a change to one shows in the other) whose parameters require gradients
    /// iff <paramref name="requiresGrad"/> and carry no gradient yet — to differentiate with respect to the weights or
    /// to something else only (an input perturbation) without touching the gradients of this set's tensors.
    /// </summary>
    public ParameterSet Sharing(bool requiresGrad)
    {
        var view = new ParameterSet();
        foreach (var e in _entries)
            view.Add(e.Name, new Tensor(e.Tensor.Shape.ToArray(), e.Tensor.Data, requiresGrad && e.Role == TensorRole.Parameter), e.Role);
        return view;
    }

    public void ZeroGrad()
    {
        foreach (var e in _entries) e.Tensor.ZeroGrad();
    }

    public IEnumerator<NamedTensor> GetEnumerator() => _entries.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
