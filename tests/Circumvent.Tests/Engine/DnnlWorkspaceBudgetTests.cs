using Circumvent.Engine;
using Circumvent.Engine.Kernels;
using static Circumvent.Tests.Engine.DnnlConvTests;

namespace Circumvent.Tests.Engine;

/// <summary>
/// Convolutions whose oneDNN workspace would exceed the budget run over the batch in several runs: the
/// runs cover every sample once, and the results equal the unsplit call (dW summed over the runs).
/// </summary>
public class DnnlWorkspaceBudgetTests
{
    [Theory]
    [InlineData(128, 100, 100, 1)]
    [InlineData(128, 151, 64, 3)]
    [InlineData(7, 1000, 1, 7)]
    [InlineData(10, 350, 100, 4)]
    public void RunsCoverTheBatchInTheFewestNearEqualParts(int batch, long wholeMb, long budgetMb, int expectedRuns)
    {
        using var budget = DnnlConvKernels.UseWorkspaceBudget(budgetMb << 20);
        var runs = DnnlConvKernels.Runs(batch, wholeMb << 20).ToList();
        Assert.Equal(expectedRuns, runs.Count);
        Assert.Equal(0, runs[0].First);
        for (int i = 1; i < runs.Count; i++) Assert.Equal(runs[i - 1].First + runs[i - 1].Count, runs[i].First);
        Assert.Equal(batch, runs.Sum(r => r.Count));
        Assert.True(runs.Max(r => r.Count) - runs.Min(r => r.Count) <= 1);
    }

    [Theory]
    [InlineData(null, 128L << 20)]
    [InlineData(" 200 ", 200L << 20)]
    public void BudgetIsReadInMegabytes(string? text, long bytes) => Assert.Equal(bytes, DnnlConvKernels.SelectWorkspaceBudget(text));

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("1.5")]
    [InlineData("lots")]
    public void BudgetThatIsNotAPositiveWholeNumberIsRefused(string text) =>
        Assert.Contains($"CIRCUMVENT_DNNL_WORKSPACE_MB='{text}'", Assert.Throws<ArgumentException>(() => DnnlConvKernels.SelectWorkspaceBudget(text)).Message);

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void SplitCallsEqualTheWholeBatch(bool freshGradients)
    {
        Skip.IfNot(ConvBackend.DnnlAvailable(out var reason), $"oneDNN is not available: {reason}");
        var rng = new Random(4);
        const int n = 11, o = 24;
        var g = new ConvGeometry(16, 9, 9, 3, 3, 1, 1);
        var (x, w, b) = (Values(rng, n * g.ImageSize), Values(rng, o * g.ColumnRows), Values(rng, o));
        var gy = Values(rng, n * o * g.ColumnCols);
        var (dx0, dw0) = (Values(rng, x.Length), Values(rng, w.Length)); // what accumulation starts from

        (float[] Y, float[] Dx, float[] Dw) Run()
        {
            var (y, dx, dw) = (new float[gy.Length], freshGradients ? new float[x.Length] : (float[])dx0.Clone(), freshGradients ? new float[w.Length] : (float[])dw0.Clone());
            DnnlConvKernels.Forward(g, n, o, x, w, b, y);
            DnnlConvKernels.Backward(g, n, o, x, w, gy, dx, freshGradients, dw, freshGradients);
            return (y, dx, dw);
        }

        var whole = Run();
        // A 1-byte budget splits every call into one-sample runs.
        using (DnnlConvKernels.UseWorkspaceBudget(1))
        {
            var conv = DnnlConvKernels.For(g, n, o, bias: false, blocked: true);
            Assert.Equal(n, DnnlConvKernels.Runs(n, conv.BackwardWeightsWorkspaceBytes).Count()); // it really splits
            var split = Run();
            AssertRelativelyClose(whole.Y, split.Y, "y");
            AssertRelativelyClose(whole.Dx, split.Dx, "dX");
            AssertRelativelyClose(whole.Dw, split.Dw, "dW");
        }
    }
}
