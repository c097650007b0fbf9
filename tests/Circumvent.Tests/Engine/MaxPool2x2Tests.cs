using Circumvent.Engine;
using Circumvent.Engine.Kernels;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

/// <summary>The 2×2 stride-2 max-pool fast path against the general kernel: same maxima, same argmax, same gradient.</summary>
public class MaxPool2x2Tests
{
    public static TheoryData<int, int> Planes() => new()
    {
        { 2, 2 }, { 3, 3 }, { 2, 9 }, { 5, 8 }, { 7, 17 }, { 32, 32 }, { 16, 16 }, { 8, 8 }, { 4, 24 }, { 33, 31 }, { 64, 2 },
    };

    [Theory]
    [MemberData(nameof(Planes))]
    public void FastPathMatchesTheGeneralKernel(int h, int w)
    {
        var rng = new Random(h * 100 + w);
        // Few distinct values so that ties are common; a sprinkling of NaN and ±∞.
        var plane = Enumerable.Range(0, h * w).Select(_ => rng.Next(20) switch
        {
            0 => float.NaN,
            1 => float.NegativeInfinity,
            2 => float.PositiveInfinity,
            var v => (v % 5) - 2f,
        }).ToArray();
        var g = new ConvGeometry(1, h, w, 2, 2, 2, 0);
        int outSize = g.OutHeight * g.OutWidth;
        var expected = new float[outSize];
        PoolKernels.MaxForward(g, plane, expected);
        var actual = new float[outSize];
        var argmax = new byte[outSize];
        MaxPool2x2Kernels.Forward(plane, h, w, actual, argmax);
        Assert.Equal(expected, actual);   // Equal treats NaN as equal to NaN

        var gradOut = Enumerable.Range(0, outSize).Select(i => 1f + i).ToArray();
        var expectedGrad = Enumerable.Range(0, h * w).Select(i => 0.5f * i).ToArray();
        var actualGrad = (float[])expectedGrad.Clone();
        PoolKernels.MaxBackward(g, plane, gradOut, expectedGrad);
        MaxPool2x2Kernels.Backward(argmax, gradOut, actualGrad, h, w);
        Assert.Equal(expectedGrad, actualGrad);

        // Assigning into an uninitialised buffer (a fresh gradient) must write every cell.
        var fromZero = new float[h * w];
        PoolKernels.MaxBackward(g, plane, gradOut, fromZero);
        var assigned = Enumerable.Repeat(float.NaN, h * w).ToArray();
        MaxPool2x2Kernels.Backward(argmax, gradOut, assigned, h, w, accumulate: false);
        Assert.Equal(fromZero, assigned);

        // Without argmax storage (inference) the maxima are the same.
        var noIndex = new float[outSize];
        MaxPool2x2Kernels.Forward(plane, h, w, noIndex, default);
        Assert.Equal(expected, noIndex);
    }

    [Theory]
    [InlineData(1, 1, 4, 4)]
    [InlineData(3, 5, 9, 13)]
    [InlineData(2, 1, 32, 32)]
    public void OpOnRandomTensorsMatchesTheGeneralPathValueAndGradient(int n, int c, int h, int w)
    {
        var x = TestData.Randn(n + c + h, n, c, h, w);
        x.RequiresGrad = true;
        var seed = TestData.Randn(3, n, c, h / 2, w / 2);
        var y = Op.MaxPool2d(x, 2, 2);
        y.Backward(seed);

        var g = new ConvGeometry(1, h, w, 2, 2, 2, 0);
        int inSize = h * w, outSize = g.OutHeight * g.OutWidth;
        var expected = new float[n * c * outSize];
        var expectedGrad = new float[x.Length];
        for (int p = 0; p < n * c; p++)
        {
            PoolKernels.MaxForward(g, x.Data.AsSpan(p * inSize, inSize), expected.AsSpan(p * outSize, outSize));
            PoolKernels.MaxBackward(g, x.Data.AsSpan(p * inSize, inSize), seed.Data.AsSpan(p * outSize, outSize), expectedGrad.AsSpan(p * inSize, inSize));
        }
        Assert.Equal(expected, y.ToArray());
        Assert.Equal(expectedGrad, x.Grad!.ToArray());
    }
}

/// <summary>Max pooling splits planes across threads above a size gate; the split must not change a bit.</summary>
[Collection(EngineThreadBudgetCollection.Name)]
public class MaxPoolParallelTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void SerialAndParallelRunsAgree(int kernel)
    {
        var serial = Run(1, kernel);
        var parallel = Run(2, kernel);
        Assert.Equal(serial.Y, parallel.Y);
        Assert.Equal(serial.Dx, parallel.Dx);
    }

    private static (float[] Y, float[] Dx) Run(int threads, int kernel)
    {
        int before = Parallelism.Threads;
        Parallelism.Threads = threads;
        try
        {
            // 8·16·32·32 values: far above the parallel gate.
            var x = TestData.Randn(1, 8, 16, 32, 32);
            x.RequiresGrad = true;
            var y = Op.MaxPool2d(x, kernel, 2);
            y.Backward(TestData.Randn(2, y.Shape));
            return (y.ToArray(), x.Grad!.ToArray());
        }
        finally
        {
            Parallelism.Threads = before;
        }
    }
}
