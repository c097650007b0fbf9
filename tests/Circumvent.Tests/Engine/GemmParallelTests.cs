using Circumvent.Engine.Kernels;

namespace Circumvent.Tests.Engine;

/// <summary>Gemm.ParallelSgemm: row and column splits against the reference, and small problems on one call.</summary>
public class GemmParallelTests
{
    /// <summary>Wraps a provider and records the (m, n) of every call it receives.</summary>
    private sealed class RecordingGemm(IGemm inner) : IGemm
    {
        public readonly List<(int M, int N)> Calls = [];
        public string Name => inner.Name;

        public void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
            ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
            lock (Calls) Calls.Add((m, n));
            inner.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        }
    }

    public static TheoryData<string, int, int, int> Cases()
    {
        var data = new TheoryData<string, int, int, int>();
        foreach (var provider in GemmProviders.Available())
        {
            if (provider == GemmProviders.Reference) continue;
            data.Add(provider, 301, 64, 90);  // m ≥ n: split by rows, 301 not a multiple of 6
            data.Add(provider, 10, 517, 400); // m < n: split by columns, 517 not a multiple of 16
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SplitProductMatchesReference(string provider, int m, int n, int k)
    {
        var reference = new ReferenceGemm();
        foreach (int threads in new[] { 2, 3 })
            foreach (bool transA in new[] { false, true })
                foreach (bool transB in new[] { false, true })
                    foreach (var (alpha, beta) in new[] { (1f, 0f), (0.75f, 1f) })
                    {
                        var gemm = new RecordingGemm(GemmProviders.Create(provider));
                        var problem = new GemmTestMatrices(m + n, transA, transB, m, n, k, padding: 5, nanC: beta == 0f);
                        var actual = problem.RunParallel(gemm, threads, alpha, beta);
                        string what = $"{gemm.Name} parallel({threads}) ({m},{n},{k}) transA={transA} transB={transB} beta={beta}";
                        problem.AssertMatches(problem.Run(reference, alpha, beta), actual, what);
                        Assert.Equal(threads, gemm.Calls.Count);
                        bool byRows = m >= n;
                        Assert.Equal(byRows ? m : n, gemm.Calls.Sum(call => byRows ? call.M : call.N));
                        // Every split except the last falls on a whole register tile. The calls are recorded in the
                        // order the threads finish, not split order, so count the ragged ones instead of skipping the last.
                        Assert.True(gemm.Calls.Count(call => (byRows ? call.M % 6 : call.N % 16) != 0) <= 1,
                            $"{what}: more than one split off the register tile: {string.Join(", ", gemm.Calls)}");
                    }
    }

    [Fact]
    public void SmallProblemStaysOnOneCall()
    {
        var gemm = new RecordingGemm(new ManagedGemm());
        var problem = new GemmTestMatrices(3, false, true, 32, 32, 32, padding: 0, nanC: true);
        var actual = problem.RunParallel(gemm, 2, 1f, 0f);
        Assert.Equal([(32, 32)], gemm.Calls);
        problem.AssertMatches(problem.Run(new ReferenceGemm(), 1f, 0f), actual, "small parallel");
    }

    [Fact]
    public void EmptyInnerDimensionScalesC()
    {
        var gemm = new RecordingGemm(new ManagedGemm());
        var problem = new GemmTestMatrices(4, true, false, 300, 300, 0, padding: 1, nanC: false);
        var actual = problem.RunParallel(gemm, 2, 1f, 0.5f);
        problem.AssertMatches(problem.Run(new ReferenceGemm(), 1f, 0.5f), actual, "k = 0 parallel");
    }
}
