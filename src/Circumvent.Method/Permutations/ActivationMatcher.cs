using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Memory;
using Circumvent.Models;

namespace Circumvent.Method.Permutations;

/// <summary>Per-group correlation matrices of two networks' units and the permutations chosen from them.</summary>
/// <param name="Correlations">Per group, row-major Size × Size: [i, j] = correlation of reference unit i with unit j of the other network.</param>
/// <param name="Permutations">Per group, perm[i] = unit of the other network matched to reference unit i.</param>
public sealed record MatchResult(PermutationSpec Spec, double[][] Correlations, int[][] Permutations)
{
    /// <summary>Σ over groups and units of corr[i, perm[i]].</summary>
    public double TotalCorrelation(IReadOnlyList<int[]> perms)
    {
        Permutation.Check(Spec, perms);
        double total = 0;
        for (int g = 0; g < perms.Count; g++)
        {
            int n = Spec.Groups[g].Size;
            for (int i = 0; i < n; i++) total += Correlations[g][i * n + perms[g][i]];
        }
        return total;
    }
}

/// <summary>
/// PermuteLayers: reorders the hidden units of one network to match (ALIGN) or mismatch (UNALIGN) a
/// reference by the correlation of their activations on probe data, group by group.
/// </summary>
/// <remarks>
/// The method runs group g on B "with groups 0..g−1 already applied". Applying those groups never
/// changes B's function, and group g's probe output is permuted only by group g's own (still identity)
/// permutation, so B's activations at that probe are the same numbers either way (up to the float
/// summation order inside the convolutions). Hence one eval forward of A and one of B per batch give every
/// group's statistics, instead of one forward of B per group and batch.
/// Memory: A's probe activations of one batch are held until B's forward of that batch has consumed them.
/// </remarks>
public static class ActivationMatcher
{
    /// <summary>A permuted copy of <paramref name="toPermute"/> matched to <paramref name="reference"/> under the architecture's full spec.</summary>
    /// <param name="probeBatches">Normalised input batches (B, C, H, W), e.g. from the clean data; run in eval mode.</param>
    public static ParameterSet PermuteLayers(IArchitecture arch, ParameterSet reference, ParameterSet toPermute,
        IReadOnlyList<Tensor> probeBatches, MatchMode mode) =>
        PermuteLayers(arch, PermutationSpecs.For(arch), reference, toPermute, probeBatches, mode);

    /// <summary>As above with an explicit spec (e.g. one that leaves the last stream alone).</summary>
    public static ParameterSet PermuteLayers(IArchitecture arch, PermutationSpec spec, ParameterSet reference, ParameterSet toPermute,
        IReadOnlyList<Tensor> probeBatches, MatchMode mode) =>
        Permutation.Apply(toPermute, spec, Match(arch, spec, reference, toPermute, probeBatches, mode).Permutations);

    /// <summary>
    /// Correlations of every group's units and the exact assignment per group: ALIGN maximises
    /// Σ_i corr[i, perm[i]], UNALIGN minimises it.
    /// </summary>
    public static MatchResult Match(IArchitecture arch, PermutationSpec spec, ParameterSet reference, ParameterSet toPermute,
        IReadOnlyList<Tensor> probeBatches, MatchMode mode)
    {
        var correlations = Correlations(arch, spec, reference, toPermute, probeBatches);
        var perms = new int[spec.Groups.Count][];
        for (int g = 0; g < perms.Length; g++)
            perms[g] = LinearAssignment.Solve(correlations[g], spec.Groups[g].Size, maximize: mode == MatchMode.Align);
        return new MatchResult(spec, correlations, perms);
    }

    /// <summary>Per group, the Size × Size correlation of reference units (rows) with <paramref name="other"/>'s units (columns).</summary>
    public static double[][] Correlations(IArchitecture arch, PermutationSpec spec, ParameterSet reference, ParameterSet other,
        IReadOnlyList<Tensor> probeBatches)
    {
        if (probeBatches.Count == 0) throw new ArgumentException("Activation matching needs at least one probe batch.", nameof(probeBatches));
        spec.Validate(reference);
        spec.Validate(other);
        var groupOfProbe = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int g = 0; g < spec.Groups.Count; g++)
            if (!groupOfProbe.TryAdd(spec.Groups[g].Probe, g))
                throw new ArgumentException($"Groups '{spec.Groups[groupOfProbe[spec.Groups[g].Probe]].Name}' and '{spec.Groups[g].Name}' share probe '{spec.Groups[g].Probe}'.");
        var probes = groupOfProbe.Keys.ToHashSet(StringComparer.Ordinal);
        var accumulators = spec.Groups.Select(g => new CorrelationAccumulator(g.Size)).ToArray();

        using (GradMode.Disable())
        {
            foreach (var batch in probeBatches)
            {
                using var fromReference = new ProbeRecorder(probes);
                RunForward(arch, reference, batch, fromReference);
                using var fromOther = new ProbeRecorder(probes)
                {
                    OnProbe = (probe, b) =>
                    {
                        var a = fromReference.Recorded.TryGetValue(probe, out var found) ? found
                            : throw new InvalidOperationException($"Probe '{probe}' ran for one network but not the other.");
                        if (a.Rows != b.Rows || a.Units != b.Units)
                            throw new InvalidOperationException(
                                $"Probe '{probe}': reference activation {Shape.Format(a.SourceShape)} differs from {Shape.Format(b.SourceShape)}.");
                        var group = spec.Groups[groupOfProbe[probe]];
                        if (a.Units != group.Size)
                            throw new InvalidOperationException($"Probe '{probe}' has {a.Units} channels; group '{group.Name}' has {group.Size} units.");
                        accumulators[groupOfProbe[probe]].Add(a.Data, b.Data, a.Rows);
                    },
                };
                RunForward(arch, other, batch, fromOther);
                var missing = probes.Except(fromOther.Seen).ToList();
                if (missing.Count > 0)
                    throw new InvalidOperationException(
                        $"{arch.Config.Name}: probe layer(s) {string.Join(", ", missing)} never ran in the forward; the spec and the architecture disagree.");
            }
        }

        var result = new double[spec.Groups.Count][];
        for (int g = 0; g < result.Length; g++)
        {
            result[g] = accumulators[g].Correlation();
            if (!Array.TrueForAll(result[g], double.IsFinite))
                throw new InvalidOperationException(
                    $"Activation matching, group '{spec.Groups[g].Name}': the activations at probe '{spec.Groups[g].Probe}' are not finite (diverged weights or inputs?).");
        }
        return result;
    }

    private static void RunForward(IArchitecture arch, ParameterSet parameters, Tensor batch, ProbeRecorder recorder)
    {
        // Intermediate tensors return to the pool when the scope ends; the recorder keeps its own copies.
        using var scope = TensorScope.Open();
        arch.Forward(parameters, batch, new ForwardContext { Training = false, ActivationObserver = recorder });
    }
}
