namespace Circumvent.Method.Permutations;

/// <summary>
/// Exact linear assignment on a dense square cost matrix: the permutation σ minimising (or maximising)
/// Σ_i matrix[i, σ(i)]. Shortest augmenting paths with dual potentials (Jonker–Volgenant style,
/// the same scheme as SciPy's linear_sum_assignment): rows are added one at a time, each by a
/// Dijkstra-like search over reduced costs, so the whole solve is O(n³) time and O(n) extra memory.
/// </summary>
public static class LinearAssignment
{
    /// <summary>
    /// Solves the assignment problem for the row-major n×n <paramref name="matrix"/>.
    /// </summary>
    /// <returns>result[i] = the column assigned to row i (a permutation of 0..n−1).</returns>
    /// <exception cref="ArgumentException">The matrix is not n×n, or holds a NaN or infinity (the first one is named).</exception>
    public static int[] Solve(double[] matrix, int n, bool maximize)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (n < 0) throw new ArgumentException($"Linear assignment: size must be ≥ 0, got {n}.", nameof(n));
        if (matrix.Length != (long)n * n)
            throw new ArgumentException($"Linear assignment: a {n}×{n} matrix needs {(long)n * n} entries, got {matrix.Length}.", nameof(matrix));
        for (int k = 0; k < matrix.Length; k++)
            if (!double.IsFinite(matrix[k]))
                throw new ArgumentException(
                    $"Linear assignment: entry (row {k / n}, col {k % n}) is {matrix[k]}; every cost must be finite.", nameof(matrix));
        if (n == 0) return [];

        // Maximising Σ c equals minimising Σ (−c); the search itself always minimises.
        double sign = maximize ? -1.0 : 1.0;
        return ShortestAugmentingPaths(matrix, n, sign);
    }

    /// <summary>
    /// Potentials u (rows) and v (columns) keep every reduced cost c[i,j]·sign − u[i] − v[j] ≥ 0 and
    /// zero on matched pairs. Column index 0 is a virtual column holding the row being inserted,
    /// so real columns are 1..n here (arrays of length n+1).
    /// </summary>
    private static int[] ShortestAugmentingPaths(double[] c, int n, double sign)
    {
        var u = new double[n + 1];
        var v = new double[n + 1];
        var rowOfColumn = new int[n + 1];     // 1-based row matched to column j, 0 = free
        var previousColumn = new int[n + 1];  // shortest-path tree: column reached before j
        var minSlack = new double[n + 1];     // shortest tentative distance to column j
        var used = new bool[n + 1];

        for (int row = 1; row <= n; row++)
        {
            rowOfColumn[0] = row;
            int j0 = 0;
            Array.Fill(minSlack, double.PositiveInfinity);
            Array.Clear(used);
            do
            {
                used[j0] = true;
                int i0 = rowOfColumn[j0];
                int costRow = (i0 - 1) * n;
                double ui0 = u[i0];
                double delta = double.PositiveInfinity;
                int j1 = 0;
                for (int j = 1; j <= n; j++)
                {
                    if (used[j]) continue;
                    double reduced = sign * c[costRow + j - 1] - ui0 - v[j];
                    if (reduced < minSlack[j])
                    {
                        minSlack[j] = reduced;
                        previousColumn[j] = j0;
                    }
                    // NOTE: strict '<' keeps the first column among ties, so the result is deterministic.
                    if (minSlack[j] < delta)
                    {
                        delta = minSlack[j];
                        j1 = j;
                    }
                }
                // Shift the potentials by delta: tree columns stay tight, the others' slack shrinks.
                for (int j = 0; j <= n; j++)
                {
                    if (used[j])
                    {
                        u[rowOfColumn[j]] += delta;
                        v[j] -= delta;
                    }
                    else
                    {
                        minSlack[j] -= delta;
                    }
                }
                j0 = j1;
            }
            while (rowOfColumn[j0] != 0);

            // Augment: flip the matching along the path back to the virtual column.
            do
            {
                int j1 = previousColumn[j0];
                rowOfColumn[j0] = rowOfColumn[j1];
                j0 = j1;
            }
            while (j0 != 0);
        }

        var result = new int[n];
        for (int j = 1; j <= n; j++) result[rowOfColumn[j] - 1] = j - 1;
        return result;
    }
}
