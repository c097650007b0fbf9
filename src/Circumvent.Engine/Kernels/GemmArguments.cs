namespace Circumvent.Engine.Kernels;

/// <summary>
/// Checks shared by every provider: sizes, leading dimensions and span lengths, plus the trivial
/// cases (k = 0, alpha = 0) that reduce to C = beta·C. Providers that go through raw pointers
/// rely on these checks to never read or write outside the spans they were given.
/// </summary>
public static class GemmArguments
{
    /// <summary>Throws when a shape, leading dimension or span length cannot describe the product.</summary>
    public static void Validate(bool transA, bool transB, int m, int n, int k,
        int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"GEMM sizes must be non-negative; found m={m}, n={n}, k={k}.");
        // Stored shapes: A is (m × k) or, transposed, (k × m); B is (k × n) or (n × k); C is (m × n).
        CheckMatrix("A", transA ? k : m, transA ? m : k, lda, aLength, transA);
        CheckMatrix("B", transB ? n : k, transB ? k : n, ldb, bLength, transB);
        CheckMatrix("C", m, n, ldc, cLength, false);
    }

    /// <summary>C = beta·C over the logical (m × n) region; beta = 0 overwrites (C may hold NaN).</summary>
    public static void ScaleC(int m, int n, float beta, Span<float> c, int ldc)
    {
        if (beta == 1f) return;
        for (int i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0f) row.Clear();
            else for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    private static void CheckMatrix(string name, int rows, int cols, int ld, int length, bool transposed)
    {
        if (rows == 0 || cols == 0) return;
        if (ld < cols)
            throw new ArgumentException(
                $"GEMM leading dimension of {name}{(transposed ? " (transposed)" : "")} must be at least its stored row length {cols}; found {ld}.");
        long needed = (long)(rows - 1) * ld + cols;
        if (length < needed)
            throw new ArgumentException(
                $"GEMM matrix {name} stored as ({rows} × {cols}) with leading dimension {ld} needs {needed} floats; the span has {length}.");
    }
}
