namespace Circumvent.Engine.Kernels;

/// <summary>
/// Single-precision GEMM on row-major matrices: C = alpha·op(A)·op(B) + beta·C, where op(A) is
/// (m × k) and op(B) is (k × n). Leading dimensions are row strides of the stored matrices.
/// NOTE: implementations are single-threaded by contract. Circumvent owns the threads: ops split
/// work (batch samples, row blocks) across cores and call GEMM inside those loops; a provider
/// that spawned its own threads there would oversubscribe the two cores.
/// </summary>
public interface IGemm
{
    /// <summary>Short name for reports, e.g. "managed-avx2" or "openblas (Haswell)".</summary>
    string Name { get; }

    void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc);
}
