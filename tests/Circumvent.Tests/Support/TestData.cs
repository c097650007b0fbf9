using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Tests.Support;

public static class TestData
{
    public static Tensor Randn(int seed, params int[] shape) => Tensor.Randn(new Random(seed), shape);

    /// <summary>(count, 3, size, size) values uniform in [−1, 1), seeded.</summary>
    public static Tensor UniformImages(int count, int size, int seed)
    {
        var rng = new Random(seed);
        return Tensor.FromArray([.. Enumerable.Range(0, count * 3 * size * size).Select(_ => (float)(rng.NextDouble() * 2 - 1))], count, 3, size, size);
    }

    /// <summary>
    /// Overwrites every buffer of <paramref name="weights"/> with random values drawn from <paramref name="rng"/> (running
    /// variances in [0.5, 1.5), the rest in [−0.5, 0.5)), so eval-mode BN is not the identity and a mis-permuted buffer shows.
    /// </summary>
    public static ParameterSet WithRandomRunningStatistics(ParameterSet weights, Random rng)
    {
        foreach (var (name, tensor, role) in weights.ToList())
            if (role == TensorRole.Buffer)
                weights.Set(name, Tensor.FromArray([.. Enumerable.Range(0, tensor.Length).Select(_ => (float)(name.EndsWith("var") ? 0.5 + rng.NextDouble() : rng.NextDouble() - 0.5))], tensor.Length));
        return weights;
    }

    /// <summary>The shared read-only data folder beside the checkout, or null when absent.</summary>
    public static string? SharedDataDir()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        for (; dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "data");
            if (Directory.Exists(candidate)) return candidate;
        }
        return null;
    }

    public static string FixturePath(params string[] parts) =>
        Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);
}
