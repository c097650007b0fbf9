using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// Copies blocks of A and B into the micro-panel layout the micro-kernel streams through.
/// Panels past the matrix edge are zero-padded so the kernel always computes full tiles.
/// </summary>
internal static unsafe class ManagedGemmPacking
{
    private const int MR = ManagedGemm.MR, NR = ManagedGemm.NR;

    /// <summary>
    /// op(A)[ic..ic+mc, pc..pc+kc] -> ceil(mc/MR) panels, each (kc × MR): dst[p·MR + r] = op(A)(ic+i0+r, pc+p).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackA(bool transA, float* a, int lda, int ic, int mc, int pc, int kc, float* dst)
    {
        for (int i0 = 0; i0 < mc; i0 += MR, dst += MR * kc)
        {
            int mr = Math.Min(MR, mc - i0);
            int row0 = ic + i0;
            if (transA)
            {
                // Stored (k × m): the MR values for one p are contiguous.
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)(pc + p) * lda + row0;
                    float* d = dst + p * MR;
                    int r = 0;
                    for (; r < mr; r++) d[r] = src[r];
                    for (; r < MR; r++) d[r] = 0f;
                }
            }
            else
            {
                // Stored (m × k): walk MR rows in step, writing one MR-wide column of the panel per p.
                if (mr == MR)
                {
                    float* s0 = a + (long)row0 * lda + pc, s1 = s0 + lda, s2 = s1 + lda,
                        s3 = s2 + lda, s4 = s3 + lda, s5 = s4 + lda;
                    int p0 = 0;
                    if (Avx.IsSupported)
                        for (; p0 + 8 <= kc; p0 += 8)
                            Transpose6x8(s0 + p0, lda, dst + p0 * MR);
                    float* d = dst + p0 * MR;
                    for (int p = p0; p < kc; p++, d += MR)
                    {
                        d[0] = s0[p]; d[1] = s1[p]; d[2] = s2[p];
                        d[3] = s3[p]; d[4] = s4[p]; d[5] = s5[p];
                    }
                }
                else
                {
                    for (int r = 0; r < MR; r++)
                    {
                        float* src = a + (long)(row0 + r) * lda + pc;
                        for (int p = 0; p < kc; p++) dst[p * MR + r] = r < mr ? src[p] : 0f;
                    }
                }
            }
        }
    }

    /// <summary>
    /// op(B)[pc..pc+kc, jc..jc+nc] -> ceil(nc/NR) panels, each (kc × NR): dst[p·NR + j] = op(B)(pc+p, jc+j0+j).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackB(bool transB, float* b, int ldb, int pc, int kc, int jc, int nc, float* dst)
    {
        for (int j0 = 0; j0 < nc; j0 += NR, dst += NR * kc)
        {
            int nr = Math.Min(NR, nc - j0);
            int col0 = jc + j0;
            if (!transB)
            {
                // Stored (k × n): the NR values for one p are contiguous.
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (long)(pc + p) * ldb + col0;
                    float* d = dst + p * NR;
                    if (nr == NR)
                    {
                        Vector256.Store(Vector256.Load(src), d);
                        Vector256.Store(Vector256.Load(src + 8), d + 8);
                    }
                    else
                    {
                        int j = 0;
                        for (; j < nr; j++) d[j] = src[j];
                        for (; j < NR; j++) d[j] = 0f;
                    }
                }
            }
            else
            {
                // Stored (n × k): column j of op(B) is a contiguous row of B. Full panels move
                // 8 × 8 blocks through an AVX transpose; the rest is scattered with stride NR.
                int p0 = 0;
                if (nr == NR && Avx.IsSupported)
                    for (; p0 + 8 <= kc; p0 += 8)
                    {
                        float* src = b + (long)col0 * ldb + pc + p0;
                        Transpose8x8(src, ldb, dst + p0 * NR);
                        Transpose8x8(src + 8L * ldb, ldb, dst + p0 * NR + 8);
                    }
                for (int j = 0; j < NR; j++)
                {
                    float* d = dst + j;
                    if (j < nr)
                    {
                        float* src = b + (long)(col0 + j) * ldb + pc;
                        for (int p = p0; p < kc; p++) d[p * NR] = src[p];
                    }
                    else
                        for (int p = p0; p < kc; p++) d[p * NR] = 0f;
                }
            }
        }
    }

    // dst[q·NR + i] = src[i·ld + q] for i, q in 0..8: eight rows of B become eight packed columns.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, int ld, float* dst)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + ld);
        var r2 = Avx.LoadVector256(src + 2L * ld); var r3 = Avx.LoadVector256(src + 3L * ld);
        var r4 = Avx.LoadVector256(src + 4L * ld); var r5 = Avx.LoadVector256(src + 5L * ld);
        var r6 = Avx.LoadVector256(src + 6L * ld); var r7 = Avx.LoadVector256(src + 7L * ld);
        // Interleave pairs of rows, then pairs of pairs; each 128-bit lane now holds 4 rows of one column.
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        // Join low lanes (columns 0..3) and high lanes (columns 4..7) of rows 0..3 and 4..7.
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + NR, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * NR, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * NR, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * NR, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * NR, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * NR, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * NR, Avx.Permute2x128(u3, u7, 0x31));
    }

    // dst[q·MR + r] = src[r·ld + q] for r in 0..6, q in 0..8: six rows of A become eight packed columns.
    // NOTE: each 8-wide store spills 2 floats past its 6-float column; the next store (or the next
    // column group, or panel) overwrites them, and the A buffer has slack for the very last one.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose6x8(float* src, int ld, float* dst)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + ld);
        var r2 = Avx.LoadVector256(src + 2L * ld); var r3 = Avx.LoadVector256(src + 3L * ld);
        var r4 = Avx.LoadVector256(src + 4L * ld); var r5 = Avx.LoadVector256(src + 5L * ld);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        // Rows 4 and 5 only: shuffling against t4/t5 itself leaves don't-care values in rows 6, 7.
        var u4 = Avx.Shuffle(t4, t4, 0x44); var u5 = Avx.Shuffle(t4, t4, 0xEE);
        var u6 = Avx.Shuffle(t5, t5, 0x44); var u7 = Avx.Shuffle(t5, t5, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + MR, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * MR, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * MR, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * MR, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * MR, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * MR, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * MR, Avx.Permute2x128(u3, u7, 0x31));
    }
}
