namespace Circumvent.Method.Permutations;

/// <summary>What activation matching optimises per group.</summary>
public enum MatchMode
{
    /// <summary>Maximise the summed correlation of matched units (bring B into A's basin).</summary>
    Align,

    /// <summary>Minimise it (send B as far from A's unit order as possible).</summary>
    Unalign,
}
