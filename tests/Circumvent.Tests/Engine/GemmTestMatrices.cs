using Circumvent.Engine.Kernels;

namespace Circumvent.Tests.Engine;

/// <summary>
/// One GEMM problem with padded storage: every matrix has a leading dimension larger than its
/// row, and the padding (plus a tail) holds a sentinel that no provider may overwrite.
/// </summary>
internal sealed class GemmTestMatrices
{
    public const float Sentinel = 12345.5f;

    public readonly bool TransA, TransB;
    public readonly int M, N, K, Lda, Ldb, Ldc;
    public readonly float[] A, B, C;

    public GemmTestMatrices(int seed, bool transA, bool transB, int m, int n, int k, int padding, bool nanC)
    {
        var rng = new Random(seed);
        (TransA, TransB, M, N, K) = (transA, transB, m, n, k);
        // Stored shapes: A (m × k) or (k × m), B (k × n) or (n × k), C (m × n).
        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        Lda = aCols + padding; Ldb = bCols + padding; Ldc = n + padding;
        A = Fill(rng, aRows, aCols, Lda, nan: false);
        B = Fill(rng, bRows, bCols, Ldb, nan: false);
        C = Fill(rng, m, n, Ldc, nanC);
    }

    public float[] Run(IGemm gemm, float alpha, float beta)
    {
        var c = (float[])C.Clone();
        gemm.Sgemm(TransA, TransB, M, N, K, alpha, A, Lda, B, Ldb, beta, c, Ldc);
        return c;
    }

    public float[] RunParallel(IGemm gemm, int threads, float alpha, float beta)
    {
        var c = (float[])C.Clone();
        Gemm.ParallelSgemm(gemm, threads, TransA, TransB, M, N, K, alpha, A, Lda, B, Ldb, beta, c, Ldc);
        return c;
    }

    /// <summary>Asserts the logical region matches within 1e-4·sqrt(k) relative error and the padding is untouched.</summary>
    public void AssertMatches(float[] expected, float[] actual, string what)
    {
        float tolerance = 1e-4f * MathF.Sqrt(Math.Max(K, 1));
        for (int idx = 0; idx < actual.Length; idx++)
        {
            int i = idx / Ldc, j = idx % Ldc;
            bool logical = i < M && j < N;
            // NOTE: messages are built only on failure; formatting one per element dominated the run time.
            if (!logical)
            {
                if (actual[idx] != Sentinel)
                    Assert.Fail($"{what}: element {idx} outside the ({M} × {N}) region changed to {actual[idx]}");
                continue;
            }
            float e = expected[idx], x = actual[idx];
            if (!float.IsFinite(x) || MathF.Abs(e - x) > tolerance * (1f + MathF.Abs(e)))
                Assert.Fail($"{what}: C[{i},{j}] = {x}, reference {e}, tolerance {tolerance}");
        }
    }

    private static float[] Fill(Random rng, int rows, int cols, int ld, bool nan)
    {
        // A tail past the last row catches writes beyond (rows - 1)·ld + cols as well.
        var data = new float[rows * ld + 7];
        Array.Fill(data, Sentinel);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                data[r * ld + c] = nan ? float.NaN : (float)(rng.NextDouble() * 2 - 1);
        return data;
    }
}
