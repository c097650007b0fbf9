using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Method.Permutations;

/// <summary>
/// Permutations of a spec's groups, one int[] per group in spec order, and the one generic way to apply
/// them. Convention: new[i] = old[perm[i]] on every producer's output axis and every consumer's input
/// axis, so unit i of the result is unit perm[i] of the input.
/// </summary>
public static class Permutation
{
    /// <summary>
    /// A new parameter set (same names, order, roles and requires-grad flags) with every group's
    /// permutation applied; tensors no group names are copied unchanged. Pure data movement: bit exact.
    /// </summary>
    public static ParameterSet Apply(ParameterSet parameters, PermutationSpec spec, IReadOnlyList<int[]> perms)
    {
        spec.Validate(parameters);
        Check(spec, perms);
        var data = parameters.ToDictionary(e => e.Name, e => e.Tensor.ToArray(), StringComparer.Ordinal);
        for (int g = 0; g < spec.Groups.Count; g++)
            foreach (var axis in spec.Groups[g].Axes)
                data[axis.Tensor] = Gather(data[axis.Tensor], parameters[axis.Tensor].Shape, axis, perms[g]);

        var result = new ParameterSet();
        foreach (var e in parameters)
            result.Add(e.Name, new Tensor(e.Tensor.Shape.ToArray(), data[e.Name], e.Tensor.RequiresGrad), e.Role);
        return result;
    }

    /// <summary>The inverse of each group's permutation: Apply(Apply(p, perms), Inverse(perms)) == p.</summary>
    public static int[][] Inverse(IReadOnlyList<int[]> perms) => [.. perms.Select(Invert)];

    /// <summary>inverse[perm[i]] = i.</summary>
    public static int[] Invert(int[] perm)
    {
        var inverse = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
        return inverse;
    }

    public static int[][] Identity(PermutationSpec spec) => [.. spec.Groups.Select(g => Enumerable.Range(0, g.Size).ToArray())];

    /// <summary>A uniformly random permutation per group (Fisher–Yates), drawn in group order.</summary>
    public static int[][] Random(PermutationSpec spec, Random rng) => [.. spec.Groups.Select(g =>
    {
        var perm = Enumerable.Range(0, g.Size).ToArray();
        rng.Shuffle(perm);
        return perm;
    })];

    /// <summary>Throws unless there is one valid permutation of the right size per group.</summary>
    public static void Check(PermutationSpec spec, IReadOnlyList<int[]> perms)
    {
        if (perms.Count != spec.Groups.Count)
            throw new ArgumentException($"Expected one permutation per group ({spec.Groups.Count}), got {perms.Count}.");
        for (int g = 0; g < perms.Count; g++)
        {
            var group = spec.Groups[g];
            var perm = perms[g];
            if (perm.Length != group.Size)
                throw new ArgumentException($"Permutation for group '{group.Name}' has {perm.Length} entries; the group has {group.Size} units.");
            var seen = new bool[perm.Length];
            foreach (var v in perm)
            {
                if (v < 0 || v >= perm.Length || seen[v])
                    throw new ArgumentException($"Permutation for group '{group.Name}' is not a permutation of 0..{perm.Length - 1} (entry {v}).");
                seen[v] = true;
            }
        }
    }

    /// <summary>
    /// Reorders units along one axis. The tensor is viewed as (outer, units, unitLength·inner): each
    /// unit's slab of unitLength·inner contiguous values moves as a block.
    /// </summary>
    private static float[] Gather(float[] source, int[] shape, TensorAxis axis, int[] perm)
    {
        int outer = 1, inner = 1;
        for (int d = 0; d < axis.Axis; d++) outer *= shape[d];
        for (int d = axis.Axis + 1; d < shape.Length; d++) inner *= shape[d];
        int slab = axis.UnitLength * inner, units = perm.Length, row = units * slab;
        var result = new float[source.Length];
        for (int o = 0; o < outer; o++)
            for (int u = 0; u < units; u++)
                Array.Copy(source, o * row + perm[u] * slab, result, o * row + u * slab, slab);
        return result;
    }
}
