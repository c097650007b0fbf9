using Circumvent.Engine;

namespace Circumvent.Models.Checkpoints;

/// <summary>
/// Compares a file's tensors with an architecture's specs the way load_state_dict(strict=True) would,
/// but lists every problem at once: missing tensors, unexpected tensors, wrong shapes, wrong dtypes.
/// `&lt;bn&gt;.num_batches_tracked` is optional (PyTorch writes it, other tools may not) and must be an I64 scalar.
/// </summary>
internal static class StateDictValidator
{
    public const string BatchesTrackedSuffix = ".num_batches_tracked";

    /// <summary>BN prefixes of an architecture: every entry with a running mean.</summary>
    public static IEnumerable<string> BatchNormPrefixes(IEnumerable<TensorSpec> specs) =>
        specs.Where(s => s.Name.EndsWith(".running_mean", StringComparison.Ordinal)).Select(s => s.Name[..^".running_mean".Length]);

    public static List<string> Problems(IReadOnlyList<TensorSpec> specs, IReadOnlyDictionary<string, SafeTensor> found)
    {
        var expected = specs.ToDictionary(s => s.Name, StringComparer.Ordinal);
        var counters = BatchNormPrefixes(specs).Select(p => p + BatchesTrackedSuffix).ToHashSet(StringComparer.Ordinal);
        var problems = new List<string>();

        var missing = specs.Where(s => !found.ContainsKey(s.Name)).Select(s => s.Name).ToList();
        if (missing.Count > 0) problems.Add($"missing tensors: {string.Join(", ", missing)}");
        var unexpected = found.Keys.Where(n => !expected.ContainsKey(n) && !counters.Contains(n)).ToList();
        if (unexpected.Count > 0) problems.Add($"unexpected tensors: {string.Join(", ", unexpected)}");

        foreach (var spec in specs)
        {
            if (!found.TryGetValue(spec.Name, out var t)) continue;
            if (!t.IsFloat)
                problems.Add($"tensor '{spec.Name}': expected a floating-point tensor, file has {t.DType}");
            else if (!Shape.Equal(spec.Shape, t.Shape))
                problems.Add($"tensor '{spec.Name}': expected {Shape.Format(spec.Shape)}, file has {Shape.Format(t.Shape)}");
        }
        foreach (var name in counters)
        {
            if (found.TryGetValue(name, out var t) && (t.IsFloat || t.Shape.Length != 0))
                problems.Add($"tensor '{name}': expected an I64 scalar (), file has {t.DType} {Shape.Format(t.Shape)}");
        }
        return problems;
    }
}
