namespace Circumvent.Engine.LinearAlgebra;

/// <summary>
/// Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations, in float64: A = V·diag(λ)·Vᵀ.
/// Meant for the few-dozen-dimensional covariances of image patches (airnet's whitening conv); the cost is
/// O(n³) per sweep and a handful of sweeps reach machine precision.
/// </summary>
public static class SymmetricEigen
{
    private const int MaxSweeps = 100;

    /// <summary>
    /// Eigenvalues in descending order and the matching unit eigenvectors as the rows of
    /// <c>Vectors</c> (n, n): row k belongs to <c>Values[k]</c>. Each vector's sign is arbitrary.
    /// </summary>
    /// <param name="matrix">Row-major (n, n); must be symmetric. Not modified.</param>
    public static (double[] Values, double[,] Vectors) Decompose(double[,] matrix)
    {
        int n = matrix.GetLength(0);
        if (matrix.GetLength(1) != n)
            throw new ArgumentException($"symmetric eigen-decomposition: the matrix must be square, got {n}×{matrix.GetLength(1)}.");
        var a = (double[,])matrix.Clone();
        double scale = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (Math.Abs(a[i, j] - a[j, i]) > 1e-9 * (1 + Math.Abs(a[i, j])))
                    throw new ArgumentException($"symmetric eigen-decomposition: entries ({i}, {j}) = {a[i, j]} and ({j}, {i}) = {a[j, i]} differ.");
                scale = Math.Max(scale, Math.Abs(a[i, j]));
            }
        var v = new double[n, n]; // columns are eigenvectors while rotating
        for (int i = 0; i < n; i++) v[i, i] = 1;

        for (int sweep = 0; sweep < MaxSweeps && OffDiagonal(a) > 1e-28 * scale * scale; sweep++)
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                    if (a[p, q] != 0) Rotate(a, v, p, q);

        var order = Enumerable.Range(0, n).OrderByDescending(i => a[i, i]).ToArray();
        var values = order.Select(i => a[i, i]).ToArray();
        var vectors = new double[n, n];
        for (int k = 0; k < n; k++)
            for (int j = 0; j < n; j++) vectors[k, j] = v[j, order[k]];
        return (values, vectors);
    }

    private static double OffDiagonal(double[,] a)
    {
        double s = 0;
        int n = a.GetLength(0);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (i != j) s += a[i, j] * a[i, j];
        return s;
    }

    // One rotation in the (p, q) plane that zeroes a[p, q] (Golub & Van Loan, symmetric Schur): a ← JᵀaJ, v ← vJ.
    private static void Rotate(double[,] a, double[,] v, int p, int q)
    {
        int n = a.GetLength(0);
        double tau = (a[q, q] - a[p, p]) / (2 * a[p, q]);
        // NOTE: the smaller root keeps the rotation angle ≤ π/4, which is what makes the sweeps converge.
        double t = Math.Sign(tau) / (Math.Abs(tau) + Math.Sqrt(1 + tau * tau));
        if (tau == 0) t = 1;
        double c = 1 / Math.Sqrt(1 + t * t), s = t * c;
        for (int k = 0; k < n; k++)
        {
            double akp = a[k, p], akq = a[k, q];
            a[k, p] = c * akp - s * akq;
            a[k, q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; k++)
        {
            double apk = a[p, k], aqk = a[q, k];
            a[p, k] = c * apk - s * aqk;
            a[q, k] = s * apk + c * aqk;
        }
        for (int k = 0; k < n; k++)
        {
            double vkp = v[k, p], vkq = v[k, q];
            v[k, p] = c * vkp - s * vkq;
            v[k, q] = s * vkp + c * vkq;
        }
    }
}
