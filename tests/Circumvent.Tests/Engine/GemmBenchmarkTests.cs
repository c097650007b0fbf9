using Circumvent.Engine.Kernels;

namespace Circumvent.Tests.Engine;

public class GemmBenchmarkTests
{
    [Fact]
    public void ReportsOneRecordPerSizeAndThreadCountWithConsistentRates()
    {
        var results = GemmBenchmark.Run(new ManagedGemm(), sizes: [16, 40], threadCounts: [1, 2], runs: 2, transB: true);
        Assert.Equal([(16, 1), (16, 2), (40, 1), (40, 2)], results.Select(r => (r.Size, r.Threads)));
        Assert.All(results, r =>
        {
            Assert.StartsWith("managed", r.Provider);
            Assert.True(r.TransB && !r.TransA);
            Assert.True(r.BestSeconds > 0 && r.BestSeconds <= r.MedianSeconds, $"best {r.BestSeconds} s, median {r.MedianSeconds} s");
            Assert.Equal(2.0 * r.Size * r.Size * r.Size / r.BestSeconds / 1e9, r.BestGflops, 6);
        });
    }
}
