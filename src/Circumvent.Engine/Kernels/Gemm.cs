namespace Circumvent.Engine.Kernels;

/// <summary>
/// The GEMM provider in use. Chosen once: CIRCUMVENT_GEMM=managed|openblas|reference, or by
/// default OpenBLAS when libopenblas is loadable, else the managed SIMD kernel.
/// </summary>
public static class Gemm
{
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
    /// One large GEMM split by rows of C across <see cref="Parallelism.Threads"/>; each part is a
    /// single-threaded provider call.
    /// </summary>
    public static void ParallelSgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, float[] a, int lda, float[] b, int ldb,
        float beta, float[] c, int ldc)
    {
        var provider = Current;
        Parallelism.ForRanges(m, (long)n * k, (start, end) =>
        {
            if (end <= start) return;
            // Row block of op(A): rows start..end. With transA, A is stored (k × m), so the block is columns.
            var aBlock = transA ? a.AsSpan(start) : a.AsSpan(start * lda);
            provider.Sgemm(transA, transB, end - start, n, k, alpha, aBlock, lda, b, ldb, beta, c.AsSpan(start * ldc), ldc);
        });
    }
}
