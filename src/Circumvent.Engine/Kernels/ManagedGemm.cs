using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// Single-threaded managed SGEMM in the GotoBLAS/BLIS shape: B is packed in (kc × nc) blocks
/// (L3-resident), A in (mc × kc) blocks (L2-resident), both as micro-panels laid out in the
/// order the micro-kernel reads them, and a 6 × 16 register tile (12 Vector256 accumulators)
/// does the arithmetic with FMA. Without AVX2/FMA the same driver runs a scalar micro-kernel.
/// </summary>
public sealed unsafe class ManagedGemm : IGemm
{
    // Register tile: 6 rows × 16 columns = 12 ymm accumulators + 2 for B + 1 broadcast of A.
    internal const int MR = 6, NR = 16;
    // Blocking for a 32 KiB L1 / 512 KiB L2 core: a (kc × 16) B micro-panel is 16 KiB (L1),
    // an (mc × kc) A block is 144 KiB (L2), a (kc × nc) B block is ~4 MiB (L3).
    internal const int KC = 256, MC = 144, NC = 4080;

    private readonly bool _simd;

    public ManagedGemm() : this(useSimd: true) { }

    /// <summary>useSimd = false forces the scalar micro-kernel (for tests of the fallback path).</summary>
    public ManagedGemm(bool useSimd) => _simd = useSimd && ManagedGemmKernels.Avx2Supported;

    public string Name => _simd ? "managed-avx2" : "managed-scalar";

    // NOTE: fully optimised from the first call; tier-0 code for the driver and packing loops ran
    // at ~80% of steady-state speed for the first dozens of calls.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        GemmArguments.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0f) { GemmArguments.ScaleC(m, n, beta, c, ldc); return; }

        var work = ManagedGemmWorkspace.ForCurrentThread(Math.Min(k, KC), Math.Min(RoundUp(n, NR), NC));
        fixed (float* pa = a, pb = b, pc = c)
        {
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                for (int pc0 = 0; pc0 < k; pc0 += KC)
                {
                    int kc = Math.Min(KC, k - pc0);
                    // Only the first k-block applies the caller's beta; later blocks accumulate.
                    float blockBeta = pc0 == 0 ? beta : 1f;
                    ManagedGemmPacking.PackB(transB, pb, ldb, pc0, kc, jc, nc, work.B);
                    for (int ic = 0; ic < m; ic += MC)
                    {
                        int mc = Math.Min(MC, m - ic);
                        ManagedGemmPacking.PackA(transA, pa, lda, ic, mc, pc0, kc, work.A);
                        MacroKernel(mc, nc, kc, work, pc + (long)ic * ldc + jc, ldc, alpha, blockBeta);
                    }
                }
            }
        }
    }

    // One (mc × nc) block of C from packed A (mc × kc) and packed B (kc × nc).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void MacroKernel(int mc, int nc, int kc, ManagedGemmWorkspace work, float* c, int ldc, float alpha, float beta)
    {
        for (int jr = 0; jr < nc; jr += NR)
        {
            int nr = Math.Min(NR, nc - jr);
            float* bPanel = work.B + (long)jr * kc;
            for (int ir = 0; ir < mc; ir += MR)
            {
                int mr = Math.Min(MR, mc - ir);
                float* aPanel = work.A + (long)ir * kc;
                float* cTile = c + (long)ir * ldc + jr;
                if (mr == MR && nr == NR)
                    RunKernel(kc, aPanel, bPanel, cTile, ldc, alpha, beta);
                else
                {
                    // Edge tile: compute the full padded tile into scratch, then merge the valid part.
                    RunKernel(kc, aPanel, bPanel, work.Tile, NR, 1f, 0f);
                    MergeEdgeTile(work.Tile, mr, nr, cTile, ldc, alpha, beta);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RunKernel(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        if (_simd) ManagedGemmKernels.Avx2Kernel6x16(kc, a, b, c, ldc, alpha, beta);
        else ManagedGemmKernels.ScalarKernel6x16(kc, a, b, c, ldc, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MergeEdgeTile(float* tile, int mr, int nr, float* c, int ldc, float alpha, float beta)
    {
        for (int r = 0; r < mr; r++)
        {
            float* row = c + (long)r * ldc;
            for (int j = 0; j < nr; j++)
                // NOTE: beta == 0 must not read C (pooled buffers may hold NaN).
                row[j] = beta == 0f ? alpha * tile[r * NR + j] : alpha * tile[r * NR + j] + beta * row[j];
        }
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;
}
