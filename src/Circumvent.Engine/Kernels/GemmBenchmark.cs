using System.Diagnostics;

namespace Circumvent.Engine.Kernels;

/// <summary>One measurement: best and median throughput of square SGEMM op(A)·op(B), all (n × n).</summary>
public sealed record GemmBenchmarkResult(string Provider, int Size, int Threads, bool TransA, bool TransB,
    int Runs, double BestSeconds, double MedianSeconds)
{
    /// <summary>2·n³ floating-point operations per GEMM.</summary>
    public double BestGflops => 2.0 * Size * Size * Size / BestSeconds / 1e9;
    public double MedianGflops => 2.0 * Size * Size * Size / MedianSeconds / 1e9;
}

/// <summary>
/// Measures GFLOP/s of a provider on square row-major C = op(A)·op(B) for the given sizes, on one
/// thread (a direct provider call) and on several threads (<see cref="Gemm.ParallelSgemm(IGemm, int, bool, bool, int, int, int, float, float[], int, float[], int, float, float[], int)"/>).
/// One warm-up call (JIT, packing buffers, page faults), then timed runs.
/// </summary>
public static class GemmBenchmark
{
    public static readonly int[] DefaultSizes = [256, 512, 1024, 2048];

    /// <summary>
    /// Runs every (size, thread count) pair. threadCounts defaults to {1, Parallelism.Threads}.
    /// Runs per point shrink with size so that n = 2048 stays at a few seconds in total.
    /// </summary>
    public static IReadOnlyList<GemmBenchmarkResult> Run(IGemm provider, IEnumerable<int>? sizes = null,
        IEnumerable<int>? threadCounts = null, int? runs = null, bool transA = false, bool transB = false)
    {
        var threads = (threadCounts ?? [1, Parallelism.Threads]).Distinct().ToArray();
        var results = new List<GemmBenchmarkResult>();
        foreach (int n in sizes ?? DefaultSizes)
        {
            var rng = new Random(n);
            var a = RandomMatrix(rng, n * n);
            var b = RandomMatrix(rng, n * n);
            var c = new float[n * n];
            int count = runs ?? (n <= 512 ? 10 : n <= 1024 ? 5 : 3);
            foreach (int t in threads)
                results.Add(Measure(provider, n, t, count, a, b, c, transA, transB));
        }
        return results;
    }

    public static GemmBenchmarkResult Measure(IGemm provider, int n, int threads, int runs, float[] a, float[] b, float[] c,
        bool transA = false, bool transB = false)
    {
        if (runs < 1) throw new ArgumentOutOfRangeException(nameof(runs), runs, "at least one timed run is needed");
        void Once()
        {
            if (threads == 1) provider.Sgemm(transA, transB, n, n, n, 1f, a, n, b, n, 0f, c, n);
            else Gemm.ParallelSgemm(provider, threads, transA, transB, n, n, n, 1f, a, n, b, n, 0f, c, n);
        }
        Once();
        var seconds = new double[runs];
        for (int r = 0; r < runs; r++)
        {
            long start = Stopwatch.GetTimestamp();
            Once();
            seconds[r] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(seconds);
        return new GemmBenchmarkResult(provider.Name, n, threads, transA, transB, runs, seconds[0], seconds[runs / 2]);
    }

    private static float[] RandomMatrix(Random rng, int length)
    {
        var values = new float[length];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
        return values;
    }
}
