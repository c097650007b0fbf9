using System.Runtime.Intrinsics;

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
                    float* d = dst;
                    for (int p = 0; p < kc; p++, d += MR)
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
                // Stored (n × k): each column j of op(B) is a contiguous row of B; scatter it with stride NR.
                for (int j = 0; j < NR; j++)
                {
                    float* d = dst + j;
                    if (j < nr)
                    {
                        float* src = b + (long)(col0 + j) * ldb + pc;
                        for (int p = 0; p < kc; p++) d[p * NR] = src[p];
                    }
                    else
                        for (int p = 0; p < kc; p++) d[p * NR] = 0f;
                }
            }
        }
    }
}
