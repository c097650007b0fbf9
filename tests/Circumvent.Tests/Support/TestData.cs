using Circumvent.Engine;

namespace Circumvent.Tests.Support;

public static class TestData
{
    public static Tensor Randn(int seed, params int[] shape) => Tensor.Randn(new Random(seed), shape);

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

    /// <summary>The checkout the tests were built from (the folder holding Circumvent.slnx).</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Circumvent.slnx"))) return dir.FullName;
        throw new InvalidOperationException("Circumvent.slnx not found above " + AppContext.BaseDirectory);
    }

    public static string FixturePath(params string[] parts) =>
        Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);
}
