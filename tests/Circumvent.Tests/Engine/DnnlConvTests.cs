using Circumvent.Engine;
using Circumvent.Engine.Kernels;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Engine;

/// <summary>
/// The oneDNN convolution against the im2col kernels on random shapes (strides, padding, odd sizes,
/// batch 1, with and without bias), in both of its layouts: forward, dX and dW to 1e-4 relative.
/// </summary>
public class DnnlConvTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Seeds => Enumerable.Range(1, 16).Select(seed => new object[] { seed });

    [SkippableTheory]
    [MemberData(nameof(Seeds))]
    public void DnnlMatchesIm2ColOnRandomShapes(int seed)
    {
        Skip.IfNot(ConvBackend.DnnlAvailable(out var reason), $"oneDNN is not available: {reason}");
        var rng = new Random(seed);
        int k = rng.Next(1, 6), stride = rng.Next(1, 4), padding = rng.Next(0, Math.Min(3, k));
        int n = seed % 4 == 0 ? 1 : rng.Next(1, 5), c = rng.Next(1, 10), o = rng.Next(1, 20);
        int h = rng.Next(Math.Max(1, k - 2 * padding), 14), w = rng.Next(Math.Max(1, k - 2 * padding), 14);
        bool bias = rng.Next(2) == 0;
        var g = new ConvGeometry(c, h, w, k, k, stride, padding);
        var shape = new ConvShape(n, g, o, bias);
        output.WriteLine(shape.ToString() + (bias ? " + bias" : ""));

        var x = Values(rng, n * g.ImageSize);
        var weight = Values(rng, o * g.ColumnRows);
        var b = bias ? Values(rng, o) : null;
        var gy = Values(rng, n * o * g.ColumnCols);
        var (y, dx, dw) = (new float[gy.Length], new float[x.Length], new float[weight.Length]);
        ConvKernels.Forward(g, n, o, x, weight, b, y);
        ConvKernels.Backward(g, n, o, x, weight, gy, dx, dw);

        foreach (bool blocked in new[] { false, true })
        {
            var conv = DnnlConvKernels.For(g, n, o, bias, blocked);
            var (dy, ddx, ddw) = (new float[y.Length], new float[dx.Length], new float[dw.Length]);
            conv.Forward(x, weight, b, dy);
            conv.BackwardData(gy, weight, ddx, accumulate: false);
            conv.BackwardWeights(x, gy, ddw, accumulate: false);
            string layout = blocked ? "blocked" : "plain";
            AssertRelativelyClose(y, dy, $"{layout} y");
            AssertRelativelyClose(dx, ddx, $"{layout} dX");
            AssertRelativelyClose(dw, ddw, $"{layout} dW");
        }
    }

    [SkippableFact]
    public void AccumulatingBackwardAddsToTheExistingGradient()
    {
        Skip.IfNot(ConvBackend.DnnlAvailable(out var reason), $"oneDNN is not available: {reason}");
        var g = new ConvGeometry(5, 9, 7, 3, 3, 2, 1);
        var rng = new Random(3);
        var (x, weight, gy) = (Values(rng, 2 * g.ImageSize), Values(rng, 6 * g.ColumnRows), Values(rng, 2 * 6 * g.ColumnCols));
        foreach (bool blocked in new[] { false, true })
        {
            var conv = DnnlConvKernels.For(g, 2, 6, bias: false, blocked);
            var (dx, dw) = (new float[x.Length], new float[weight.Length]);
            conv.BackwardData(gy, weight, dx, accumulate: false);
            conv.BackwardWeights(x, gy, dw, accumulate: false);
            var (dx2, dw2) = (dx.Select(v => v + 1f).ToArray(), dw.Select(v => v - 2f).ToArray());
            conv.BackwardData(gy, weight, dx2, accumulate: true);
            conv.BackwardWeights(x, gy, dw2, accumulate: true);
            AssertRelativelyClose(dx.Select(v => 2 * v + 1f).ToArray(), dx2, $"blocked={blocked} dX");
            AssertRelativelyClose(dw.Select(v => 2 * v - 2f).ToArray(), dw2, $"blocked={blocked} dW");
        }
    }

    // 3×3 stride-1 shapes over 16+ channels: where "auto" lets oneDNN run Winograd (the layers of
    // cnn-small and PreAct-ResNet18 are of this kind). The transform rounds differently from the
    // direct algorithm, so the bound is the same 1e-4 relative as above, not bit equality.
    [SkippableTheory]
    [InlineData(128, 32, 32, 8, 1)]
    [InlineData(64, 32, 64, 16, 2)]
    [InlineData(128, 64, 32, 8, 3)]
    public void WinogradMatchesIm2Col(int n, int c, int o, int size, int seed)
    {
        Skip.IfNot(ConvBackend.DnnlAvailable(out var reason), $"oneDNN is not available: {reason}");
        var rng = new Random(seed);
        var g = new ConvGeometry(c, size, size, 3, 3, 1, 1);
        var (x, weight, b) = (Values(rng, n * g.ImageSize), Values(rng, o * g.ColumnRows), Values(rng, o));
        var gy = Values(rng, n * o * g.ColumnCols);
        var (y, dx, dw) = (new float[gy.Length], new float[x.Length], new float[weight.Length]);
        ConvKernels.Forward(g, n, o, x, weight, b, y);
        ConvKernels.Backward(g, n, o, x, weight, gy, dx, dw);

        using var algorithm = DnnlConvKernels.UseAlgorithm(DnnlConvKernels.AutoAlgorithm);
        var conv = DnnlConvKernels.For(g, n, o, bias: true, blocked: true);
        var backward = DnnlConvKernels.For(g, n, o, bias: false, blocked: true);
        output.WriteLine($"{new ConvShape(n, g, o, true)}: {conv.ForwardImplementation}");
        SkipUnlessWinograd(conv.ForwardImplementation);
        var (wy, wdx, wdw) = (new float[y.Length], new float[dx.Length], new float[dw.Length]);
        conv.Forward(x, weight, b, wy);
        backward.BackwardData(gy, weight, wdx, accumulate: false);
        backward.BackwardWeights(x, gy, wdw, accumulate: false);
        AssertRelativelyClose(y, wy, "y");
        AssertRelativelyClose(dx, wdx, "dX");
        AssertRelativelyClose(dw, wdw, "dW");
    }

    [SkippableFact]
    public void DirectNeverRunsWinogradAndAutoDoesOnATypicalLayer()
    {
        Skip.IfNot(ConvBackend.DnnlAvailable(out var reason), $"oneDNN is not available: {reason}");
        var g = new ConvGeometry(64, 32, 32, 3, 3, 1, 1);
        using (DnnlConvKernels.UseAlgorithm(DnnlConvKernels.DirectAlgorithm))
            Assert.DoesNotContain("wino", DnnlConvKernels.For(g, 128, 64, bias: false, blocked: true).ForwardImplementation);
        using (DnnlConvKernels.UseAlgorithm(DnnlConvKernels.AutoAlgorithm))
            SkipUnlessWinograd(DnnlConvKernels.For(g, 128, 64, bias: false, blocked: true).ForwardImplementation);
    }

    // Whether "auto" runs Winograd is oneDNN's call: it has Winograd kernels only for AVX-512 and
    // weighs them against direct by the CPU's caches, so on some machines a shape stays direct.
    // There is then no Winograd arithmetic to check, and the direct path is covered above.
    private static void SkipUnlessWinograd(string implementation) =>
        Skip.IfNot(implementation.Contains("wino"),
            $"oneDNN runs '{implementation}' for this shape on this CPU under 'auto', not Winograd");

    [Fact]
    public void AlgorithmNamesResolveAndUnknownOnesAreRejected()
    {
        Assert.Equal(DnnlConvKernels.AutoAlgorithm, DnnlConvKernels.SelectAlgorithm(null));
        Assert.Equal(DnnlConvKernels.DirectAlgorithm, DnnlConvKernels.SelectAlgorithm(" Direct "));
        Assert.Contains("'fft'", Assert.Throws<ArgumentException>(() => DnnlConvKernels.SelectAlgorithm("fft")).Message);
        using (DnnlConvKernels.UseAlgorithm("direct"))
            Assert.Equal(DnnlConvKernels.DirectAlgorithm, DnnlConvKernels.Algorithm);
    }

    [Fact]
    public void BackendNamesResolveAndUnknownOnesAreRejected()
    {
        bool available = ConvBackend.DnnlAvailable(out var reason);
        output.WriteLine(reason);
        Assert.Equal(available ? ConvBackend.Auto : ConvBackend.Im2Col, ConvBackend.Select("auto"));
        Assert.Equal(ConvBackend.Im2Col, ConvBackend.Select(" IM2COL "));
        Assert.Contains("'winograd'", Assert.Throws<ArgumentException>(() => ConvBackend.Select("winograd")).Message);
        if (available) Assert.Equal(ConvBackend.Dnnl, ConvBackend.Select("dnnl"));
        else Assert.Contains(reason, Assert.Throws<InvalidOperationException>(() => ConvBackend.Select("dnnl")).Message);
        using (ConvBackend.Use(ConvBackend.Im2Col))
            Assert.Equal(ConvBackend.Im2Col, ConvBackend.Describe());
    }

    [SkippableFact]
    public void AutoSendsOnlySpatialKernelsOverManyChannelsToDnnl()
    {
        Skip.IfNot(ConvBackend.DnnlAvailable(out var reason), $"oneDNN is not available: {reason}");
        var wide3x3 = new ConvGeometry(DnnlConvKernels.MinChannels, 8, 8, 3, 3, 1, 1);
        using (ConvBackend.Use(ConvBackend.Auto))
        {
            Assert.True(ConvBackend.UsesDnnl(wide3x3));
            Assert.False(ConvBackend.UsesDnnl(wide3x3 with { Channels = 3 }));
            Assert.False(ConvBackend.UsesDnnl(wide3x3 with { KernelH = 1, KernelW = 1, Stride = 2, Padding = 0 }));
        }
        using (ConvBackend.Use(ConvBackend.Dnnl))
            Assert.True(ConvBackend.UsesDnnl(wide3x3 with { Channels = 3 }));
        using (ConvBackend.Use(ConvBackend.Im2Col))
            Assert.False(ConvBackend.UsesDnnl(wide3x3));
    }

    [Fact]
    public void RecordShapesSeesEachDistinctConvolutionOnce()
    {
        var x = TestData.Randn(1, 2, 3, 8, 8);
        var w = TestData.Randn(2, 4, 3, 3, 3);
        var shapes = ConvBackend.RecordShapes(() =>
        {
            Op.Conv2d(x, w, null, 1, 1);
            Op.Conv2d(x, w, null, 1, 1);
            Op.Conv2d(x, w, null, 2, 0);
        });
        Assert.Equal(
            [new ConvShape(2, new ConvGeometry(3, 8, 8, 3, 3, 1, 1), 4, false), new ConvShape(2, new ConvGeometry(3, 8, 8, 3, 3, 2, 0), 4, false)],
            shapes);
    }

    // |a − b| ≤ 1e-4·(|expected| + rms(expected)): relative, with a floor for entries near zero.
    internal static void AssertRelativelyClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double rms = Math.Sqrt(expected.Sum(v => (double)v * v) / Math.Max(1, expected.Length));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * (Math.Abs(expected[i]) + rms),
                $"{what}[{i}]: im2col {expected[i]:G7}, dnnl {actual[i]:G7}");
    }

    internal static float[] Values(Random rng, int length)
    {
        var values = new float[length];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
        return values;
    }
}
