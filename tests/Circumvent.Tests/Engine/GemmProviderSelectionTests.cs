using Circumvent.Engine.Kernels;
using Xunit.Abstractions;

namespace Circumvent.Tests.Engine;

public class GemmProviderSelectionTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("")]
    [InlineData("auto")]
    [InlineData(" AUTO ")]
    public void AutoPrefersOpenBlasThenManaged(string name)
    {
        var chosen = GemmProviders.Select(name);
        var openBlas = OpenBlasGemm.TryLoad(out var reason);
        output.WriteLine($"auto -> {chosen.Name}; OpenBLAS: {reason}");
        if (openBlas is null) Assert.IsType<ManagedGemm>(chosen);
        else Assert.Same(openBlas, chosen);
    }

    [Fact]
    public void NamedProvidersResolve()
    {
        Assert.IsType<ManagedGemm>(GemmProviders.Select("managed"));
        Assert.IsType<ReferenceGemm>(GemmProviders.Select("Reference"));
        Assert.Contains(GemmProviders.Managed, GemmProviders.Available());
        Assert.Contains(GemmProviders.Reference, GemmProviders.Available());
    }

    [Fact]
    public void UnknownNameIsRejectedWithTheChoices()
    {
        var error = Assert.Throws<ArgumentException>(() => GemmProviders.Select("mkl"));
        Assert.Contains("'mkl'", error.Message);
        Assert.Contains("openblas", error.Message);
    }

    [Fact]
    public void OpenBlasIsListedExactlyWhenLoadableAndRunsSingleThreaded()
    {
        var openBlas = OpenBlasGemm.TryLoad(out var reason);
        output.WriteLine(reason);
        Assert.Equal(openBlas is not null, GemmProviders.Available().Contains(GemmProviders.OpenBlas));
        if (openBlas is null)
        {
            var error = Assert.Throws<InvalidOperationException>(() => GemmProviders.Select("openblas"));
            Assert.Contains("openblas", error.Message);
            return;
        }
        output.WriteLine($"{openBlas.Name} from {openBlas.LibraryPath}: {openBlas.Config}");
        Assert.StartsWith("openblas (", openBlas.Name);
        Assert.DoesNotContain("()", openBlas.Name);
        // -1 means the library has no openblas_get_num_threads (a non-OpenBLAS libblas).
        Assert.True(openBlas.NativeThreads is 1 or -1, $"OpenBLAS threads = {openBlas.NativeThreads}, expected 1");
    }
}
