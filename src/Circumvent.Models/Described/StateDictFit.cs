using Circumvent.Models.Checkpoints;

namespace Circumvent.Models.Described;

/// <summary>Whether a set of named tensors (from safetensors, or any other state_dict source) fits an architecture.</summary>
public static class StateDictFit
{
    /// <summary>
    /// Every problem at once, as load_state_dict(strict=True) would see them: missing tensors, unexpected
    /// tensors, wrong shapes or dtypes. Empty when the tensors fit. BN `num_batches_tracked` counters are optional.
    /// </summary>
    public static IReadOnlyList<string> Problems(IArchitecture architecture, IEnumerable<SafeTensor> tensors)
    {
        var found = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var t in tensors) found[t.Name] = t;
        return StateDictValidator.Problems(architecture.Tensors, found);
    }
}
