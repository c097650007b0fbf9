using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// 6 × 16 micro-kernels: C_tile = alpha·(A_panel · B_panel) + beta·C_tile, where A_panel is
/// (kc × 6) and B_panel (kc × 16), both packed contiguously by <see cref="ManagedGemmPacking"/>.
/// </summary>
internal static unsafe class ManagedGemmKernels
{
    public static bool Avx2Supported => Fma.IsSupported && Avx2.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2Kernel6x16(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        // Prefetch the C tile so its cache misses overlap the k loop instead of the stores.
        for (int r = 0; r < 6; r++) { Sse.Prefetch0(c + (long)r * ldc); Sse.Prefetch0(c + (long)r * ldc + 15); }
        Vector256<float> b0, b1, av;
        // Unrolled by 4 to amortise the loop counter and pointer updates over 48 FMAs.
        int p = 0;
        for (; p + 4 <= kc; p += 4, a += 24, b += 64)
        {
            b0 = Avx.LoadAlignedVector256(b + 0); b1 = Avx.LoadAlignedVector256(b + 8);
            av = Avx.BroadcastScalarToVector256(a + 0); c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 1); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 2); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 3); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 4); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 5); c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            b0 = Avx.LoadAlignedVector256(b + 16); b1 = Avx.LoadAlignedVector256(b + 24);
            av = Avx.BroadcastScalarToVector256(a + 6); c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 7); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 8); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 9); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 10); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 11); c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            b0 = Avx.LoadAlignedVector256(b + 32); b1 = Avx.LoadAlignedVector256(b + 40);
            av = Avx.BroadcastScalarToVector256(a + 12); c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 13); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 14); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 15); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 16); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 17); c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            b0 = Avx.LoadAlignedVector256(b + 48); b1 = Avx.LoadAlignedVector256(b + 56);
            av = Avx.BroadcastScalarToVector256(a + 18); c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 19); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 20); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 21); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 22); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 23); c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
        }
        for (; p < kc; p++, a += 6, b += 16)
        {
            b0 = Avx.LoadAlignedVector256(b + 0); b1 = Avx.LoadAlignedVector256(b + 8);
            av = Avx.BroadcastScalarToVector256(a + 0); c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Avx.BroadcastScalarToVector256(a + 1); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Avx.BroadcastScalarToVector256(a + 2); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Avx.BroadcastScalarToVector256(a + 3); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Avx.BroadcastScalarToVector256(a + 4); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Avx.BroadcastScalarToVector256(a + 5); c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
        }
        var va = Vector256.Create(alpha);
        if (beta == 0f)
        {
            // NOTE: beta == 0 never reads C, so NaN garbage in pooled buffers cannot leak through.
            StoreRow(c, c00, c01, va); StoreRow(c + ldc, c10, c11, va); StoreRow(c + 2 * ldc, c20, c21, va);
            StoreRow(c + 3 * ldc, c30, c31, va); StoreRow(c + 4 * ldc, c40, c41, va); StoreRow(c + 5 * ldc, c50, c51, va);
        }
        else
        {
            var vb = Vector256.Create(beta);
            UpdateRow(c, c00, c01, va, vb); UpdateRow(c + ldc, c10, c11, va, vb); UpdateRow(c + 2 * ldc, c20, c21, va, vb);
            UpdateRow(c + 3 * ldc, c30, c31, va, vb); UpdateRow(c + 4 * ldc, c40, c41, va, vb); UpdateRow(c + 5 * ldc, c50, c51, va, vb);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(float* row, Vector256<float> lo, Vector256<float> hi, Vector256<float> alpha)
    {
        Avx.Store(row, Avx.Multiply(lo, alpha));
        Avx.Store(row + 8, Avx.Multiply(hi, alpha));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UpdateRow(float* row, Vector256<float> lo, Vector256<float> hi, Vector256<float> alpha, Vector256<float> beta)
    {
        Avx.Store(row, Fma.MultiplyAdd(lo, alpha, Avx.Multiply(Avx.LoadVector256(row), beta)));
        Avx.Store(row + 8, Fma.MultiplyAdd(hi, alpha, Avx.Multiply(Avx.LoadVector256(row + 8), beta)));
    }

    /// <summary>Portable fallback with the same contract; correctness over speed.</summary>
    public static void ScalarKernel6x16(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        const int MR = ManagedGemm.MR, NR = ManagedGemm.NR;
        float* acc = stackalloc float[MR * NR];
        new Span<float>(acc, MR * NR).Clear();
        for (int p = 0; p < kc; p++, a += MR, b += NR)
            for (int r = 0; r < MR; r++)
            {
                float av = a[r];
                float* accRow = acc + r * NR;
                for (int j = 0; j < NR; j++) accRow[j] += av * b[j];
            }
        for (int r = 0; r < MR; r++)
        {
            float* row = c + (long)r * ldc;
            for (int j = 0; j < NR; j++)
                row[j] = beta == 0f ? alpha * acc[r * NR + j] : alpha * acc[r * NR + j] + beta * row[j];
        }
    }
}
