namespace Circumvent.Engine.Kernels;

/// <summary>
/// The GEMM provider in use. Chosen once: CIRCUMVENT_GEMM=managed|openblas|reference, or by
/// default OpenBLAS when libopenblas is loadable, else the managed SIMD kernel.
/// </summary>
public static class Gemm
{
    // NOTE: below ~0.5M multiply-adds per thread the fork/join costs more than the second core saves.
    private const long MinMultiplyAddsPerThread = 1L << 19;
    // Split points fall on multiples of the managed kernel's register tile (6 rows, 16 columns),
    // so no part creates extra edge tiles.
    private const int RowGrain = ManagedGemm.MR, ColumnGrain = ManagedGemm.NR;

    private static IGemm? _current;

    public static IGemm Current
    {
        get => _current ??= GemmProviders.Select(Environment.GetEnvironmentVariable("CIRCUMVENT_GEMM"));
        set => _current = value;
    }

    /// <summary>Single-threaded call on the current provider (for use inside parallel loops).</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
        => Current.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>
    /// One large GEMM on the current provider split across <see cref="Parallelism.Threads"/>;
    /// each part is a single-threaded provider call.
    /// </summary>
    public static void ParallelSgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, float[] a, int lda, float[] b, int ldb,
        float beta, float[] c, int ldc)
        => ParallelSgemm(Current, Parallelism.Threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>
    /// Splits C into at most <paramref name="threads"/> disjoint blocks, by rows when m ≥ n and by
    /// columns otherwise (a batch of 8 rows times 4096 outputs still uses both cores). Small
    /// problems stay on the calling thread.
    /// </summary>
    public static void ParallelSgemm(IGemm provider, int threads, bool transA, bool transB, int m, int n, int k,
        float alpha, float[] a, int lda, float[] b, int ldb,
        float beta, float[] c, int ldc)
    {
        GemmArguments.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        bool byRows = m >= n;
        int extent = byRows ? m : n, grain = byRows ? RowGrain : ColumnGrain;
        int blocks = (extent + grain - 1) / grain;
        long multiplyAdds = (long)m * n * k;
        int parts = (int)Math.Min(Math.Min(threads, blocks), multiplyAdds / MinMultiplyAddsPerThread);
        if (parts <= 1)
        {
            provider.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
        {
            int start = (int)Math.Min(extent, (long)blocks * part / parts * grain);
            int end = (int)Math.Min(extent, (long)blocks * (part + 1) / parts * grain);
            if (end <= start) return;
            if (byRows)
            {
                // Rows start..end of op(A) and C. With transA, A is stored (k × m), so they are columns of A.
                var aBlock = transA ? a.AsSpan(start) : a.AsSpan(start * lda);
                provider.Sgemm(transA, transB, end - start, n, k, alpha, aBlock, lda, b, ldb, beta, c.AsSpan(start * ldc), ldc);
            }
            else
            {
                // Columns start..end of op(B) and C. With transB, B is stored (n × k), so they are rows of B.
                var bBlock = transB ? b.AsSpan(start * ldb) : b.AsSpan(start);
                provider.Sgemm(transA, transB, m, end - start, k, alpha, a, lda, bBlock, ldb, beta, c.AsSpan(start), ldc);
            }
        });
    }
}
